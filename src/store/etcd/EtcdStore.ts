import type { KeyValue } from '../../../generated/etcd/mvccpb/kv.js';
import { BrokerError } from '../../core/BrokerError.js';
import { type Entry, isReservedName, type WatchFilter } from '../../core/Entry.js';
import type { ListResult, Mutation, Store, StoreWatch } from '../../core/Store.js';
import { EtcdClient } from './EtcdClient.js';
import { EtcdError } from './EtcdError.js';
import { EtcdNames } from './EtcdNames.js';
import { KeyReads } from './KeyReads.js';
import { type Known, KnownKeys } from './KnownKeys.js';
import { type TxnOutcome, WriteTxns } from './WriteTxns.js';
import type { EtcdOptions } from './EtcdOptions.js';
import { EtcdStoreWatch, type WatchContext } from './EtcdStoreWatch.js';
import { decodeEntry, type EntryHead, encodeValue } from './entryValue.js';
import { keyAfter, prefixEnd } from './keys.js';
import { nameBytes } from './nameKeys.js';
import { brokerErrorOf, writeErrorOf } from './storeErrors.js';
import { compare, op } from './txn.js';

export const DEFAULT_PREFIX = '/bpbroker/';

export interface EtcdStoreOptions extends EtcdOptions {
  /** Every key of the registry starts with it (default `/bpbroker/`); brokers on one prefix share one registry. */
  prefix?: string;
  /** Entry text queued for one watch reader before its etcd watch pauses until it catches up; default 64 MiB. */
  maxWatchQueueBytes?: number;
}

/** A write or delete that keeps losing its Txn to other writers gives up after this many tries. */
const MAX_ATTEMPTS = 100;
/** Entries read per Range of a List page (a page's entries may be large; etcd answers are best kept small). */
const LIST_CHUNK = 100;

/**
 * The Store on etcd, under a key prefix: entry `NAME` is the key PREFIX+NAME (see nameKeys.ts), its value the
 * entry's JSON with a small head (see entryValue.ts). Revisions are etcd's. `write` and `delete` read the key,
 * run the caller's function, and write in a Txn on the read mod_revision (create_revision 0 when absent),
 * reading and running it again when another writer got there first. Each leased entry has its own etcd lease.
 * An explicit delete also puts the delete marker (the key PREFIX itself, which no entry has: names are never
 * empty) in the same Txn, which tells it from a lease expiry in watches (EtcdStoreWatch). Writes and deletes of one
 * name through one store run one at a time, in the order asked: at once, all but one would lose their Txn, read
 * again and retry, each round, so a hot name would cost a round trip pair per writer per write (and 503s).
 */
export class EtcdStore implements Store {
  readonly kind = 'etcd';
  private readonly prefix: Buffer;
  private readonly names: EtcdNames;
  private newest = 0;
  private watches = 0;
  private trouble: string | undefined;
  /** The etcd lease of each leased entry read or written here, for leaseLeft. */
  private readonly leaseOf = new WeakMap<Entry, string>();
  private readonly watchContext: WatchContext;
  /** Single-key reads, coalesced into one etcd call per round trip under load. */
  private readonly reads: KeyReads;
  /** Writes of different names, coalesced into one Txn per round trip under load. */
  private readonly writes: WriteTxns;
  /** The entry last written here of each name, where a write may start instead of a Range. */
  private readonly known = new KnownKeys();
  /** The last write or delete asked of each name that is still running (see `inTurn`). */
  private readonly turns = new Map<string, Promise<unknown>>();

  private constructor(
    readonly client: EtcdClient,
    prefix: string,
    maxQueuedBytes: number,
  ) {
    if (prefix === '') throw new BrokerError('INVALID_ARGUMENT', 'The etcd key prefix must not be empty');
    this.prefix = nameBytes(prefix);
    this.reads = new KeyReads(client);
    this.writes = new WriteTxns(client);
    this.names = new EtcdNames(client, this.prefix, {
      seen: (r) => this.seen(r),
      ok: () => (this.trouble = undefined),
      failed: (err) => this.failed(err),
    });
    const store = this;
    this.watchContext = {
      client,
      prefix: this.prefix,
      get revision() {
        return store.newest;
      },
      remember: (kv) => this.entryOf(kv),
      opened: (delta) => (this.watches += delta),
      maxQueuedBytes,
    };
  }

  /** Connects and reads the names; when etcd cannot be reached, it opens anyway with `problem` set and recovers by itself. */
  static async open(opts: EtcdStoreOptions): Promise<EtcdStore> {
    const store = new EtcdStore(new EtcdClient(opts), opts.prefix ?? DEFAULT_PREFIX, opts.maxWatchQueueBytes ?? 64 * 1024 * 1024);
    await store.names.start();
    return store;
  }

  get revision(): number {
    return this.newest;
  }

  get problem(): string | undefined {
    return this.trouble;
  }

  /** etcd bounds its size itself (`--quota-backend-bytes`); a write past it answers RESOURCE_EXHAUSTED. */
  readonly budget = undefined;

  get size(): number {
    return this.names.size;
  }

  get watchersWaiting(): number {
    return this.watches;
  }

  /** Leases live in etcd, shared by every broker: not counted here. */
  readonly leaseCount = undefined;

  has(name: string): boolean {
    return this.names.has(name);
  }

  async get(name: string): Promise<Entry | undefined> {
    if (name === '') return undefined;
    return (await this.read(this.key(name))).entry;
  }

  async list(prefix: string, after: string, limit: number, maxBytes = Infinity, reserved = false): Promise<ListResult> {
    const entries: Entry[] = [];
    // Reserved names (`_...`) all sort in ['_', '`'): only the empty prefix holds both kinds.
    if (prefix !== '' && isReservedName(prefix) !== reserved) return { entries, more: false };
    const start = this.key(prefix === '' && reserved ? '_' : prefix);
    const end = prefix === '' && reserved ? this.key('`') : prefixEnd(start);
    // The key of the empty name (the delete marker) is skipped; `after` itself is not listed again.
    let from = after > prefix ? keyAfter(this.key(after)) : prefix === '' ? keyAfter(start) : start;
    if (limit <= 0) return { entries, more: false };
    let bytes = 0;
    let revision = 0;
    for (;;) {
      if (Buffer.compare(from, end) >= 0) return { entries, more: false };
      const page = await this.call(this.client.range(from, { rangeEnd: end, limit: Math.min(limit - entries.length, LIST_CHUNK), revision }));
      revision = page.revision;
      this.seen(revision);
      for (const kv of page.kvs) {
        const entry = this.entryOf(kv);
        if (isReservedName(entry.name) !== reserved) {
          from = this.key('`'); // reached the reserved names: one jump past them all, not a walk through them
          break;
        }
        const size = Buffer.byteLength(entry.name) + Buffer.byteLength(entry.json);
        if (entries.length > 0 && bytes + size > maxBytes) return { entries, more: true };
        entries.push(entry);
        bytes += size;
        from = keyAfter(kv.key);
      }
      const last = page.kvs.at(-1);
      if (!last || (!page.more && Buffer.compare(from, keyAfter(last.key)) === 0)) return { entries, more: false };
      if (entries.length >= limit) return { entries, more: true };
    }
  }

  async write(name: string, mutate: Mutation): Promise<Entry> {
    return this.inTurn(checkName(name), () => this.writeNow(name, mutate));
  }

  private async writeNow(name: string, mutate: Mutation): Promise<Entry> {
    const key = this.key(name);
    // The first try starts from a guess when there is a sound one (see `guess`): one Txn, no Range. A Txn that
    // fails reads the key in its else branch, so no try after it needs a Range either.
    let known: Known | undefined = this.guess(name);
    let guessed = known !== undefined;
    try {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const { state, entry: existing } = known ?? (await this.read(key));
        known = undefined;
        let w: ReturnType<Mutation>;
        try {
          w = mutate(existing);
        } catch (err) {
          if (!guessed) throw err;
          guessed = false; // refused on a guess (absent, an older revision): decided again on the key as read
          continue;
        }
        guessed = false;
        const oldLease = state && state.lease !== '0' ? state.lease : undefined;
        const lease = await this.leaseFor(w.ttl, existing, oldLease);
        const head: EntryHead = { ip: w.ip, ts: w.ts, ...(lease ? { ttl: lease.ttl } : {}) };
        // See entryValue.ts: a Replace of an existing key marks itself created here; later writes carry that on.
        if (state && existing && w.fresh) head.f = 1;
        else if (state && existing && existing.createRevision !== state.createRevision) head.c = existing.createRevision;
        const put = op.put(key, encodeValue(head, w.json), lease ? { lease: lease.id } : {});
        let done: TxnOutcome;
        try {
          // A Txn on the revision it decided from (create_revision 0 when absent), shared with other names' writes.
          done = await this.writes.write({ key, modRevision: state?.modRevision, put });
          this.trouble = undefined;
        } catch (err) {
          // A Txn that etcd may have applied keeps its lease: revoking it would delete the entry it may now hold
          // (a lease that holds no key runs out by itself).
          if (lease?.granted && !(err instanceof EtcdError && err.mayBeApplied)) this.revoke(lease.id);
          this.failed(err);
          throw writeErrorOf(err);
        }
        if (!done.succeeded) {
          if (lease?.granted) this.revoke(lease.id);
          // Another writer got there first (or the guess was stale): `mutate` decides again on the key as it is now.
          this.seen(done.revision);
          const now = done.now;
          known = { state: now, entry: now && this.entryOf(now) };
          continue;
        }
        this.seen(done.revision);
        if (oldLease && oldLease !== lease?.id) this.revoke(oldLease);
        const entry: Entry = {
          name,
          json: w.json,
          lastWriteIp: w.ip,
          lastWriteTs: w.ts,
          createRevision: existing && !w.fresh ? existing.createRevision : done.revision,
          modRevision: done.revision,
          ...(lease ? { ttl: lease.ttl } : {}),
        };
        if (lease) this.leaseOf.set(entry, lease.id);
        this.known.set(name, { modRevision: done.revision, createRevision: state?.createRevision ?? done.revision, lease: lease?.id ?? '0' }, entry);
        return entry;
      }
    } catch (err) {
      this.known.forget(name); // failed, perhaps applied: the next write reads the key
      throw err;
    }
    this.known.forget(name);
    throw new BrokerError('UNAVAILABLE', `Registry busy: ${name} kept changing under ${MAX_ATTEMPTS} tries to write it; try again`);
  }

  /**
   * Where a write may start without reading the key: the entry this store last wrote of the name, or "absent"
   * for a name missing from the store's list of names while that list follows etcd. The Txn checks the guess.
   * None while etcd is in trouble: a Range is tried again on another member or a new connection, a Txn is not
   * (etcd may have applied it), so after a failure the first call of a write is a Range, which finds out
   * whether the connection is back.
   */
  private guess(name: string): Known | undefined {
    if (this.trouble !== undefined) return undefined;
    const known = this.known.get(name);
    if (known) return known;
    return this.names.current && !this.names.has(name) ? { state: undefined, entry: undefined } : undefined;
  }

  async delete(name: string, check?: (existing: Entry | undefined) => void): Promise<boolean> {
    return this.inTurn(checkName(name), () => this.deleteNow(name, check));
  }

  private async deleteNow(name: string, check?: (existing: Entry | undefined) => void): Promise<boolean> {
    const key = this.key(name);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const { state: kv, entry } = await this.read(key);
      check?.(entry);
      if (!kv) return false;
      const ops = [op.delete(key), op.put(this.prefix, key.subarray(this.prefix.length))];
      const done = await this.call(this.client.txn([compare(key, 'mod_revision', '=', kv.modRevision)], ops), writeErrorOf);
      if (!done.succeeded) continue;
      this.seen(done.revision);
      this.known.forget(name);
      if (kv.lease !== '0') this.revoke(kv.lease); // it holds no key now; revoked so it does not linger until it expires
      return true;
    }
    throw new BrokerError('UNAVAILABLE', `Registry busy: ${name} kept changing under ${MAX_ATTEMPTS} tries to delete it; try again`);
  }

  async keepAlive(name: string): Promise<{ entry: Entry; ttl: number } | undefined> {
    if (name === '') return undefined;
    const { state: kv, entry } = await this.read(this.key(name));
    if (!kv || !entry || kv.lease === '0') return undefined;
    try {
      const ttl = await this.call(this.client.leaseKeepAliveOnce(kv.lease));
      return ttl > 0 ? { entry, ttl } : undefined;
    } catch (err) {
      if (err instanceof BrokerError && err.code === 'NOT_FOUND') return undefined; // it ran out meanwhile
      throw err;
    }
  }

  async leaseLeft(entry: Entry): Promise<number | undefined> {
    if (!entry.ttl) return undefined;
    let id = this.leaseOf.get(entry);
    if (id === undefined) {
      const { state: kv } = await this.read(this.key(entry.name));
      if (!kv || kv.modRevision !== entry.modRevision) return undefined;
      id = kv.lease;
    }
    if (id === '0') return undefined;
    const { ttl } = await this.call(this.client.leaseTimeToLive(id));
    return ttl < 0 ? undefined : Math.max(1, ttl); // -1: gone; at least 1 while it runs, as the embedded store says
  }

  watch(filter: WatchFilter, after?: number): StoreWatch {
    return new EtcdStoreWatch(this.watchContext, filter, after);
  }

  async close(): Promise<void> {
    this.names.close();
    this.client.close();
  }

  /** Runs `run` once every write or delete of `name` asked before it has finished (failed or not). */
  private inTurn<T>(name: string, run: () => Promise<T>): Promise<T> {
    const before = this.turns.get(name);
    const mine = before ? before.then(run, run) : run();
    const settled = mine.then(
      () => undefined,
      () => undefined,
    );
    this.turns.set(name, settled);
    void settled.then(() => {
      if (this.turns.get(name) === settled) this.turns.delete(name);
    });
    return mine;
  }

  private key(name: string): Buffer {
    return Buffer.concat([this.prefix, nameBytes(name)]);
  }

  private async read(key: Buffer): Promise<Known> {
    const r = await this.call(this.reads.read(key));
    this.seen(r.revision);
    const kv = r.kv;
    return { state: kv, entry: kv && this.entryOf(kv) };
  }

  private entryOf(kv: KeyValue): Entry {
    const entry = decodeEntry(kv, this.prefix.length);
    if (kv.lease !== '0') this.leaseOf.set(entry, kv.lease);
    return entry;
  }

  /**
   * The lease a write puts its entry on. No TTL: none (an old one is revoked after the write). The write keeps
   * the lease: the same one. A TTL given: the old lease renewed when it has that TTL, else a new one.
   */
  private async leaseFor(ttlChange: number | undefined, existing: Entry | undefined, oldLease: string | undefined): Promise<{ id: string; ttl: number; granted?: boolean } | undefined> {
    const ttl = ttlChange === undefined ? existing?.ttl : ttlChange || undefined;
    if (!ttl) return undefined;
    if (oldLease && (ttlChange === undefined || ttlChange === existing?.ttl)) {
      if (ttlChange === undefined) return { id: oldLease, ttl };
      try {
        await this.call(this.client.leaseKeepAliveOnce(oldLease));
        return { id: oldLease, ttl };
      } catch (err) {
        if (!(err instanceof BrokerError && err.code === 'NOT_FOUND')) throw err;
      }
    }
    const granted = await this.call(this.client.leaseGrant(ttl));
    return { id: granted.id, ttl: granted.ttl, granted: true };
  }

  private revoke(id: string): void {
    this.client.leaseRevoke(id).catch(() => {}); // a lease left behind holds no key and runs out by itself
  }

  /**
   * Runs a call to etcd: its failure as a BrokerError (`answer` says how to tell the client); UNAVAILABLE sets
   * `problem`, any answer clears it.
   */
  private async call<T>(p: Promise<T>, answer: (err: unknown) => BrokerError = brokerErrorOf): Promise<T> {
    try {
      const r = await p;
      this.trouble = undefined;
      return r;
    } catch (err) {
      this.failed(err);
      throw answer(err);
    }
  }

  private failed(err: unknown): BrokerError {
    const e = brokerErrorOf(err);
    if (e.code === 'UNAVAILABLE') this.trouble = e.message;
    return e;
  }

  private seen(revision: number): void {
    if (revision > this.newest) this.newest = revision;
  }
}


/** The key of the empty name is the delete marker's (the core refuses empty names before they get here). */
function checkName(name: string): string {
  if (name === '') throw new BrokerError('INVALID_ARGUMENT', 'Missing name parameter');
  return name;
}
