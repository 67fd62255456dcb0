import { chmod, copyFile, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { identityOf, type FileIdentity } from './fileIdentity.js';

let tmpCounter = 0;

/** A temp file beside `path`, unique even for two writes of the same file in the same millisecond. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.${++tmpCounter}.tmp`);
}

/** A written, fsync'd temp file waiting to replace its target. */
export interface TempFile {
  tmp: string;
  /** The file it is (rename keeps it): what the target is after `commitTemp`. */
  identity: FileIdentity;
}

/** Writes a temp file beside `path` through `fill`, fsyncs and closes it; removed again on failure. */
export async function writeTemp(path: string, fill: (fh: FileHandle) => Promise<void>, mode = 0o600): Promise<TempFile> {
  const tmp = tempPathFor(path);
  const fh = await open(tmp, 'w', mode);
  try {
    await fill(fh);
    await fh.sync();
    const identity = identityOf(await fh.stat({ bigint: true }));
    await fh.close();
    return { tmp, identity };
  } catch (err) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw err;
  }
}

/** Renames the temp file over its target and makes the rename durable; the temp file is removed on failure. */
export async function commitTemp(temp: TempFile, path: string): Promise<void> {
  try {
    await rename(temp.tmp, path);
  } catch (err) {
    await unlink(temp.tmp).catch(() => {});
    throw err;
  }
  await fsyncDir(dirname(path));
}

/** Writes buffers in order, several per system call. */
export async function writeParts(fh: FileHandle, parts: Iterable<Buffer>): Promise<void> {
  let batch: Buffer[] = [];
  let bytes = 0;
  const drain = async (): Promise<void> => {
    let todo = batch;
    let left = bytes;
    batch = [];
    bytes = 0;
    while (left > 0) {
      const { bytesWritten } = await fh.writev(todo);
      left -= bytesWritten;
      if (left === 0) break;
      // A short write: continue after what was written.
      let skip = bytesWritten;
      while (skip >= todo[0]!.length) skip -= todo.shift()!.length;
      todo = [todo[0]!.subarray(skip), ...todo.slice(1)];
    }
  };
  for (const part of parts) {
    if (part.length === 0) continue;
    batch.push(part);
    bytes += part.length;
    if (batch.length >= 64 || bytes >= 8 << 20) await drain();
  }
  await drain();
}

/**
 * Replaces `path` with `text` so that a reader (or a crash) sees either the old file or the new one, never a mix:
 * write a temp file beside it, fsync it, rename it over the target, fsync the folder.
 * `beforeRename` may veto the replacement by throwing (the temp file is removed).
 */
export async function atomicWriteFile(
  path: string,
  text: string | Buffer,
  opts: { mode?: number; beforeRename?: () => Promise<void> } = {},
): Promise<void> {
  const temp = await writeTemp(path, (fh) => fh.writeFile(text), opts.mode ?? 0o600);
  try {
    await opts.beforeRename?.();
  } catch (err) {
    await unlink(temp.tmp).catch(() => {});
    throw err;
  }
  await commitTemp(temp, path);
}

/** Atomically replaces `dest` with a copy of `src`, streaming (the kernel copies; no file-sized buffer). */
export async function atomicCopyFile(src: string, dest: string, mode = 0o600): Promise<void> {
  const tmp = tempPathFor(dest);
  let identity: FileIdentity;
  try {
    await copyFile(src, tmp);
    await chmod(tmp, mode);
    const fh = await open(tmp, 'r+');
    try {
      await fh.sync();
      identity = identityOf(await fh.stat({ bigint: true }));
    } finally {
      await fh.close();
    }
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await commitTemp({ tmp, identity }, dest);
}

export async function fsyncDir(dir: string): Promise<void> {
  // Makes a rename or unlink in `dir` durable. Not possible on Windows, where rename is already durable enough.
  if (process.platform === 'win32') return;
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
