import { mkdirSync, readdirSync } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { BrokerError } from '../../core/BrokerError.js';
import type { Logger } from '../../log/Logger.js';
import { matches, type Entry, type RegistryEvent, type WatchFilter } from '../../core/Entry.js';
import { listSegments, readSegment, segmentName } from './journalSegments.js';

const EXT = 'history';
/** A history segment is closed and a new one started past this size. */
const SEGMENT_BYTES = 16 << 20;

export interface HistoryOptions {
  /** Folder of history segments; none: the history lives in memory only (tools, tests). */
  dir?: string | undefined;
  /** Events of at most this many revisions are kept (`registry.history_revisions`). */
  maxRevisions: number;
  /** ...and of at most this many bytes of entry text (`registry.history_bytes`). */
  maxBytes: number;
  log?: Logger | undefined;
}

/** One event on disk: `p` is the revision of the event before it, which proves the history has no hole. */
interface HistoryRecord {
  r: number;
  p: number;
  t: 'p' | 'd' | 'x';
  k: string;
  v?: string;
  c?: number;
  ip?: string;
  ts?: number;
  l?: number;
}

const TYPES = { put: 'p', delete: 'd', expire: 'x' } as const;
const FROM_TYPE = { p: 'put', d: 'delete', x: 'expire' } as const;

/**
 * The events of the last revisions, in revision order, for watchers that start in the past or resume after a
 * reconnect or a restart. It holds every event after `completeSince` and nothing older; a watch from before
 * that is refused as compacted (410 / OUT_OF_RANGE), never served with a hole.
 *
 * The events are also appended to segments on disk (written soon after each change, fsync'd before the
 * journal segments that hold the same changes are dropped), so the history survives a restart. Each record
 * names the event before it: a history that does not join the registry's own revisions on start (a crash
 * between a write and its flush, a folder removed, `configure` run meanwhile) starts again, complete since then.
 */
export class History {
  private events: RegistryEvent[] = [];
  /** Index of the oldest event kept in `events` (evicted ones are cut off in batches). */
  private head = 0;
  private bytes = 0;
  /** Events have been evicted to stay within the limits: the oldest ones go with every new one. */
  private evicting = false;
  /** Every event after this revision is held. */
  private since: number;
  private last: number;
  private readonly disk: HistoryDisk | undefined;

  private constructor(
    private readonly opts: HistoryOptions,
    since: number,
    disk: HistoryDisk | undefined,
  ) {
    this.since = since;
    this.last = since;
    this.disk = disk;
  }

  /** Loads the history on disk; `revision` is the registry's revision before its journal is replayed. */
  static open(opts: HistoryOptions, revision: number): History {
    if (!opts.dir) return new History(opts, revision, undefined);
    const loaded = HistoryDisk.load(opts.dir, opts.log);
    const history = new History(opts, loaded.events[0] ? loaded.since : revision, loaded.disk);
    for (const e of loaded.events) history.keep(e);
    // Events stop short of the registry's state (their flush was lost): start again, complete from there.
    if (history.last < revision) history.restart(revision);
    return history;
  }

  /** Every event after this revision is held: a watch may start from it or later. */
  get completeSince(): number {
    return this.since;
  }

  get lastRevision(): number {
    return this.last;
  }

  /** The history is at its limits: each new event pushes the oldest out. */
  get full(): boolean {
    return this.evicting;
  }

  /**
   * After the journal's replay: a history that runs past the registry's revision is from another timeline
   * (a backup restored since): it starts again.
   */
  reconcile(revision: number): void {
    if (this.last > revision) this.restart(revision);
  }

  /** Appends an event; `prev` is the revision of the registry's change before it. */
  append(event: RegistryEvent, prev: number): void {
    if (event.revision <= this.last) return; // replayed from a journal the history already holds
    if (prev !== this.last) this.restart(prev);
    this.keep(event);
    this.disk?.write(toRecord(event, prev));
  }

  /**
   * Up to `limit` events after `revision` that match the filter, in order. Throws OUT_OF_RANGE when events
   * after that revision are no longer all held.
   */
  after(revision: number, filter: WatchFilter, limit: number): RegistryEvent[] {
    if (revision < this.since) {
      throw new BrokerError(
        'OUT_OF_RANGE',
        `Revision ${revision} compacted: oldest available is ${this.since}; read the current state with List and watch from its revision`,
      );
    }
    const out: RegistryEvent[] = [];
    for (let i = this.firstAfter(revision); i < this.events.length && out.length < limit; i++) {
      const e = this.events[i]!;
      if (matches(filter, e.name)) out.push(e);
    }
    return out;
  }

  /** Makes every event appended so far durable on disk (before the journal that also holds them is dropped). */
  async sync(): Promise<void> {
    await this.disk?.sync(this.since);
  }

  async close(): Promise<void> {
    await this.disk?.close(this.since);
  }

  private keep(event: RegistryEvent): void {
    this.events.push(event);
    this.last = event.revision;
    this.bytes += sizeOf(event);
    const { maxRevisions, maxBytes } = this.opts;
    while (this.events.length - this.head > maxRevisions || (this.bytes > maxBytes && this.events.length - this.head > 1)) {
      const old = this.events[this.head++]!;
      this.bytes -= sizeOf(old);
      this.since = old.revision;
      this.evicting = true;
    }
    // Cut evicted events off now and then, not on every append.
    if (this.head > 1024 && this.head * 2 > this.events.length) {
      this.events = this.events.slice(this.head);
      this.head = 0;
    }
  }

  private restart(since: number): void {
    this.events = [];
    this.head = 0;
    this.bytes = 0;
    this.evicting = false;
    this.since = since;
    this.last = since;
  }

  /** Index of the first event with a revision above `revision` (binary search). */
  private firstAfter(revision: number): number {
    let lo = this.head;
    let hi = this.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.events[mid]!.revision <= revision) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function sizeOf(e: RegistryEvent): number {
  return e.name.length + (e.entry?.json.length ?? 0) + 64;
}

function toRecord(e: RegistryEvent, prev: number): HistoryRecord {
  const rec: HistoryRecord = { r: e.revision, p: prev, t: TYPES[e.type], k: e.name };
  if (e.entry) {
    rec.v = e.entry.json;
    rec.c = e.entry.createRevision;
    rec.ip = e.entry.lastWriteIp;
    rec.ts = e.entry.lastWriteTs;
    if (e.entry.ttl) rec.l = e.entry.ttl;
  }
  return rec;
}

function fromRecord(rec: HistoryRecord): RegistryEvent {
  const type = FROM_TYPE[rec.t];
  if (type !== 'put') return { type, name: rec.k, revision: rec.r };
  const entry: Entry = {
    name: rec.k,
    json: rec.v!,
    lastWriteIp: rec.ip ?? '',
    lastWriteTs: rec.ts ?? 0,
    createRevision: rec.c ?? rec.r,
    modRevision: rec.r,
    ...(rec.l ? { ttl: rec.l } : {}),
  };
  return { type, name: rec.k, revision: rec.r, entry };
}

/**
 * The history's segments on disk: records framed as the journal's ([u32 length][u32 crc32][payload]), written
 * in batches soon after they are appended, fsync'd on `sync`. A segment is removed once every event in it has
 * left the history. Failures to write are logged and cost only the history's length after a restart.
 */
class HistoryDisk {
  private fh: FileHandle | undefined;
  private segment: number;
  private size = 0;
  /** Last revision held by each segment on disk, oldest first. */
  private readonly segments: Array<{ seg: number; last: number }>;
  private pending: Buffer[] = [];
  /** Revision of the newest record in `pending`. */
  private lastPending = 0;
  private writing: Promise<void> = Promise.resolve();
  private scheduled = false;
  /** Writing failed: records are dropped (a hole the next start notices) until `retryAt`. */
  private broken = false;
  private retryAt = 0;

  private constructor(
    private readonly dir: string,
    segments: Array<{ seg: number; last: number }>,
    private readonly log: Logger | undefined,
  ) {
    this.segments = segments;
    this.segment = (segments.at(-1)?.seg ?? 0) + 1;
  }

  static load(dir: string, log: Logger | undefined): { events: RegistryEvent[]; since: number; disk: HistoryDisk } {
    const events: RegistryEvent[] = [];
    let since = 0;
    const segments: Array<{ seg: number; last: number }> = [];
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const names = listSegments(readdirSync(dir), EXT);
      for (const seg of names) {
        readSegment(join(dir, segmentName(seg, EXT)), seg === names.at(-1), (payload) => {
          const rec = JSON.parse(payload.toString('utf8')) as HistoryRecord;
          // A hole (a lost write): only what follows it is whole.
          if (events.length > 0 && rec.p !== events.at(-1)!.revision) events.length = 0;
          if (events.length === 0) since = rec.p;
          events.push(fromRecord(rec));
        });
        segments.push({ seg, last: events.at(-1)?.revision ?? 0 });
      }
    } catch (err) {
      log?.warn('the watch history on disk cannot be read; it starts again from the current revision', { dir, err: (err as Error).message });
      events.length = 0;
    }
    return { events, since, disk: new HistoryDisk(dir, segments, log) };
  }

  write(rec: HistoryRecord): void {
    if (this.broken) {
      if (Date.now() < this.retryAt) return;
      this.broken = false; // try again, in a fresh segment after the hole
    }
    const payload = Buffer.from(JSON.stringify(rec), 'utf8');
    const head = Buffer.allocUnsafe(8);
    head.writeUInt32LE(payload.length, 0);
    head.writeUInt32LE(crc32(payload), 4);
    this.pending.push(head, payload);
    this.lastPending = rec.r;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.writing = this.writing.then(() => this.flush());
      });
    }
  }

  async sync(since: number): Promise<void> {
    this.writing = this.writing.then(async () => {
      await this.flush();
      if (this.broken || !this.fh) return;
      await this.fh.datasync().catch((err: unknown) => this.fail(err));
      await this.dropBefore(since);
    });
    await this.writing;
  }

  async close(since: number): Promise<void> {
    await this.sync(since);
    await this.fh?.close().catch(() => {});
    this.fh = undefined;
  }

  private async flush(): Promise<void> {
    if (this.pending.length === 0 || this.broken) return;
    const batch = Buffer.concat(this.pending);
    const last = this.lastPending;
    this.pending = [];
    try {
      if (!this.fh || this.size > SEGMENT_BYTES) await this.nextSegment();
      await this.fh!.write(batch, 0, batch.length, null);
      this.size += batch.length;
      this.segments.at(-1)!.last = last;
    } catch (err) {
      this.fail(err);
    }
  }

  private async nextSegment(): Promise<void> {
    await this.fh?.datasync();
    await this.fh?.close();
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.fh = await open(join(this.dir, segmentName(this.segment, EXT)), 'a', 0o600);
    this.segments.push({ seg: this.segment, last: 0 });
    this.segment++;
    this.size = 0;
  }

  /** Removes segments whose events are all at or before `since` (no longer in the history). */
  private async dropBefore(since: number): Promise<void> {
    while (this.segments.length > 1 && this.segments[0]!.last <= since) {
      const { seg } = this.segments.shift()!;
      await unlink(join(this.dir, segmentName(seg, EXT))).catch(() => {});
    }
  }

  private fail(err: unknown): void {
    // The history in memory is whole; the one on disk now has a hole, which the next start notices.
    if (!this.broken) this.log?.warn('the watch history cannot be written to disk; after a restart it starts from then', { dir: this.dir, err: (err as Error).message });
    this.broken = true;
    this.retryAt = Date.now() + 1000;
    this.pending = [];
    void this.fh?.close().catch(() => {});
    this.fh = undefined;
  }
}
