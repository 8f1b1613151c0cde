/** Numbers as the report shows them. Pure functions, no Node APIs (the renderer runs in browsers too). */

/** 1234567 → "1,234,567". */
export function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** Bytes with a binary unit, and the exact count when rounded: "1.2 MiB (1,234,567 bytes)". */
export function byteSize(n: number): string {
  if (n < 1024) return `${count(n)} bytes`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]} (${count(n)} bytes)`;
}

/** Scientific for small and large values: 0.000123 → "1.23e-4". */
export function sci(x: number): string {
  if (x === 0) return '0';
  const a = Math.abs(x);
  return a >= 0.01 && a < 1e4 ? String(Number(x.toPrecision(3))) : x.toExponential(2);
}

export function percent(x: number): string {
  return `${(100 * x).toFixed(x >= 0.99 && x < 1 ? 2 : 1)} %`;
}

/** Milliseconds as "1 h 2 min 3.4 s". */
export function duration(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = `${m} min ${(s % 60).toFixed(0)} s`;
  return h > 0 ? `${h} h ${rest}` : rest;
}
