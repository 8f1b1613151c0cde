/**
 * A one-line progress bar on stderr, shown only when stderr is a terminal and the work has
 * already taken longer than `delayMs` (short runs stay silent; pipes and logs never see it).
 */
const REDRAW_MS = 100;
const BAR_WIDTH = 24;

export class ProgressBar {
  private label = '';
  private done = 0;
  private total = 0;
  private readonly startedAt = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private drawn = false;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    delayMs = 1000,
  ) {
    if (!stream.isTTY) return;
    this.timer = setTimeout(() => {
      this.timer = setInterval(() => this.draw(), REDRAW_MS).unref();
      this.draw();
    }, delayMs).unref();
  }

  update(label: string, done: number, total: number): void {
    this.label = label;
    this.done = done;
    this.total = total;
  }

  /** Removes the bar; call before printing anything else. */
  finish(): void {
    clearTimeout(this.timer); // clears the interval too: in Node both are the same kind of timer
    if (this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }

  private draw(): void {
    const fraction = this.total > 0 ? Math.min(1, this.done / this.total) : 0;
    const filled = Math.round(fraction * BAR_WIDTH);
    const seconds = (Date.now() - this.startedAt) / 1000;
    const rate = seconds > 0 ? this.done / seconds / 1e9 : 0;
    const columns = this.stream.columns ?? 80;
    const text =
      `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ` +
      `${formatBytes(this.done)} / ${formatBytes(this.total)}  ${rate.toFixed(2)} GB/s  ${this.label}`;
    this.stream.write(`\r\x1b[K${text.slice(0, columns - 1)}`);
    this.drawn = true;
  }
}

/** Decimal units, as disks and the Hugging Face Hub count. */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB', 'PB'];
  let value = bytes;
  let unit = -1;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 2 : value < 100 ? 1 : 0)} ${units[unit]}`;
}
