import { mkdirSync, readdirSync, readFileSync, truncateSync, unlinkSync } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { fsyncDir } from './atomicWrite.js';

/**
 * Append-only write-ahead journal with group commit.
 *
 * A record is framed as [u32 length][u32 crc32][payload], little-endian. Appends made while an fsync is in
 * flight wait for the next one, so N concurrent writers share one fsync. The journal is split in segments:
 * `rotate()` starts a new one, and segments wholly covered by a snapshot are removed with `dropBefore()`.
 */
export class Journal {
  private fh: FileHandle | undefined;
  private segment: number;
  private offset: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private waiters: Waiter[] = [];
  private flushing = false;
  private scheduled = false;
  private failure: Error | undefined;
  private rotations: Array<{ resolve: (seg: number) => void; reject: (err: Error) => void }> = [];

  private constructor(
    readonly dir: string,
    segment: number,
    offset: number,
    private readonly onFailure: (err: Error) => void,
  ) {
    this.segment = segment;
    this.offset = offset;
  }

  /**
   * Reads every record of every segment in order, drops a torn tail of the last segment, and opens the journal
   * for appending. Throws JournalCorruptError when a record other than the last is damaged.
   */
  static async open(
    dir: string,
    onRecord: (payload: Buffer) => void,
    opts: { onFailure?: (err: Error) => void; onTornTail?: (file: string, bytes: number) => void } = {},
  ): Promise<Journal> {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const segments = listSegments(dir);
    let last = segments.at(-1) ?? 1;
    let offset = 0;
    for (const seg of segments) {
      const file = join(dir, segmentName(seg));
      const buf = readFileSync(file);
      const good = readRecords(buf, file, seg === last, onRecord);
      if (good < buf.length) {
        opts.onTornTail?.(file, buf.length - good);
        truncateSync(file, good);
      }
      if (seg === last) offset = good;
    }
    if (segments.length === 0) last = 1;
    const journal = new Journal(dir, last, offset, opts.onFailure ?? (() => {}));
    journal.fh = await open(join(dir, segmentName(last)), 'a', 0o600);
    await fsyncDir(dir);
    return journal;
  }

  /** Queues a record; resolves once it is on disk. `undo` runs if the write fails, newest first. */
  append(payload: Buffer, undo: () => void): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const head = Buffer.allocUnsafe(8);
    head.writeUInt32LE(payload.length, 0);
    head.writeUInt32LE(crc32(payload), 4);
    this.pending.push(head, payload);
    this.pendingBytes += 8 + payload.length;
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ resolve, reject, undo });
      if (!this.flushing && !this.scheduled) {
        // Let every request that arrived in this turn of the event loop join the same fsync.
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          void this.flush();
        });
      }
    });
  }

  /** Resolves when everything appended so far is durable (or rejects if it failed). */
  async sync(): Promise<void> {
    if (this.pending.length === 0 && !this.flushing) return;
    await new Promise<void>((resolve, reject) => {
      this.waiters.push({ resolve, reject, undo: () => {} });
      if (!this.flushing && !this.scheduled) void this.flush();
    });
  }

  /** Starts a new segment for later appends and returns its number; earlier segments may then be dropped. */
  rotate(): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.rotations.push({ resolve, reject });
      if (!this.flushing && !this.scheduled) void this.flush();
    });
  }

  /** Removes segments numbered below `segment` (their records are in a durable snapshot). */
  async dropBefore(segment: number): Promise<void> {
    for (const seg of listSegments(this.dir)) {
      if (seg < segment) await unlink(join(this.dir, segmentName(seg))).catch(() => {});
    }
    await fsyncDir(this.dir);
  }

  get size(): number {
    return this.offset;
  }

  async close(): Promise<void> {
    await this.sync().catch(() => {});
    await this.fh?.close();
    this.fh = undefined;
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while ((this.pending.length > 0 || this.rotations.length > 0) && !this.failure) {
        // Rotation happens between batches, so no write is ever in flight on the handle being closed.
        if (this.rotations.length > 0) await this.switchSegment();
        if (this.pending.length > 0) await this.writeBatch();
      }
      // sync() waiters with nothing left to write
      if (this.pending.length === 0 && this.waiters.length > 0 && !this.failure) {
        const waiters = this.waiters;
        this.waiters = [];
        for (const w of waiters) w.resolve();
      }
    } finally {
      this.flushing = false;
    }
  }

  private async writeBatch(): Promise<void> {
    const batch = Buffer.concat(this.pending, this.pendingBytes);
    const waiters = this.waiters;
    this.pending = [];
    this.pendingBytes = 0;
    this.waiters = [];
    try {
      if (!this.fh) throw new Error('journal is closed');
      await this.fh.write(batch, 0, batch.length, null);
      await this.fh.datasync();
      this.offset += batch.length;
      for (const w of waiters) w.resolve();
    } catch (err) {
      await this.fail(err as Error, waiters);
    }
  }

  private async switchSegment(): Promise<void> {
    const rotations = this.rotations;
    this.rotations = [];
    try {
      const next = this.segment + 1;
      const fh = await open(join(this.dir, segmentName(next)), 'a', 0o600);
      await fsyncDir(this.dir);
      const old = this.fh;
      this.fh = fh;
      this.segment = next;
      this.offset = 0;
      await old?.close();
      for (const r of rotations) r.resolve(next);
    } catch (err) {
      for (const r of rotations) r.reject(err as Error);
    }
  }

  /**
   * A failed write (disk full, I/O error) must leave no trace: cut the segment back to the last good record,
   * undo every unacknowledged change in memory, newest first, and reject its writer.
   */
  private async fail(err: Error, inFlight: Waiter[]): Promise<void> {
    const queued = this.waiters;
    this.waiters = [];
    this.pending = [];
    this.pendingBytes = 0;
    const all = [...inFlight, ...queued];
    for (let i = all.length - 1; i >= 0; i--) all[i]!.undo();
    try {
      await this.fh?.truncate(this.offset);
      await this.fh?.datasync();
    } catch {
      // Cannot restore a clean tail: refuse further writes until restart (recovery drops a torn tail).
      this.failure = err;
      this.onFailure(err);
    }
    for (const w of all) w.reject(err);
  }
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
  undo: () => void;
}

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

function segmentName(seg: number): string {
  return `${String(seg).padStart(10, '0')}.journal`;
}

function listSegments(dir: string): number[] {
  return readdirSync(dir)
    .map((f) => /^(\d{10})\.journal$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

/** Returns the length of the intact prefix. A bad record is a torn tail only if it is the last thing in the file. */
function readRecords(buf: Buffer, file: string, isLast: boolean, onRecord: (payload: Buffer) => void): number {
  let pos = 0;
  while (pos < buf.length) {
    if (pos + 8 > buf.length) break;
    const len = buf.readUInt32LE(pos);
    const end = pos + 8 + len;
    if (end > buf.length) break;
    const payload = buf.subarray(pos + 8, end);
    if (crc32(payload) !== buf.readUInt32LE(pos + 4)) {
      if (end === buf.length) break;
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
  if (pos < buf.length && !isLast) throw new JournalCorruptError(file, pos);
  return pos;
}
