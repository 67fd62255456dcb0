import { RESERVED_SECTIONS, type Sections } from '../config/defaults.js';
import type { Entry } from '../registry/Entry.js';
import type { Registry } from '../registry/Registry.js';
import { accessKeyMatches } from './accessKey.js';
import { BrokerError } from './BrokerError.js';
import { makeEntryJson, patchEntry } from './entryJson.js';
import type { CallContext, DispatchResult, ExtensionResponse, ExtensionRunner, Params, PingResult } from './types.js';
import { nowSeconds, parseAnyJson, parseEntryData, type EntryData } from './values.js';

/** The registry methods of the `services` namespace, as the legacy API names them. */
export const REGISTRY_METHODS = ['Register', 'Replace', 'Update', 'Get', 'List', 'Delete'] as const;
export type RegistryMethod = (typeof REGISTRY_METHODS)[number];
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
  entries: Entry[];
  /** Pass back as `after` for the next page; empty when this was the last page. */
  nextAfter: string;
}

/**
 * Every operation of the broker, once. Transports translate their requests into these calls and map the
 * BrokerError they may throw; nothing here knows about HTTP, gRPC or UDP.
 */
export class Broker {
  private extensions: ExtensionRunner | undefined;

  constructor(
    readonly registry: Registry,
    private sections: Sections,
    private readonly limits: BrokerLimits,
  ) {}

  attachExtensions(runner: ExtensionRunner): void {
    this.extensions = runner;
  }

  get settings(): Sections {
    return this.sections;
  }

  /** Callable namespaces: `services`, `ping`, and enabled extensions (a config section naming a loaded extension). */
  isCallable(namespace: string): boolean {
    if (namespace === 'services' || namespace === 'ping') return true;
    if (namespace.startsWith('_') || RESERVED_SECTIONS.has(namespace)) return false;
    return Object.hasOwn(this.sections, namespace) && (this.extensions?.hasNamespace(namespace) ?? false);
  }

  /** The legacy check order, first failure wins: namespace, access key, method. */
  authorize(ctx: CallContext, namespace: string, method: string): void {
    if (!this.isCallable(namespace)) throw new BrokerError('PERMISSION_DENIED', 'Unauthorized package');
    if (!ctx.trusted) {
      const expected = this.sections[namespace]?._access_key;
      if (typeof expected === 'string' && expected !== '' && !accessKeyMatches(expected, ctx.accessKey)) {
        throw new BrokerError('UNAUTHENTICATED', 'Incorrect access key');
      }
    }
    if (method.startsWith('_') || !this.hasMethod(namespace, method)) throw new BrokerError('PERMISSION_DENIED', 'Unauthorized method');
  }

  private hasMethod(namespace: string, method: string): boolean {
    if (namespace === 'services') return (REGISTRY_METHODS as readonly string[]).includes(method);
    if (namespace === 'ping') return PING_METHODS.includes(method);
    return this.extensions?.hasMethod(namespace, method) ?? false;
  }

  /** A legacy-style call `/{namespace}/{Method}` with its parameters. */
  async dispatch(ctx: CallContext, namespace: string, method: string, params: Params): Promise<DispatchResult> {
    this.authorize(ctx, namespace, method);
    if (namespace === 'ping') return { kind: 'ping', ping: this.pingUnchecked(ctx, params.data) };
    if (namespace === 'services') {
      const m = method as RegistryMethod;
      if (m === 'Delete') {
        await this.deleteUnchecked(params.name);
        return { kind: 'deleted' };
      }
      return { kind: 'entry', entry: await this.registryOp(ctx, m, params.name, params.data) };
    }
    return { kind: 'extension', response: await this.executeUnchecked(ctx, namespace, method, params) };
  }

  register(ctx: CallContext, name: string | undefined, data: string | undefined): Promise<Entry> {
    this.authorize(ctx, 'services', 'Register');
    return this.registryOp(ctx, 'Register', name, data);
  }

  replace(ctx: CallContext, name: string | undefined, data: string | undefined): Promise<Entry> {
    this.authorize(ctx, 'services', 'Replace');
    return this.registryOp(ctx, 'Replace', name, data);
  }

  update(ctx: CallContext, name: string | undefined, data: string | undefined): Promise<Entry> {
    this.authorize(ctx, 'services', 'Update');
    return this.registryOp(ctx, 'Update', name, data);
  }

  get(ctx: CallContext, name: string | undefined): Promise<Entry> {
    this.authorize(ctx, 'services', 'Get');
    return this.registryOp(ctx, 'Get', name, undefined);
  }

  async delete(ctx: CallContext, name: string | undefined): Promise<boolean> {
    this.authorize(ctx, 'services', 'Delete');
    return this.deleteUnchecked(name);
  }

  /** Entries whose name starts with `prefix`, in name order, a page at a time. */
  async list(ctx: CallContext, prefix: string, after: string, pageSize: number): Promise<ListPage> {
    this.authorize(ctx, 'services', 'List');
    const size = Math.min(Math.max(pageSize > 0 ? pageSize : 100, 1), 1000);
    const { entries, more } = await this.registry.list(prefix, after, size, this.limits.maxPageBytes);
    return { entries, nextAfter: more ? entries.at(-1)!.name : '' };
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
    return { src: ctx.clientIp, dataJson: parseAnyJson(data) };
  }

  private executeUnchecked(ctx: CallContext, namespace: string, method: string, params: Params): Promise<ExtensionResponse> {
    if (!this.extensions) throw new BrokerError('PERMISSION_DENIED', 'Unauthorized package');
    return this.extensions.call({ namespace, method, qs: params, requestingHost: ctx.clientIp });
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

  private async registryOp(ctx: CallContext, method: Exclude<RegistryMethod, 'Delete'>, rawName: string | undefined, rawData: string | undefined): Promise<Entry> {
    const name = this.checkName(rawName);
    if (method === 'Get' || method === 'List') {
      const entry = await this.registry.get(name);
      if (!entry) throw new BrokerError('NOT_FOUND', `Entry '${name}' not found`);
      return entry;
    }
    // Validate everything before touching the registry: a rejected write changes nothing. From here to the
    // put there is no await, so no other write can slip between the existence check and the write.
    const data = this.checkData(rawData);
    const existing = this.registry.peek(name);
    if (method === 'Register' && existing) throw new BrokerError('ALREADY_EXISTS', `Entry '${name}' already exists`);
    const ts = nowSeconds();
    // An Update of an existing entry merges member texts: no value is parsed or re-serialized, so none changes.
    const base = method === 'Update' ? existing : undefined;
    const { json, members } = base
      ? patchEntry(base.json, data.members, ctx.clientIp, ts)
      : { json: makeEntryJson(data.json, ctx.clientIp, ts), members: data.members.length };
    if (members > this.limits.maxEntryMembers) {
      throw new BrokerError('RESOURCE_EXHAUSTED', `Entry has too many members: at most ${this.limits.maxEntryMembers}`, { httpStatus: 413 });
    }
    if (Buffer.byteLength(json) > this.limits.maxEntryBytes) {
      throw new BrokerError('RESOURCE_EXHAUSTED', `Entry too large: at most ${this.limits.maxEntryBytes} bytes`, { httpStatus: 413 });
    }
    const total = this.registry.totalBytesWith(name, json);
    // A write that does not grow the registry is let through, so a registry over a lowered budget can shrink.
    if (total > this.limits.maxRegistryBytes && total > this.registry.totalBytes) {
      throw new BrokerError('RESOURCE_EXHAUSTED', 'Registry full', { httpStatus: 507 });
    }
    // Replace is one journal record that starts a new entry (a new create revision), never delete + register.
    const { durable } = this.registry.put(name, json, ctx.clientIp, ts, { fresh: method === 'Replace', ...(base ? { patch: data.json } : {}) });
    try {
      return await durable;
    } catch (err) {
      throw BrokerError.from(err);
    }
  }

  private async deleteUnchecked(rawName: string | undefined): Promise<boolean> {
    const name = this.checkName(rawName);
    try {
      return await this.registry.delete(name);
    } catch (err) {
      throw BrokerError.from(err);
    }
  }
}
