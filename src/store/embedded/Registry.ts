import BTreeModule from 'sorted-btree';
import { applyPatch } from '../../core/entryJson.js';
import type { Logger } from '../../log/Logger.js';
import { isReservedName, type Entry, type RegistryEvent, type WatchFilter } from '../../core/Entry.js';
import type { LeaseChange, ListResult } from '../../core/Store.js';
import { History, type HistoryOptions } from './History.js';
import { Journal } from './Journal.js';
import { Leases } from './Leases.js';
import type { StorageGuard } from './StorageGuard.js';
import { WatchHub, type Watcher } from './Watchers.js';

// CommonJS with `exports.default`: Node's ESM loader hands over the exports object, a bundler the class.
const BTree = ((BTreeModule as { default?: unknown }).default ?? BTreeModule) as typeof BTreeModule.default;
type NameIndex = InstanceType<typeof BTree<string, true>>;
/** The first name after every reserved one (`_` is 0x5f, '`' 0x60). */
const RESERVED_END = '`';
const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Journal records. A put carries the whole entry (`v`), or for an Update of an existing entry only the members
 * it changed (`p`): a one-member Update of a wide entry journals a few bytes, not the entry; `l` is the entry's
 * lease (TTL in seconds) after the write. A delete carries only the name, and `x` when a lease ran out.
 */
interface PutRecord {
  r: number;
  k: string;
  c: number;
  ip: string;
  ts: number;
  v: string;
  l?: number;
}
interface PatchRecord {
  r: number;
  k: string;
  c: number;
  ip: string;
  ts: number;
  p: string;
  l?: number;
}
interface DeleteRecord {
  r: number;
  k: string;
  d: 1;
  x?: 1;
}
type JournalRecord = PutRecord | PatchRecord | DeleteRecord;

/** An entry's share of the registry's size budget: the UTF-8 bytes of its name and its text. */
function entryBytes(name: string, json: string): number {
  return Buffer.byteLength(name) + Buffer.byteLength(json);
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
  /** The watch history: its folder and limits (default: in memory only, 100,000 revisions, 64 MiB). */
  history?: Partial<HistoryOptions> | undefined;
  onTornTail?: (file: string, bytes: number) => void;
  onJournalFailure?: (err: Error) => void;
  /** Seconds each journal batch took to write and fsync. */
  onJournalBatch?: (seconds: number) => void;
  log?: Logger | undefined;
  /**
   * Leases are kept with their entries but never run out: for tools that work on a stopped broker's file (an
   * import must not lose a leased entry before the file has it). The broker starts every lease afresh anyway.
   */
  holdLeases?: boolean | undefined;
}

/** An expired lease whose delete could not be saved is tried again this much later. */
const EXPIRE_RETRY_MS = 1000;

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
  /** Revision of the last change made durable: the `prev` of the next event in the history. */
  private lastEvent = 0;
  private journal!: Journal;
  private history!: History;
  private watchers!: WatchHub;
  private readonly leases = new Leases((name) => this.expire(name));
  private log: Logger | undefined;

  /** Called after every change (the snapshotter schedules itself with it). */
  onChange: () => void = () => {};

  private constructor() {}

  static async open(opts: RegistryOptions): Promise<Registry> {
    const reg = new Registry();
    reg.log = opts.log;
    if (opts.holdLeases) reg.leases.close();
    const { entries } = reg;
    let revision = opts.snapshot.revision;
    for (const e of opts.snapshot.entries) {
      entries.set(e.name, e);
      if (e.modRevision > revision) revision = e.modRevision;
    }
    const history = History.open({ maxRevisions: 100_000, maxBytes: 64 << 20, ...opts.history, log: opts.log }, revision);
    const snapshotRevision = opts.snapshot.revision;
    let prev = revision;
    reg.journal = await Journal.open(
      opts.journalDir,
      (payload) => {
        const rec = JSON.parse(payload.toString('utf8')) as JournalRecord;
        if (rec.r <= snapshotRevision) return; // already folded into the snapshot
        revision = Math.max(revision, rec.r);
        let event: RegistryEvent;
        if ('d' in rec) {
          entries.delete(rec.k);
          event = { type: rec.x ? 'expire' : 'delete', name: rec.k, revision: rec.r };
        } else {
          const json = 'p' in rec ? applyPatch(entries.get(rec.k)?.json ?? '{}', rec.p, rec.ip, rec.ts) : rec.v;
          const entry: Entry = { name: rec.k, json, lastWriteIp: rec.ip, lastWriteTs: rec.ts, createRevision: rec.c, modRevision: rec.r, ...(rec.l ? { ttl: rec.l } : {}) };
          entries.set(rec.k, entry);
          event = { type: 'put', name: rec.k, revision: rec.r, entry };
        }
        history.append(event, prev);
        prev = rec.r;
      },
      { onTornTail: opts.onTornTail, onFailure: opts.onJournalFailure, onBatchWritten: opts.onJournalBatch },
    );
    history.reconcile(revision);
    reg.history = history;
    reg.watchers = new WatchHub(history);
    reg.revisionCounter = revision;
    reg.durableRevision = revision;
    reg.lastChange = revision;
    reg.lastEvent = revision;
    return reg;
  }

  /**
   * Starts the leases of the entries that hold one: each gets a full TTL from now (the broker was not there to
   * renew them), but those that had already run out when the file was written (`lapsed`) expire at once.
   */
  startLeases(lapsed: Iterable<string> = []): void {
    const gone = new Set(lapsed);
    for (const e of this.entries.values()) {
      if (!e.ttl) continue;
      this.leases.set(e.name, gone.has(e.name) ? 0 : e.ttl);
    }
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

  /** The entry exists and its lease, if it has one, has not run out. */
  has(name: string): boolean {
    return this.entries.has(name) && !this.leases.lapsed(name);
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
   * no more than `maxBytes` of entries (but always one, when one matches). Names of the broker's own keyspace
   * (`_`) are listed only with `reserved`, and then nothing else is (see WatchFilter).
   */
  async list(prefix: string, after: string, limit: number, maxBytes = Infinity, reserved = false): Promise<ListResult> {
    if (this.lastChange > this.durableRevision) await this.journal.sync();
    this.index ??= new BTree<string, true>([...this.entries.keys()].sort().map((k) => [k, true]), byCodeUnits);
    const entries: Entry[] = [];
    let bytes = 0;
    let from = after > prefix ? after : prefix;
    for (;;) {
      let skipTo: string | undefined;
      for (const name of this.index.keys(from)) {
        if (!name.startsWith(prefix)) break;
        if (name === after) continue;
        if (isReservedName(name) !== reserved) {
          // Every reserved name sorts between '_' and '`': one jump past them, not a walk through them.
          if (!reserved) skipTo = RESERVED_END;
          if (!reserved || name > RESERVED_END) break;
          continue;
        }
        const entry = this.entries.get(name)!;
        const size = entryBytes(name, entry.json);
        if (entries.length === limit || (entries.length > 0 && bytes + size > maxBytes)) return { entries, more: true };
        entries.push(entry);
        bytes += size;
      }
      if (skipTo === undefined) return { entries, more: false };
      from = skipTo;
    }
  }

  /**
   * Stores an entry. Applied synchronously, before the first await: callers may check-then-put without a race.
   */
  /**
   * `opts.fresh` starts a new entry (a new create revision) even if the name exists (Replace). `opts.patch`
   * is the data object an Update merged into the existing entry to make `json`: the journal keeps only that.
   */
  put(name: string, json: string, ip: string, ts: number, opts: { fresh?: boolean; patch?: string; ttl?: LeaseChange } = {}): { entry: Entry; durable: Promise<Entry> } {
    const prev = this.entries.get(name);
    const r = ++this.revisionCounter;
    const createRevision = prev && !opts.fresh ? prev.createRevision : r;
    const ttl = opts.ttl === undefined ? prev?.ttl : opts.ttl || undefined;
    const entry: Entry = { name, json, lastWriteIp: ip, lastWriteTs: ts, createRevision, modRevision: r, ...(ttl ? { ttl } : {}) };
    this.store(entry);
    this.lastChange = r;
    this.onChange();
    const head = { r, k: name, c: createRevision, ip, ts, ...(ttl ? { l: ttl } : {}) };
    const rec: PutRecord | PatchRecord = prev && opts.patch !== undefined ? { ...head, p: opts.patch } : { ...head, v: json };
    const durable = this.commit(rec, () => this.restore(name, prev, entry), { type: 'put', name, revision: r, entry }).then(() => {
      // The lease changes once the write is durable (a write that fails leaves it as it was): set or renewed by
      // a write that gives a TTL, kept by one that does not, gone with an entry that has none.
      if (this.entries.get(name) === entry) {
        if (!ttl) this.leases.remove(name);
        else if (opts.ttl !== undefined || !this.leases.has(name)) this.leases.set(name, ttl);
      }
      return entry;
    });
    return { entry, durable };
  }

  /** Removes an entry (applied synchronously, like put). Resolves to whether it existed. */
  delete(name: string, opts: { expired?: boolean } = {}): Promise<boolean> {
    const prev = this.entries.get(name);
    if (!prev) return Promise.resolve(false);
    this.remove(name);
    const r = ++this.revisionCounter;
    this.lastChange = r;
    this.onChange();
    const rec: DeleteRecord = { r, k: name, d: 1, ...(opts.expired ? { x: 1 as const } : {}) };
    const event: RegistryEvent = { type: opts.expired ? 'expire' : 'delete', name, revision: r };
    return this.commit(rec, () => this.restore(name, prev, undefined), event).then(() => {
      if (!this.entries.has(name)) this.leases.remove(name);
      return true;
    });
  }

  /** Renews the lease of `name`: its entry, and the lease's TTL; undefined when absent, without a lease, or run out. */
  keepAlive(name: string): { entry: Entry; ttl: number } | undefined {
    const entry = this.entries.get(name);
    const ttl = entry ? this.leases.renew(name) : undefined;
    return entry && ttl ? { entry, ttl } : undefined;
  }

  /** Whole seconds left on the lease of `name`, or undefined when it has none. */
  secondsLeft(name: string): number | undefined {
    return this.leases.secondsLeft(name);
  }

  /** Names whose lease has run out but whose entry could not be deleted yet: for the next start. */
  lapsedNames(): string[] {
    const out: string[] = [];
    for (const e of this.entries.values()) if (e.ttl && this.leases.lapsed(e.name)) out.push(e.name);
    return out;
  }

  /** Every durable change after this revision is in the history: the oldest a watch may start from. */
  get oldestWatchable(): number {
    return this.history.completeSince;
  }

  /** The newest durable revision: where a watch without a start revision begins. */
  get durableRevisionNow(): number {
    return this.history.lastRevision;
  }

  /** Watchers waiting for a change now. */
  get watchersWaiting(): number {
    return this.watchers.waitingCount;
  }

  /** A watch of `filter` from just after `after` (OUT_OF_RANGE when that is compacted). */
  watch(filter: WatchFilter, after: number): Watcher {
    return this.watchers.watch(filter, after);
  }

  /** A lease ran out: the entry is deleted as by Delete, an `expire` event. Retried while it cannot be saved. */
  private expire(name: string): void {
    if (!this.entries.has(name)) {
      this.leases.remove(name);
      return;
    }
    this.delete(name, { expired: true }).catch((err: unknown) => {
      this.log?.warn('an expired lease could not be saved; retrying', { name, err: (err as Error).message });
      this.leases.retry(name, EXPIRE_RETRY_MS);
    });
  }

  /** The revision and the live entries: read it synchronously (a snapshot) before anything can change it. */
  view(): { revision: number; entries: IterableIterator<Entry> } {
    return { revision: this.revisionCounter, entries: this.entries.values() };
  }

  /**
   * Makes the watch history durable on disk up to the changes made durable so far: before bpbroker.json lands
   * at a revision, so that the history a restart reads reaches it (or a watch would find it compacted).
   * A history that cannot be written costs only its length after a restart.
   */
  syncHistory(): Promise<void> {
    return this.history.sync().catch(() => {});
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

  /** Why writes are refused now (the journal's files cannot be written), or undefined. */
  get storageProblem(): string | undefined {
    return this.journal.unavailableReason;
  }

  /** Entries holding a lease. */
  get leaseCount(): number {
    return this.leases.size;
  }

  get journalSize(): number {
    return this.journal.size;
  }

  async close(): Promise<void> {
    this.leases.close();
    await this.journal.close();
    await this.history.close();
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

  /** Journals a change; once it is durable, its event goes to the history and wakes the watchers. */
  private commit(rec: JournalRecord, undo: () => void, event: RegistryEvent): Promise<void> {
    return this.journal.append(Buffer.from(JSON.stringify(rec), 'utf8'), undo).then(() => {
      if (rec.r > this.durableRevision) this.durableRevision = rec.r;
      this.history.append(event, this.lastEvent);
      this.lastEvent = rec.r;
      this.watchers.publish(event);
    });
  }

  /** Undo of one change: put back what was there, unless a later change already replaced it. */
  private restore(name: string, prev: Entry | undefined, written: Entry | undefined): void {
    if (this.entries.get(name) !== written) return;
    if (prev) this.store(prev);
    else this.remove(name);
  }
}
