import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { crc32 } from 'node:zlib';

/**
 * The journal's files: segments `0000000001.journal`, ... of records framed as [u32 length][u32 crc32][payload],
 * little-endian, and how they are read back.
 */

/** Replay reads segments this much at a time. */
const READ_CHUNK = 1 << 20;

/** A damaged record before the end of the journal: not a torn tail, so the broker refuses to guess. */
export class JournalCorruptError extends Error {
  constructor(readonly file: string, readonly offset: number) {
    super(
      `Journal ${file} is corrupt at byte ${offset}; the writes recorded from there on cannot be read. ` +
        'To recover, either restore a backup (`bpbroker backup list`, then `bpbroker backup restore --from NAME`), ' +
        'or move that file out of its folder to start from bpbroker.json and the rest of the journal (the writes only in that file are lost).',
    );
  }
}

export function segmentName(seg: number, ext = 'journal'): string {
  return `${String(seg).padStart(10, '0')}.${ext}`;
}

export function listSegments(names: string[], ext = 'journal'): number[] {
  const pattern = new RegExp(`^(\\d{10})\\.${ext}$`);
  return names
    .map((f) => pattern.exec(f)?.[1])
    .filter((s): s is string => s !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

/**
 * Reads a segment's records a chunk at a time (a segment may be larger than a Buffer can be); returns the
 * length of the intact prefix. A bad record is a torn tail only if it is the last thing in the last segment.
 */
export function readSegment(file: string, isLast: boolean, onRecord: (payload: Buffer) => void): { good: number; size: number } {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    let buf = Buffer.alloc(0);
    let bufAt = 0;
    /** Bytes [pos, pos + n) of the file, or undefined past its end. */
    const bytes = (pos: number, n: number): Buffer | undefined => {
      if (pos + n > size) return undefined;
      if (pos < bufAt || pos + n > bufAt + buf.length) {
        buf = Buffer.allocUnsafe(Math.min(Math.max(n, READ_CHUNK), size - pos));
        bufAt = pos;
        for (let got = 0; got < buf.length; ) {
          const r = readSync(fd, buf, got, buf.length - got, pos + got);
          if (r === 0) return undefined;
          got += r;
        }
      }
      return buf.subarray(pos - bufAt, pos - bufAt + n);
    };
    let pos = 0;
    while (pos < size) {
      const head = bytes(pos, 8);
      if (!head) break;
      const len = head.readUInt32LE(0);
      const sum = head.readUInt32LE(4);
      const end = pos + 8 + len;
      const payload = bytes(pos + 8, len);
      if (!payload) break;
      if (crc32(payload) !== sum) {
        if (end === size) break;
        throw new JournalCorruptError(file, pos);
      }
      try {
        onRecord(payload);
      } catch {
        // Intact framing around a payload that does not decode: not a torn write, so not dropped silently.
        throw new JournalCorruptError(file, pos);
      }
      pos = end;
    }
    if (pos < size && !isLast) throw new JournalCorruptError(file, pos);
    return { good: pos, size };
  } finally {
    closeSync(fd);
  }
}
