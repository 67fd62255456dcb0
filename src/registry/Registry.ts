import BTreeModule from 'sorted-btree';
import { applyPatch } from '../core/entryJson.js';
import type { Entry } from './Entry.js';
import { Journal } from './Journal.js';
import type { StorageGuard } from './StorageGuard.js';

// CommonJS with `exports.default`: Node's ESM loader hands over the exports object, a bundler the class.
const BTree = ((BTreeModule as { default?: unknown }).default ?? BTreeModule) as typeof BTreeModule.default;
type NameIndex = InstanceType<typeof BTree<string, true>>;
const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Journal records. A put carries the whole entry (`v`), or for an Update of an existing entry only the members
 * it changed (`p`): a one-member Update of a wide entry journals a few bytes, not the entry. A delete carries
 * only the name.
 */
interface PutRecord {
  r: number;
  k: string;
  c: number;
  ip: string;
  ts: number;
  v: string;
}
interface PatchRecord {
  r: number;
  k: string;
  c: number;
  ip: string;
  ts: number;
  p: string;
}
interface DeleteRecord {
  r: number;
  k: string;
  d: 1;
}
type JournalRecord = PutRecord | PatchRecord | DeleteRecord;

/** An entry's share of the registry's size budget: the UTF-8 bytes of its name and its text. */
function entryBytes(name: string, json: string): number {
  return Buffer.byteLength(name) + Buffer.byteLength(json);
}

export interface ListResult {
  entries: Entry[];
  /** More entries match after the last one returned. */
  more: boolean;
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
  /**
   * Every name in order, for List pages in O(log n + page). Built on the first List (a registry that is never
   * listed never pays for it, and start-up does not), then kept up to date by every change.
   */
  private index: NameIndex | undefined;
  /** UTF-8 bytes of all names and entry texts, counted on the first write (not at start-up), then kept. */
  private bytes: number | undefined;
  private revisionCounter = 0;
  private durableRevision = 0;
  private lastChange = 0;
  private journal!: Journal;

  /** Called after every change (the snapshotter schedules itself with it). */
  onChange: () => void = () => {};

  private constructor() {}

  static async open(opts: RegistryOptions): Promise<Registry> {
    const reg = new Registry();
    const { entries } = reg;
    let revision = opts.snapshot.revision;
    for (const e of opts.snapshot.entries) {
      entries.set(e.name, e);
      if (e.modRevision > revision) revision = e.modRevision;
    }
    const snapshotRevision = opts.snapshot.revision;
    reg.journal = await Journal.open(
      opts.journalDir,
      (payload) => {
        const rec = JSON.parse(payload.toString('utf8')) as JournalRecord;
        if (rec.r <= snapshotRevision) return; // already folded into the snapshot
        revision = Math.max(revision, rec.r);
        if ('d' in rec) {
          entries.delete(rec.k);
          return;
        }
        const json = 'p' in rec ? applyPatch(entries.get(rec.k)?.json ?? '{}', rec.p, rec.ip, rec.ts) : rec.v;
        entries.set(rec.k, { name: rec.k, json, lastWriteIp: rec.ip, lastWriteTs: rec.ts, createRevision: rec.c, modRevision: rec.r });
      },
      { onTornTail: opts.onTornTail, onFailure: opts.onJournalFailure },
    );
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

  /** UTF-8 bytes of every name and entry text: what `api.max_registry_bytes` limits. */
  get totalBytes(): number {
    if (this.bytes === undefined) {
      let n = 0;
      for (const e of this.entries.values()) n += entryBytes(e.name, e.json);
      this.bytes = n;
    }
    return this.bytes;
  }

  /** What totalBytes would be if `name` held `json`. */
  totalBytesWith(name: string, json: string): number {
    const prev = this.entries.get(name);
    return this.totalBytes - (prev ? entryBytes(name, prev.json) : 0) + entryBytes(name, json);
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

  /**
   * Entries whose name starts with `prefix`, in name order, after `after` (exclusive): at most `limit`, and
   * no more than `maxBytes` of entries (but always one, when one matches).
   */
  async list(prefix: string, after: string, limit: number, maxBytes = Infinity): Promise<ListResult> {
    if (this.lastChange > this.durableRevision) await this.journal.sync();
    this.index ??= new BTree<string, true>([...this.entries.keys()].sort().map((k) => [k, true]), byCodeUnits);
    const entries: Entry[] = [];
    let bytes = 0;
    for (const name of this.index.keys(after > prefix ? after : prefix)) {
      if (!name.startsWith(prefix)) break;
      if (name === after) continue;
      const entry = this.entries.get(name)!;
      const size = entryBytes(name, entry.json);
      if (entries.length === limit || (entries.length > 0 && bytes + size > maxBytes)) return { entries, more: true };
      entries.push(entry);
      bytes += size;
    }
    return { entries, more: false };
  }

  /**
   * Stores an entry. Applied synchronously, before the first await: callers may check-then-put without a race.
   */
  /**
   * `opts.fresh` starts a new entry (a new create revision) even if the name exists (Replace). `opts.patch`
   * is the data object an Update merged into the existing entry to make `json`: the journal keeps only that.
   */
  put(name: string, json: string, ip: string, ts: number, opts: { fresh?: boolean; patch?: string } = {}): { entry: Entry; durable: Promise<Entry> } {
    const prev = this.entries.get(name);
    const r = ++this.revisionCounter;
    const createRevision = prev && !opts.fresh ? prev.createRevision : r;
    const entry: Entry = { name, json, lastWriteIp: ip, lastWriteTs: ts, createRevision, modRevision: r };
    this.store(entry);
    this.lastChange = r;
    this.onChange();
    const head = { r, k: name, c: createRevision, ip, ts };
    const rec: PutRecord | PatchRecord = prev && opts.patch !== undefined ? { ...head, p: opts.patch } : { ...head, v: json };
    const durable = this.commit(rec, () => this.restore(name, prev, entry)).then(() => entry);
    return { entry, durable };
  }

  /** Removes an entry (applied synchronously, like put). Resolves to whether it existed. */
  delete(name: string): Promise<boolean> {
    const prev = this.entries.get(name);
    if (!prev) return Promise.resolve(false);
    this.remove(name);
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

  private store(entry: Entry): void {
    const prev = this.entries.get(entry.name);
    if (this.bytes !== undefined) this.bytes += entryBytes(entry.name, entry.json) - (prev ? entryBytes(prev.name, prev.json) : 0);
    if (!prev) this.index?.set(entry.name, true);
    this.entries.set(entry.name, entry);
  }

  private remove(name: string): void {
    const prev = this.entries.get(name);
    if (!prev) return;
    if (this.bytes !== undefined) this.bytes -= entryBytes(name, prev.json);
    this.index?.delete(name);
    this.entries.delete(name);
  }

  private commit(rec: JournalRecord, undo: () => void): Promise<void> {
    return this.journal.append(Buffer.from(JSON.stringify(rec), 'utf8'), undo).then(() => {
      if (rec.r > this.durableRevision) this.durableRevision = rec.r;
    });
  }

  /** Undo of one change: put back what was there, unless a later change already replaced it. */
  private restore(name: string, prev: Entry | undefined, written: Entry | undefined): void {
    if (this.entries.get(name) !== written) return;
    if (prev) this.store(prev);
    else this.remove(name);
  }
}
