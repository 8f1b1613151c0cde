/**
 * One version of one file, as far as the kernel tells it apart without reading it: which inode
 * (device and inode number) and what every change to it moves. A write moves mtime and ctime;
 * resetting mtime afterwards (utimes, `touch -d`) moves ctime again, and no unprivileged call
 * sets ctime back. Replacing the file by rename gives another inode. So a measurement compares
 * all five when the file is listed, opened and read to the end; docs/measure.md states what this
 * does and does not detect.
 */
export interface FileVersion {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  dev: number;
}

/** The five fields alone, from fs.Stats or anything that carries them (a listed FileRecord). */
export function fileVersionOf(stats: FileVersion): FileVersion {
  return { size: stats.size, mtimeMs: stats.mtimeMs, ctimeMs: stats.ctimeMs, ino: stats.ino, dev: stats.dev };
}

export function sameFileVersion(a: FileVersion, b: FileVersion): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.ino === b.ino && a.dev === b.dev;
}
