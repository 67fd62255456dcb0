import { mkdirSync, readdirSync, truncateSync } from 'node:fs';
import { mkdir, open, readdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { BrokerError } from '../../core/BrokerError.js';
import { fsyncDir } from '../../fs/atomicWrite.js';
import { identityOf, sameInode, type FileIdentity } from '../../fs/fileIdentity.js';
import { listSegments, readSegment, segmentName } from './journalSegments.js';
import type { StorageGuard } from './StorageGuard.js';

export { JournalCorruptError } from './journalSegments.js';

/** How often an idle journal checks that its files are still where a restart reads them. */
const CHECK_MS = 1000;
/** Retries of a lost storage: first after a second, then less often, up to this. */
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 16_000;

/**
 * Append-only write-ahead journal with group commit.
 *
 * A record is framed as [u32 length][u32 crc32][payload], little-endian. Appends made while an fsync is in
 * flight wait for the next one, so N concurrent writers share one fsync. The journal is split in segments:
 * `rotate()` starts a new one, and segments wholly covered by a snapshot are removed with `dropBefore()`.
 *
 * A write is acknowledged only once it is in a file a restart reads: after each fsync the segment must still be
 * the file at its path, and the guard's bpbroker.json the one the broker wrote. When either is lost (a removed
 * folder, a replaced file), the whole in-memory state is written to bpbroker.json and a fresh segment started
 * before anything is acknowledged; when that cannot be done, writes are refused with UNAVAILABLE and retried.
 */
export class Journal {
  private fh: FileHandle | undefined;
  /** The open segment's file, to tell it from whatever is at its path later. */
  private identity: FileIdentity | undefined;
  private segment: number;
  private offset: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private waiters: Waiter[] = [];
  private flushing = false;
  private scheduled = false;
  private closed = false;
  private rotations: Array<{ resolve: (seg: number) => void; reject: (err: Error) => void }> = [];
  /** Why writes are refused, until the storage is recovered. */
  private unavailable: string | undefined;
  /** The acknowledged state may be in no file a restart reads (its segment was lost) until a snapshot lands. */
  private unsaved = false;
  /** An attempt to recover is running: writes wait for it instead of being refused. */
  private healing = false;
  private reported = false;
  private nextAttempt = 0;
  private retryMs = RETRY_MIN_MS;
  private checkDue = false;
  private readonly watchdog: NodeJS.Timeout;
  /** How long each batch took to write and fsync (for the metrics). */
  private onBatchWritten: (seconds: number) => void = () => {};
  /** Saves the whole state when the journal's files are lost (the snapshotter); without one, writes are refused. */
  guard: StorageGuard | undefined;

  private constructor(
    readonly dir: string,
    segment: number,
    offset: number,
    private readonly onFailure: (err: Error) => void,
  ) {
    this.segment = segment;
    this.offset = offset;
    // An idle broker notices a removed folder or file too, and saves its state again within a second.
    this.watchdog = setInterval(() => {
      this.checkDue = true;
      this.kick();
    }, CHECK_MS);
    this.watchdog.unref();
  }

  /**
   * Reads every record of every segment in order, drops a torn tail of the last segment, and opens the journal
   * for appending. Throws JournalCorruptError when a record other than the last is damaged.
   */
  static async open(
    dir: string,
    onRecord: (payload: Buffer) => void,
    opts: { onFailure?: (err: Error) => void; onTornTail?: (file: string, bytes: number) => void; onBatchWritten?: (seconds: number) => void } = {},
  ): Promise<Journal> {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new BrokerError('UNAVAILABLE', `Cannot create the journal folder ${dir}: ${(err as Error).message}`);
    }
    const segments = listSegments(readdirSync(dir));
    let last = segments.at(-1) ?? 1;
    let offset = 0;
    for (const seg of segments) {
      const file = join(dir, segmentName(seg));
      const { good, size } = readSegment(file, seg === last, onRecord);
      if (good < size) {
        opts.onTornTail?.(file, size - good);
        truncateSync(file, good);
      }
      if (seg === last) offset = good;
    }
    if (segments.length === 0) last = 1;
    const journal = new Journal(dir, last, offset, opts.onFailure ?? (() => {}));
    if (opts.onBatchWritten) journal.onBatchWritten = opts.onBatchWritten;
    try {
      journal.fh = await open(join(dir, segmentName(last)), 'a', 0o600);
      journal.identity = identityOf(await journal.fh.stat({ bigint: true }));
      await fsyncDir(dir);
    } catch (err) {
      await journal.close();
      throw err;
    }
    return journal;
  }

  /** Queues a record; resolves once it is on disk. `undo` runs if the write fails, newest first. */
  append(payload: Buffer, undo: () => void): Promise<void> {
    if (this.closed || (this.unavailable && !this.healing && Date.now() < this.nextAttempt)) {
      undo();
      this.guard?.undone();
      return Promise.reject(this.closed ? new BrokerError('UNAVAILABLE', 'Storage unavailable: the broker is stopping') : this.unavailableError());
    }
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
      this.kick();
    });
  }

  /** Starts a new segment for later appends and returns its number; earlier segments may then be dropped. */
  rotate(): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.rotations.push({ resolve, reject });
      this.kick();
    });
  }

  /** Removes segments numbered below `segment` (their records are in a durable snapshot). */
  async dropBefore(segment: number): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // nothing left to drop
      throw err;
    }
    for (const seg of listSegments(names)) {
      if (seg < segment) await unlink(join(this.dir, segmentName(seg))).catch(() => {});
    }
    await fsyncDir(this.dir);
  }

  get size(): number {
    return this.offset;
  }

  /** Why writes are refused now, or undefined (a first recovery attempt, which writes wait for, counts as not yet). */
  get unavailableReason(): string | undefined {
    return this.unavailable !== undefined && (this.reported || !this.healing) ? this.unavailable : undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.watchdog);
    await this.sync().catch(() => {});
    await this.fh?.close().catch(() => {});
    this.fh = undefined;
  }

  private kick(): void {
    if (!this.flushing && !this.scheduled) void this.flush();
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      for (;;) {
        const work = this.pending.length > 0 || this.rotations.length > 0;
        if (this.unavailable && !this.closed && (work || this.checkDue)) {
          this.checkDue = false;
          if (Date.now() >= this.nextAttempt) await this.heal([]);
          if (this.unavailable) {
            this.refuse([]);
            for (const r of this.rotations.splice(0)) r.reject(this.unavailableError());
            break;
          }
        } else if (this.rotations.length > 0) {
          // Rotation happens between batches, so no write is ever in flight on the handle being closed.
          await this.switchSegment();
        } else if (this.pending.length > 0) {
          await this.writeBatch();
        } else if (this.checkDue && !this.closed && !this.unavailable) {
          this.checkDue = false;
          const reason = await this.lossReason();
          if (reason) await this.lost(reason, []);
        } else {
          break;
        }
      }
      // sync() waiters with nothing left to write
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w.resolve();
    } finally {
      this.flushing = false;
    }
    if (this.pending.length > 0 || this.rotations.length > 0) this.kick();
  }

  private async writeBatch(): Promise<void> {
    const batch = Buffer.concat(this.pending, this.pendingBytes);
    const waiters = this.waiters;
    this.pending = [];
    this.pendingBytes = 0;
    this.waiters = [];
    let checked: Promise<string | undefined> | undefined;
    const started = performance.now();
    try {
      if (!this.fh) throw new Error('journal is closed');
      await this.fh.write(batch, 0, batch.length, null);
      // Durable, and in a file a restart reads? The check runs beside the fsync, which hides its two stats:
      // a file removed before the write is seen either way, one removed later by the next check.
      checked = this.lossReason();
      await this.fh.datasync();
    } catch (err) {
      await checked;
      await this.fail(err as Error, waiters);
      return;
    }
    this.offset += batch.length;
    this.onBatchWritten((performance.now() - started) / 1000);
    const reason = await checked;
    if (reason) {
      await this.lost(reason, waiters);
      return;
    }
    for (const w of waiters) w.resolve();
  }

  private async switchSegment(): Promise<void> {
    const rotations = this.rotations;
    this.rotations = [];
    let fh: FileHandle | undefined;
    try {
      const next = this.segment + 1;
      fh = await open(join(this.dir, segmentName(next)), 'a', 0o600);
      const identity = identityOf(await fh.stat({ bigint: true }));
      await fsyncDir(this.dir);
      const old = this.fh;
      this.fh = fh;
      this.identity = identity;
      this.segment = next;
      this.offset = 0;
      await old?.close();
      for (const r of rotations) r.resolve(next);
    } catch (err) {
      await fh?.close().catch(() => {});
      // A rotation fails when the folder is gone: recover, and the fresh segment is the rotation asked for.
      const reason = await this.lossReason();
      if (reason) await this.lost(reason, []);
      for (const r of rotations) {
        if (reason && !this.unavailable) r.resolve(this.segment);
        else r.reject(this.unavailable ? this.unavailableError() : (err as Error));
      }
    }
  }

  /** Why the records written so far are not in files a restart reads, or undefined. */
  private async lossReason(): Promise<string | undefined> {
    if (!this.fh || !this.identity) return undefined;
    const name = segmentName(this.segment);
    const mine = this.identity;
    const [segment, file] = await Promise.all([
      stat(join(this.dir, name), { bigint: true }).then(
        (s) => (sameInode(identityOf(s), mine) ? undefined : `journal file ${name} was replaced`),
        (err: NodeJS.ErrnoException) => `journal file ${name} is gone (${err.code ?? err.message})`,
      ),
      this.guard?.check().catch(() => undefined),
    ]);
    return segment ?? file;
  }

  /** The segment or bpbroker.json was lost: save everything again before acknowledging `inFlight`. */
  private async lost(reason: string, inFlight: Waiter[]): Promise<void> {
    this.unavailable = reason;
    this.unsaved = true;
    this.nextAttempt = 0;
    await this.heal(inFlight);
  }

  /**
   * Recovery: a fresh segment (the folder recreated if needed), then the whole state in memory into
   * bpbroker.json, which makes every change so far durable, acknowledged or not: then they are acknowledged.
   * If either step fails, every unacknowledged change is undone and refused, and a later attempt retries.
   */
  private async heal(inFlight: Waiter[]): Promise<void> {
    const reason = this.unavailable!;
    this.nextAttempt = Date.now() + this.retryMs;
    this.healing = true;
    const next = this.segment + 1;
    const path = join(this.dir, segmentName(next));
    let fh: FileHandle | undefined;
    let identity: FileIdentity;
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      fh = await open(path, 'w', 0o600);
      identity = identityOf(await fh.stat({ bigint: true }));
      await fsyncDir(this.dir);
    } catch (err) {
      await fh?.close().catch(() => {});
      this.healing = false;
      this.refuse(inFlight, `${reason}; cannot create the journal folder or file (${errCode(err)})`);
      // Whatever was acknowledged may be only in memory now: put it in bpbroker.json if that still works.
      if (this.unsaved) await this.saveAcknowledged();
      this.failedAttempt();
      return;
    }
    let captured: Waiter[] = [];
    try {
      if (!this.guard) throw new Error('no snapshot file');
      await this.guard.persist(reason, () => {
        captured = this.takeQueued();
      });
    } catch (err) {
      this.healing = false;
      await fh.close().catch(() => {});
      await unlink(path).catch(() => {});
      this.refuse([...inFlight, ...captured], `${reason}; cannot write the registry file (${errCode(err)})`);
      this.failedAttempt();
      return;
    }
    const old = this.fh;
    this.fh = fh;
    this.identity = identity;
    this.segment = next;
    this.offset = 0;
    this.healing = false;
    this.unavailable = undefined;
    this.unsaved = false;
    this.retryMs = RETRY_MIN_MS;
    this.nextAttempt = 0;
    await old?.close().catch(() => {});
    for (const w of [...inFlight, ...captured]) w.resolve();
    if (this.reported) this.guard.availability(undefined);
    this.reported = false;
    // Older segments are in the snapshot now; one left torn by a failed write must not block the next start.
    await this.dropBefore(next).catch(() => {});
  }

  /** Writes the acknowledged state (nothing unacknowledged is left in memory now) to bpbroker.json. */
  private async saveAcknowledged(): Promise<void> {
    if (!this.guard) return;
    try {
      await this.guard.persist(this.unavailable!, () => {});
      this.unsaved = false;
    } catch {
      // Still only in memory: the next attempt saves it with everything else.
    }
  }

  private failedAttempt(): void {
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
    if (!this.reported) {
      this.reported = true;
      this.guard?.availability(this.unavailable);
      this.onFailure(this.unavailableError());
    }
  }

  private unavailableError(): BrokerError {
    return new BrokerError('UNAVAILABLE', `Storage unavailable: ${this.unavailable ?? 'unknown'}`);
  }

  private takeQueued(): Waiter[] {
    const queued = this.waiters;
    this.waiters = [];
    this.pending = [];
    this.pendingBytes = 0;
    return queued;
  }

  /** Undoes every unacknowledged change, newest first, and refuses its write. */
  private refuse(inFlight: Waiter[], reason?: string): void {
    if (reason) this.unavailable = reason;
    const all = [...inFlight, ...this.takeQueued()];
    if (all.length === 0) return;
    for (let i = all.length - 1; i >= 0; i--) all[i]!.undo();
    this.guard?.undone();
    const err = this.unavailableError();
    for (const w of all) w.reject(err);
  }

  /**
   * A failed write (disk full, I/O error) must leave no trace: cut the segment back to the last good record,
   * undo every unacknowledged change in memory, newest first, and reject its writer.
   */
  private async fail(err: Error, inFlight: Waiter[]): Promise<void> {
    const all = [...inFlight, ...this.takeQueued()];
    for (let i = all.length - 1; i >= 0; i--) all[i]!.undo();
    this.guard?.undone();
    try {
      if (!this.fh) throw err;
      await this.fh.truncate(this.offset);
      await this.fh.datasync();
    } catch {
      // Cannot restore a clean tail: refuse writes until a fresh segment and a snapshot replace this one.
      this.unavailable = `journal file cannot be written (${errCode(err)})`;
      this.nextAttempt = Date.now() + this.retryMs;
      this.failedAttempt();
    }
    for (const w of all) w.reject(err);
  }
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
  undo: () => void;
}

function errCode(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e?.code ?? e?.message ?? String(err);
}
