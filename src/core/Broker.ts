import type { Entry, WatchFilter } from './Entry.js';
import type { Store, StoreWatch, WatchBatch } from './Store.js';
import { accessKeyMatches } from './accessKey.js';
import { BrokerError } from './BrokerError.js';
import { makeEntryJson, patchEntry } from './entryJson.js';
import { accessKeyOf, type BrokerSettings, RESERVED_SECTIONS } from './settings.js';
import { ExtensionStore } from './ExtensionStore.js';
import { checkFits, checkRevision } from './writeChecks.js';
import { ifRevisionOf, revisionOf, ttlOf, waitOf, type WatchRequest, type WriteOptions } from './options.js';
import type { CallContext, DispatchResult, EntryResult, ExtensionResponse, ExtensionRunner, Params, PingResult } from './types.js';
import { nowSeconds, parseAnyJson, parseEntryData, type EntryData } from './values.js';

/** The registry methods of the `services` namespace, as the legacy API names them. */
export const REGISTRY_METHODS = ['Register', 'Replace', 'Update', 'Get', 'List', 'Delete', 'KeepAlive', 'Watch'] as const;
export type RegistryMethod = (typeof REGISTRY_METHODS)[number];
type WriteMethod = 'Register' | 'Replace' | 'Update';
const PING_METHODS = ['Ping'];

export interface BrokerLimits {
  maxNameLength: number;
  maxEntryBytes: number;
  /** Top-level members of one entry: bounds what an Update's merge costs. */
  maxEntryMembers: number;
  /** UTF-8 bytes of all names and entries: one client cannot fill the memory or the disk. */
  maxRegistryBytes: number;
  /** Bytes of entries in one List page. */
  maxPageBytes: number;
}

export interface ListPage {
  entries: EntryResult[];
  /** Pass back as `after` for the next page; empty when this was the last page. */
  nextAfter: string;
}

/**
 * Every operation of the broker, once. Transports translate their requests into these calls and map the
 * BrokerError they may throw; nothing here knows about HTTP, gRPC or UDP.
 */
export class Broker<S extends BrokerSettings = BrokerSettings> {
  private extensions: ExtensionRunner | undefined;
  /** Extensions' private keyspaces (`rh.store`), in the same registry, never seen through the registry API. */
  readonly store: ExtensionStore;

  constructor(
    /** Where entries live: the embedded store or etcd (src/store). */
    readonly registry: Store,
    private sections: S,
    private readonly limits: BrokerLimits,
  ) {
    this.store = new ExtensionStore(registry, limits);
  }

  attachExtensions(runner: ExtensionRunner): void {
    this.extensions = runner;
  }

  get settings(): S {
    return this.sections;
  }

  /**
   * Settings changed while running (`bpbroker configure` handed to this broker): access keys, time limits and
   * enabled namespaces are read from here on every call, so the next call sees them.
   */
  replaceSettings(sections: S): void {
    this.sections = sections;
  }

  /**
   * Callable namespaces: `services`, `ping`, and enabled extensions (a config section naming a loaded extension,
   * or, in development, one served from a `--watch` folder).
   */
  isCallable(namespace: string): boolean {
    if (namespace === 'services' || namespace === 'ping') return true;
    if (namespace.startsWith('_') || RESERVED_SECTIONS.has(namespace)) return false;
    const enabled = Object.hasOwn(this.sections, namespace) || (this.extensions?.enabledByDevelopment?.(namespace) ?? false);
    return enabled && (this.extensions?.hasNamespace(namespace) ?? false);
  }

  /** The legacy check order, first failure wins: namespace, access key, method. */
  authorize(ctx: CallContext, namespace: string, method: string): void {
    if (!this.isCallable(namespace)) throw this.unauthorizedPackage(namespace);
    if (!ctx.trusted) {
      const expected = accessKeyOf(this.sections[namespace]);
      if (typeof expected === 'string' && expected !== '' && !accessKeyMatches(expected, ctx.accessKey)) {
        throw new BrokerError('UNAUTHENTICATED', 'Incorrect access key');
      }
    }
    if (method.startsWith('_') || !this.hasMethod(namespace, method)) throw new BrokerError('PERMISSION_DENIED', 'Unauthorized method');
  }

  /** A call the broker serves now: a callable namespace and one of its methods. */
  isKnownCall(namespace: string, method: string): boolean {
    return this.isCallable(namespace) && !method.startsWith('_') && this.hasMethod(namespace, method);
  }

  /**
   * Why the broker cannot take writes now (its storage refuses them, extensions are still loading); empty
   * when it can. Extensions that failed to load do not count: the broker serves everything else.
   */
  notReady(): string[] {
    const reasons: string[] = [];
    const storage = this.registry.problem;
    if (storage !== undefined) reasons.push(storage);
    const loading = this.extensions?.loading?.() ?? [];
    if (loading.length > 0) reasons.push(`Extensions loading: ${loading.join(', ')}`);
    return reasons;
  }

  /** The spec's refusal; in development mode it also says which of the look-alike cases this is. */
  private unauthorizedPackage(namespace: string): BrokerError {
    const extensionName = !namespace.startsWith('_') && !RESERVED_SECTIONS.has(namespace);
    const why = extensionName ? this.extensions?.explainRefusal?.(namespace, Object.hasOwn(this.sections, namespace)) : undefined;
    if (!why) return new BrokerError('PERMISSION_DENIED', 'Unauthorized package');
    return new BrokerError('PERMISSION_DENIED', `Unauthorized package: ${why.reason}`, why.stack !== undefined ? { stack: why.stack } : {});
  }

  private hasMethod(namespace: string, method: string): boolean {
    if (namespace === 'services') return (REGISTRY_METHODS as readonly string[]).includes(method);
    if (namespace === 'ping') return PING_METHODS.includes(method);
    return this.extensions?.hasMethod(namespace, method) ?? false;
  }

  /** A legacy-style call `/{namespace}/{Method}` with its parameters. */
  async dispatch(ctx: CallContext, namespace: string, method: string, params: Params, signal?: AbortSignal): Promise<DispatchResult> {
    this.authorize(ctx, namespace, method);
    if (namespace === 'ping') return { kind: 'ping', ping: this.pingUnchecked(ctx, params.data) };
    if (namespace !== 'services') return { kind: 'extension', response: await this.executeUnchecked(ctx, namespace, method, params) };
    switch (method as RegistryMethod) {
      case 'Delete':
        await this.deleteUnchecked(params.name, { ifRevision: params.if_revision });
        return { kind: 'deleted' };
      case 'Get':
      case 'List':
        return { kind: 'entry', ...(await this.getUnchecked(params.name)) };
      case 'KeepAlive':
        return { kind: 'entry', ...(await this.keepAliveUnchecked(params.name)) };
      case 'Watch': {
        const request = { name: params.name, prefix: params.prefix, after: params.revision };
        return { kind: 'watch', batch: await this.waitUnchecked(request, waitOf(params.wait), signal) };
      }
      default:
        return { kind: 'entry', ...(await this.write(ctx, method as WriteMethod, params.name, params.data, { ifRevision: params.if_revision, ttl: params.ttl })) };
    }
  }

  register(ctx: CallContext, name: string | undefined, data: string | undefined, opts: WriteOptions = {}): Promise<EntryResult> {
    this.authorize(ctx, 'services', 'Register');
    return this.write(ctx, 'Register', name, data, opts);
  }

  replace(ctx: CallContext, name: string | undefined, data: string | undefined, opts: WriteOptions = {}): Promise<EntryResult> {
    this.authorize(ctx, 'services', 'Replace');
    return this.write(ctx, 'Replace', name, data, opts);
  }

  update(ctx: CallContext, name: string | undefined, data: string | undefined, opts: WriteOptions = {}): Promise<EntryResult> {
    this.authorize(ctx, 'services', 'Update');
    return this.write(ctx, 'Update', name, data, opts);
  }

  get(ctx: CallContext, name: string | undefined): Promise<EntryResult> {
    this.authorize(ctx, 'services', 'Get');
    return this.getUnchecked(name);
  }

  async delete(ctx: CallContext, name: string | undefined, opts: Pick<WriteOptions, 'ifRevision'> = {}): Promise<boolean> {
    this.authorize(ctx, 'services', 'Delete');
    return this.deleteUnchecked(name, opts);
  }

  /** Renews an entry's lease: the entry, with its full TTL; NOT_FOUND when absent or without a lease. */
  keepAlive(ctx: CallContext, name: string | undefined): Promise<EntryResult> {
    this.authorize(ctx, 'services', 'KeepAlive');
    return this.keepAliveUnchecked(name);
  }

  /**
   * A watch of one name or a prefix, from just after `after` (default: the newest revision, so only what
   * changes from now). OUT_OF_RANGE when that revision is compacted. The caller pulls batches and closes it.
   */
  watch(ctx: CallContext, request: WatchRequest): StoreWatch {
    this.authorize(ctx, 'services', 'Watch');
    return this.watchUnchecked(request);
  }

  /** One long-poll: the events after the revision, as soon as there is one, or none after `waitMs`. */
  waitForEvents(ctx: CallContext, request: WatchRequest, waitMs: number, signal?: AbortSignal): Promise<WatchBatch> {
    this.authorize(ctx, 'services', 'Watch');
    return this.waitUnchecked(request, waitMs, signal);
  }

  /** Entries whose name starts with `prefix`, in name order, a page at a time. */
  async list(ctx: CallContext, prefix: string, after: string, pageSize: number): Promise<ListPage> {
    this.authorize(ctx, 'services', 'List');
    const size = Math.min(Math.max(pageSize > 0 ? pageSize : 100, 1), 1000);
    const { entries, more } = await this.registry.list(prefix, after, size, this.limits.maxPageBytes);
    // Leased entries' time left: etcd answers each in a round trip, all at once; unleased ones cost nothing.
    return { entries: await Promise.all(entries.map((e) => this.withLease(e))), nextAfter: more ? entries.at(-1)!.name : '' };
  }

  ping(ctx: CallContext, data: string | undefined): PingResult {
    this.authorize(ctx, 'ping', 'Ping');
    return this.pingUnchecked(ctx, data);
  }

  async execute(ctx: CallContext, namespace: string, method: string, params: Params): Promise<ExtensionResponse> {
    this.authorize(ctx, namespace, method);
    return this.executeUnchecked(ctx, namespace, method, params);
  }

  /** Whether discovery should answer for this name: an entry exists, and it is not a setting. */
  discoverable(name: string): boolean {
    return name !== '' && !name.startsWith('_') && this.registry.has(name);
  }

  private pingUnchecked(ctx: CallContext, data: string | undefined): PingResult {
    const problem = this.registry.problem;
    return { src: ctx.clientIp, dataJson: parseAnyJson(data), ...(problem !== undefined ? { registryProblem: problem } : {}) };
  }

  private executeUnchecked(ctx: CallContext, namespace: string, method: string, params: Params): Promise<ExtensionResponse> {
    if (!this.extensions) throw new BrokerError('PERMISSION_DENIED', 'Unauthorized package');
    return this.extensions.call({ namespace, method, qs: params, requestingHost: ctx.clientIp, request: ctx.request });
  }

  private checkName(name: string | undefined): string {
    if (name === undefined || name.trim() === '') throw new BrokerError('INVALID_ARGUMENT', 'Missing name parameter');
    if (name.startsWith('_')) throw new BrokerError('INVALID_ARGUMENT', `Reserved name ${name}`);
    if (name.length > this.limits.maxNameLength) {
      throw new BrokerError('INVALID_ARGUMENT', `Name too long: at most ${this.limits.maxNameLength} characters`);
    }
    return name;
  }

  private checkData(data: string | undefined): EntryData {
    // A blank `data=` counts as missing, like a blank name (old clients' query parsing dropped blank values).
    if (data === undefined || data === '') throw new BrokerError('INVALID_ARGUMENT', 'Missing data parameter');
    const value = parseEntryData(data);
    for (const reserved of ['last_write_ip', 'last_write_ts']) {
      if (value.members.some((m) => m.name === reserved)) throw new BrokerError('INVALID_ARGUMENT', `Used reserved data name ${reserved}`);
    }
    return value;
  }

  private async getUnchecked(rawName: string | undefined): Promise<EntryResult> {
    const name = this.checkName(rawName);
    const entry = await this.registry.get(name);
    if (!entry) throw notFound(name);
    return this.withLease(entry);
  }

  private async keepAliveUnchecked(rawName: string | undefined): Promise<EntryResult> {
    const name = this.checkName(rawName);
    const kept = await this.registry.keepAlive(name);
    if (!kept) throw notFound(name);
    return { entry: kept.entry, ttl: kept.ttl };
  }

  private watchUnchecked(request: WatchRequest): StoreWatch {
    const filter: WatchFilter =
      request.name !== undefined && request.name !== '' ? { name: this.checkName(request.name) } : { prefix: checkPrefix(request.prefix) };
    const after = request.after === undefined || request.after === '' ? undefined : revisionOf(request.after);
    return this.registry.watch(filter, after);
  }

  private async waitUnchecked(request: WatchRequest, waitMs: number, signal?: AbortSignal): Promise<WatchBatch> {
    const watcher = this.watchUnchecked(request);
    const stop = (): void => watcher.close();
    if (signal?.aborted) stop();
    signal?.addEventListener('abort', stop, { once: true });
    try {
      return await watcher.next(waitMs);
    } finally {
      signal?.removeEventListener('abort', stop);
      watcher.close();
    }
  }

  /** The entry with its lease's time left; no promise for an entry without a lease (most reads: a hot path). */
  private withLease(entry: Entry): EntryResult | Promise<EntryResult> {
    if (!entry.ttl) return { entry };
    return this.registry.leaseLeft(entry).then((ttl) => (ttl === undefined ? { entry } : { entry, ttl }));
  }

  private async write(ctx: CallContext, method: WriteMethod, rawName: string | undefined, rawData: string | undefined, opts: WriteOptions): Promise<EntryResult> {
    const name = this.checkName(rawName);
    // Validate everything before touching the registry: a rejected write changes nothing.
    const data = this.checkData(rawData);
    const ifRevision = ifRevisionOf(opts.ifRevision);
    const ttl = ttlOf(opts.ttl);
    const fresh = method === 'Replace';
    // The store runs this against the entry as it is, with no other write in between (etcd: again, when
    // another writer got there first), so it must decide from `existing` alone.
    const entry = await this.registry.write(name, (existing) => {
      checkRevision(name, existing, ifRevision);
      if (method === 'Register' && existing) throw new BrokerError('ALREADY_EXISTS', `Entry '${name}' already exists`);
      const ts = nowSeconds();
      // An Update of an existing entry merges member texts: no value is parsed or re-serialized, so none changes.
      const base = method === 'Update' ? existing : undefined;
      const { json, members } = base
        ? patchEntry(base.json, data.members, ctx.clientIp, ts)
        : { json: makeEntryJson(data.json, ctx.clientIp, ts), members: data.members.length };
      checkFits(this.registry.budget, this.limits, name, json, members);
      // Replace starts a new entry (a new create revision) in one write, never delete + register.
      return { json, ip: ctx.clientIp, ts, fresh, ttl, ...(base ? { patch: data.json } : {}) };
    });
    return this.withLease(entry);
  }

  private async deleteUnchecked(rawName: string | undefined, opts: Pick<WriteOptions, 'ifRevision'>): Promise<boolean> {
    const name = this.checkName(rawName);
    const ifRevision = ifRevisionOf(opts.ifRevision);
    return this.registry.delete(name, (existing) => checkRevision(name, existing, ifRevision));
  }
}

function notFound(name: string): BrokerError {
  return new BrokerError('NOT_FOUND', `Entry '${name}' not found`);
}

/** A watched prefix: any text, empty for every entry; a watch needs a name or a prefix. */
function checkPrefix(prefix: string | undefined): string {
  if (prefix === undefined) throw new BrokerError('INVALID_ARGUMENT', 'Missing name or prefix parameter');
  return prefix;
}
