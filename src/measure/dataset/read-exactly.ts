import type { FileHandle } from 'node:fs/promises';

/**
 * Fills `into` from the file open as `handle`, from byte `position` on (one read may return fewer
 * bytes than asked) and returns it. When the file ends first, throws what `ended` makes: each
 * caller says what an early end means for its file.
 */
export async function readExactly(
  handle: FileHandle,
  into: Buffer,
  position: number,
  ended: () => Error,
): Promise<Buffer> {
  for (let done = 0; done < into.length; ) {
    const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) throw ended();
    done += bytesRead;
  }
  return into;
}
