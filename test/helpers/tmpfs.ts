import { execFileSync } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, tempDir } from './broker.js';

/** Mounts a tmpfs of `size` on a new folder; CI runs as root, so a failure here fails the test, saying why. */
export function mountTmpfs(size: string, purpose: string): string {
  const mnt = tempDir('bpbroker-tmpfs-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mnt], { stdio: 'pipe' });
  } catch (err) {
    removeDir(mnt);
    const why = (err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message;
    throw new Error(`${purpose} needs to mount a tmpfs (size=${size}) and cannot (run the tests as root, as CI does): ${why}`);
  }
  return mnt;
}

export function unmountTmpfs(mnt: string): void {
  execFileSync('umount', ['-l', mnt], { stdio: 'pipe' });
  removeDir(mnt);
}

/** Fills the file system holding `dir` to the last byte; returns the filler's path (remove it to free the space). */
export function fillDisk(dir: string): string {
  const filler = join(dir, 'filler');
  const fd = openSync(filler, 'w');
  try {
    for (let chunk = 1 << 16; chunk >= 1; chunk >>= 1) {
      const buf = Buffer.alloc(chunk, 0x61);
      for (;;) {
        try {
          writeSync(fd, buf);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return filler;
}
