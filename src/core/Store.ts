import type { Entry, RegistryEvent, WatchFilter } from './Entry.js';

/**
 * The registry's storage, as the core sees it: entries with revisions, compare-and-swap, watches and leases.
 * Two implementations: the embedded store (journal and snapshots into bpbroker.json) and etcd. Both give the
 * same answers to the same calls; test/store/conformance runs one suite against each.
 *
 * Revisions are one counter for the whole registry: every change (put, delete, expiry) takes the next one.
 * Names are never empty (the core refuses them; the etcd store keeps its delete marker at the empty name's key).
 */
export interface Store {
  readonly kind: 'embedded' | 'etcd';

  /** The entry as last written; undefined when absent. Never returns a write that is not yet durable. */
  get(name: string): Promise<Entry | undefined>;

  /**
   * Entries whose name starts with `prefix`, in name order (UTF-16 code units), after `after` (exclusive): at
   * most `limit`, and no more than `maxBytes` of names and texts (but always one, when one matches). Names of
   * the broker's own keyspace (starting with `_`: extensions' stores) are listed only with `reserved`, and
   * then only they are.
   */
  list(prefix: string, after: string, limit: number, maxBytes?: number, reserved?: boolean): Promise<ListResult>;

  /** Whether an entry exists, answered without a round trip (discovery answers UDP datagrams from it). */
  has(name: string): boolean;

  /**
   * Reads the entry, lets `mutate` decide what to write, and writes it with no other write in between: the
   * embedded store runs it synchronously; etcd writes in a Txn on the read mod_revision and runs `mutate` again
   * on a conflict (so it must be pure). `mutate` throws (a BrokerError) to refuse: nothing is written.
   * Resolves with the entry as written, once durable.
   */
  write(name: string, mutate: Mutation): Promise<Entry>;

  /**
   * Deletes the entry; `check` sees it first (as `write`'s mutate does) and may throw to refuse, e.g. a
   * revision mismatch. Resolves to whether it existed, once durable. A delete is a `delete` event.
   */
  delete(name: string, check?: (existing: Entry | undefined) => void): Promise<boolean>;

  /** Renews the entry's lease; undefined when the entry is absent or has no lease. */
  keepAlive(name: string): Promise<{ entry: Entry; ttl: number } | undefined>;

  /** Whole seconds left on the entry's lease; undefined when it has none. */
  leaseLeft(entry: Entry): Promise<number | undefined>;

  /**
   * The changes after revision `after` (from now when undefined) to entries `filter` selects (a prefix selects
   * reserved names only with `filter.reserved`, as `list` does), in revision order. A lease that runs out deletes its entry as an `expire` event, never `delete`. Starting before the
   * oldest revision kept throws BrokerError OUT_OF_RANGE with that revision in its message: from `watch` (the
   * embedded store knows at once) or from the first `next` (etcd tells when it sets the watch up).
   */
  watch(filter: WatchFilter, after?: number): StoreWatch;

  /** The newest durable revision. */
  readonly revision: number;

  /** Why writes are refused now, as clients are told (`Storage unavailable: ...`, `Registry unavailable: ...`); undefined when they are not. */
  readonly problem: string | undefined;

  /** The registry's byte count, when this store keeps one (the embedded store; etcd's own quota bounds etcd). */
  readonly budget: RegistryBudget | undefined;

  /** Figures for metrics, status and the dashboard; undefined where this store does not count them. */
  readonly size: number;
  readonly watchersWaiting: number;
  readonly leaseCount: number | undefined;

  close(): Promise<void>;
}

/** What a write makes of the entry it finds (undefined: none). */
export type Mutation = (existing: Entry | undefined) => Write;

export interface Write {
  /** The entry's data object, with its writer's stamps, as compact JSON. */
  json: string;
  ip: string;
  /** Seconds since the epoch. */
  ts: number;
  /** Starts a new entry (a new create revision) even if the name exists: Replace. */
  fresh?: boolean;
  /** For an Update of an existing entry: the members it merged in (the embedded journal keeps only these). */
  patch?: string;
  /** undefined keeps the lease, 0 removes it, seconds set or renew it. */
  ttl?: LeaseChange;
}

/** One watch: pull its batches; each says through which revision everything matching was delivered. */
export interface StoreWatch {
  /**
   * The next events; waits up to `waitMs` for one, then resolves with none. At most `limit`, but never part of a
   * revision: on etcd, writes that shared a Txn share its revision, and all of them are in one batch.
   */
  next(waitMs: number, limit?: number): Promise<WatchBatch>;
  readonly revision: number;
  close(): void;
}

/** UTF-8 bytes of all names and entries, which `api.max_registry_bytes` bounds. */
export interface RegistryBudget {
  readonly totalBytes: number;
  /** The total if `name` held `json`. */
  totalBytesWith(name: string, json: string): number;
}

/** A page of `list`. */
export interface ListResult {
  entries: Entry[];
  /** More entries match after the last one returned. */
  more: boolean;
}

/** What a write does to the entry's lease: undefined keeps it, 0 removes it, seconds set (and renew) it. */
export type LeaseChange = number | undefined;

/** What a watcher gets: events in revision order, and the revision through which it has seen everything. */
export interface WatchBatch {
  events: RegistryEvent[];
  /** Every matching change up to this revision has been delivered: resume from it. */
  revision: number;
}

/** Most events in one batch (one long-poll answer, one gRPC message). */
export const MAX_BATCH = 1000;
