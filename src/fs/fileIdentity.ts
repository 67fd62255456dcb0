import type { BigIntStats } from 'node:fs';

/**
 * Which file a path leads to. Device and inode tell one file from another (a replaced or recreated file has a
 * new inode); size and modification time also catch a file written in place, and an inode number reused by a
 * new file after the broker's was removed.
 */
export interface FileIdentity {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
}

export function identityOf(s: BigIntStats): FileIdentity {
  return { dev: s.dev, ino: s.ino, size: s.size, mtimeNs: s.mtimeNs };
}

/** The same file, unchanged. */
export function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs;
}

/** The same file, whatever was appended to it (journal segments grow). */
export function sameInode(a: FileIdentity, b: FileIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}
