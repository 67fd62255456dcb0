import { fstatSync, readSync } from 'node:fs';

/** A file (or a text) a piece at a time: readers of bpbroker.json never hold it whole. */
export interface ChunkSource {
  /** The next piece, a fresh buffer each time (callers may keep slices of it); undefined at the end. */
  next(): Buffer | undefined;
  /** Reads the next bytes into `target` from `offset` on (for readers that reuse one buffer); 0 at the end. */
  readInto(target: Buffer, offset: number): number;
}

export const CHUNK = 4 << 20;

/** Reads an open file from its start, `size` bytes at a time; `onRead` hears of the bytes read so far and the file's size. */
export function fileChunks(fd: number, size = CHUNK, onRead?: (bytesRead: number, fileBytes: number) => void): ChunkSource {
  const fileBytes = fstatSync(fd).size;
  const length = Math.max(1, Math.min(size, fileBytes || 1));
  let pos = 0;
  return {
    next() {
      const buf = Buffer.allocUnsafe(length);
      const n = readSync(fd, buf, 0, length, pos);
      if (n === 0) return undefined;
      pos += n;
      onRead?.(pos, fileBytes);
      return n < length ? buf.subarray(0, n) : buf;
    },
    readInto(target, offset) {
      const n = readSync(fd, target, offset, target.length - offset, pos);
      pos += n;
      if (n > 0) onRead?.(pos, fileBytes);
      return n;
    },
  };
}

/** A buffer in pieces of `size` bytes (tests use small pieces to cut values and lines anywhere). */
export function bufferChunks(buf: Buffer, size = CHUNK): ChunkSource {
  let pos = 0;
  return {
    next() {
      if (pos >= buf.length) return undefined;
      const piece = Buffer.from(buf.subarray(pos, pos + size));
      pos += size;
      return piece;
    },
    readInto(target, offset) {
      const n = buf.copy(target, offset, pos, Math.min(buf.length, pos + size, pos + target.length - offset));
      pos += n;
      return n;
    },
  };
}
