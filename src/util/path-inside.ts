import { sep } from 'node:path';

/**
 * Whether `path` is `root` or lies below it. Both must be absolute and resolved (no `..`, links
 * already followed where that matters): this compares names, it does not touch the file system.
 */
export function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}
