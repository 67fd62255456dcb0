import type { Entry } from './Entry.js';
import { Journal } from './Journal.js';
import type { StorageGuard } from './StorageGuard.js';

/** Journal record: a put carries the whole entry, a delete only the name. */
interface PutRecord {
  r: number;
  k: string;
  c: number;
  ip: string;
  ts: number;
  v: string;
}
interface DeleteRecord {
  r: number;
  k: string;
  d: 1;
}

export interface RegistryState {
  revision: number;
  entries: Iterable<Entry>;
}

export interface RegistryOptions {
  /** Folder of journal segments. */
  journalDir: string;
  /** The entries of the last snapshot, and the revision it was taken at. */
  snapshot: RegistryState;
  onTornTail?: (file: string, bytes: number) => void;
  onJournalFailure?: (err: Error) => void;
}

/**
 * The durable key/value store. Changes apply to memory at once (so the next operation sees them) and their
 * promise resolves once the journal has them on disk; a failed journal write undoes them.
 * Reads of a change that is not yet durable wait for it, so nothing is ever read that could be lost.
 */
export class Registry {
  private readonly entries = new Map<string, Entry>();
  private revisionCounter = 0;
  private durableRevision = 0;
  private lastChange = 0;

  /** Called after every change (the snapshotter schedules itself with it). */
  onChange: () => void = () => {};

  private constructor(private readonly journal: Journal) {}

  static async open(opts: RegistryOptions): Promise<Registry> {
    const entries = new Map<string, Entry>();
    let revision = opts.snapshot.revision;
    for (const e of opts.snapshot.entries) {
      entries.set(e.name, e);
      revision = Math.max(revision, e.modRevision);
    }
    const snapshotRevision = opts.snapshot.revision;
    const journal = await Journal.open(
      opts.journalDir,
      (payload) => {
        const rec = JSON.parse(payload.toString('utf8')) as PutRecord | DeleteRecord;
        if (rec.r <= snapshotRevision) return; // already folded into the snapshot
        revision = Math.max(revision, rec.r);
        if ('d' in rec) entries.delete(rec.k);
        else entries.set(rec.k, { name: rec.k, json: rec.v, lastWriteIp: rec.ip, lastWriteTs: rec.ts, createRevision: rec.c, modRevision: rec.r });
      },
      { onTornTail: opts.onTornTail, onFailure: opts.onJournalFailure },
    );
    const reg = new Registry(journal);
    for (const [k, v] of entries) reg.entries.set(k, v);
    reg.revisionCounter = revision;
    reg.durableRevision = revision;
    reg.lastChange = revision;
    return reg;
  }

  get revision(): number {
    return this.revisionCounter;
  }

  get size(): number {
    return this.entries.size;
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** The entry as it is in memory now, durable or not: for a writer's check-then-put. */
  peek(name: string): Entry | undefined {
    return this.entries.get(name);
  }

  /** The entry as last written, waiting until that write is durable. */
  async get(name: string): Promise<Entry | undefined> {
    const entry = this.entries.get(name);
    if (entry && entry.modRevision > this.durableRevision) await this.journal.sync();
    return entry;
  }

  /** Entries whose name starts with `prefix`, in name order, after `after` (exclusive), at most `limit`. */
  async list(prefix: string, after: string, limit: number): Promise<Entry[]> {
    if (this.lastChange > this.durableRevision) await this.journal.sync();
    const names = [...this.entries.keys()].filter((k) => k.startsWith(prefix) && k > after).sort();
    return names.slice(0, limit).map((k) => this.entries.get(k)!);
  }

  /**
   * Stores an entry. Applied synchronously, before the first await: callers may check-then-put without a race.
   */
  put(name: string, json: string, ip: string, ts: number, opts: { fresh?: boolean } = {}): { entry: Entry; durable: Promise<Entry> } {
    const prev = this.entries.get(name);
    const r = ++this.revisionCounter;
    const createRevision = prev && !opts.fresh ? prev.createRevision : r;
    const entry: Entry = { name, json, lastWriteIp: ip, lastWriteTs: ts, createRevision, modRevision: r };
    this.entries.set(name, entry);
    this.lastChange = r;
    this.onChange();
    const rec: PutRecord = { r, k: name, c: entry.createRevision, ip, ts, v: json };
    const durable = this.commit(rec, () => this.restore(name, prev, entry)).then(() => entry);
    return { entry, durable };
  }

  /** Removes an entry (applied synchronously, like put). Resolves to whether it existed. */
  delete(name: string): Promise<boolean> {
    const prev = this.entries.get(name);
    if (!prev) return Promise.resolve(false);
    this.entries.delete(name);
    const r = ++this.revisionCounter;
    this.lastChange = r;
    this.onChange();
    return this.commit({ r, k: name, d: 1 }, () => this.restore(name, prev, undefined)).then(() => true);
  }

  /** The revision and the live entries: read it synchronously (a snapshot) before anything can change it. */
  view(): { revision: number; entries: IterableIterator<Entry> } {
    return { revision: this.revisionCounter, entries: this.entries.values() };
  }

  /** Waits until every change made so far is durable. */
  sync(): Promise<void> {
    return this.journal.sync();
  }

  /** Starts a new journal segment; returns its number (segments before it may be dropped after a snapshot). */
  rotateJournal(): Promise<number> {
    return this.journal.rotate();
  }

  dropJournalBefore(segment: number): Promise<void> {
    return this.journal.dropBefore(segment);
  }

  /** The snapshotter guards the journal's files: it saves the whole state again when they are lost. */
  guardStorage(guard: StorageGuard): void {
    this.journal.guard = guard;
  }

  get journalSize(): number {
    return this.journal.size;
  }

  close(): Promise<void> {
    return this.journal.close();
  }

  private commit(rec: PutRecord | DeleteRecord, undo: () => void): Promise<void> {
    return this.journal.append(Buffer.from(JSON.stringify(rec), 'utf8'), undo).then(() => {
      if (rec.r > this.durableRevision) this.durableRevision = rec.r;
    });
  }

  /** Undo of one change: put back what was there, unless a later change already replaced it. */
  private restore(name: string, prev: Entry | undefined, written: Entry | undefined): void {
    if (this.entries.get(name) !== written) return;
    if (prev) this.entries.set(name, prev);
    else this.entries.delete(name);
  }
}
