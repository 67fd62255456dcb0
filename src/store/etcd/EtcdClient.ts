import type { KeyValue } from '../../../generated/etcd/mvccpb/kv.js';
import {
  type AuthDisableResponse,
  type AuthEnableResponse,
  type AuthRoleAddResponse,
  type AuthRoleGrantPermissionResponse,
  type AuthUserAddResponse,
  type AuthUserGrantRoleResponse,
  type CompactionResponse,
  type DeleteRangeResponse,
  type LeaseGrantResponse,
  type LeaseRevokeResponse,
  type LeaseTimeToLiveResponse,
  type PutResponse,
  type RangeResponse,
  type TxnResponse,
  type Compare,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  type RequestOp,
  type ResponseOp,
} from '../../../generated/etcd/etcdserverpb/rpc.js';
import { Permission_Type } from '../../../generated/etcd/authpb/auth.js';
import { EtcdCaller } from './EtcdCaller.js';
import { EtcdEndpoints } from './EtcdEndpoints.js';
import { EtcdError } from './EtcdError.js';
import { EtcdKeepAlive, type KeptLease } from './EtcdKeepAlive.js';
import { DEFAULT_DEADLINE_MS, type EtcdOptions } from './EtcdOptions.js';
import type { EtcdWatch, EtcdWatchOptions } from './EtcdWatch.js';
import { EtcdWatches } from './EtcdWatchStream.js';
import { type Bytes, bytes, keyAfter, prefixEnd } from './keys.js';

export type { KeyValue, KeptLease };

export interface RangeOptions {
  /** Every key that starts with the given key. */
  prefix?: boolean;
  /** [key, rangeEnd) instead of `prefix`. */
  rangeEnd?: Bytes;
  /** At most this many keys (0: all). */
  limit?: number;
  /** The store as it was at this revision (0: now). */
  revision?: number;
  keysOnly?: boolean;
  countOnly?: boolean;
}

export interface RangeResult {
  kvs: KeyValue[];
  /** More keys match than `limit` returned. */
  more: boolean;
  /** How many keys match in all. */
  count: number;
  /** The store's revision the range was read at. */
  revision: number;
}

export interface TxnResult {
  succeeded: boolean;
  revision: number;
  responses: ResponseOp[];
}

/**
 * A typed etcd v3 client over grpc-js and etcd's own protos (proto/etcd): KV, Txn, Watch, Lease and Auth, with one
 * deadline per call, failover between members, and one error type (EtcdError). Keys and values are bytes; strings
 * are UTF-8. Lease IDs are decimal strings (etcd uses all 63 bits, past what a JS number holds exactly).
 */
export class EtcdClient {
  private readonly caller: EtcdCaller;
  private readonly watches: EtcdWatches;
  private readonly keepAlives: EtcdKeepAlive;

  constructor(opts: EtcdOptions) {
    const deadlineMs = opts.deadlineMs ?? DEFAULT_DEADLINE_MS;
    const credentials = opts.username ? { username: opts.username, password: opts.password ?? '' } : undefined;
    this.caller = new EtcdCaller(new EtcdEndpoints(opts), deadlineMs, credentials);
    this.watches = new EtcdWatches(this.caller);
    this.keepAlives = new EtcdKeepAlive(this.caller, deadlineMs);
  }

  // --- KV ---

  async range(key: Bytes, opts: RangeOptions = {}): Promise<RangeResult> {
    const request = RangeRequest.fromPartial({
      key: bytes(key),
      rangeEnd: rangeEndOf(key, opts),
      limit: opts.limit ?? 0,
      revision: opts.revision ?? 0,
      keysOnly: opts.keysOnly ?? false,
      countOnly: opts.countOnly ?? false,
    });
    const r = await this.caller.call<RangeResponse>('range', (ep, m, o, done) => ep.kv.range(request, m, o, done), { read: true });
    return { kvs: r.kvs, more: r.more, count: r.count, revision: r.header?.revision ?? 0 };
  }

  /** The key's current value and revisions, or undefined. */
  async get(key: Bytes): Promise<KeyValue | undefined> {
    return (await this.range(key)).kvs[0];
  }

  /**
   * Every key of a range, `pageSize` keys per call, all read at the revision of the first page (a consistent
   * snapshot even while others write, as long as that revision is not compacted meanwhile).
   */
  async *pages(key: Bytes, opts: { prefix?: boolean; rangeEnd?: Bytes; pageSize?: number } = {}): AsyncGenerator<KeyValue[]> {
    const rangeEnd = rangeEndOf(key, opts);
    let from = bytes(key);
    let revision = 0;
    for (;;) {
      const page = await this.range(from, { rangeEnd, limit: opts.pageSize ?? 500, revision });
      revision = page.revision;
      if (page.kvs.length > 0) yield page.kvs;
      const last = page.kvs[page.kvs.length - 1];
      if (!page.more || !last) return;
      from = keyAfter(last.key);
    }
  }

  async put(key: Bytes, value: Bytes, opts: { lease?: string; prevKv?: boolean } = {}): Promise<{ revision: number; prevKv: KeyValue | undefined }> {
    const request = PutRequest.fromPartial({ key: bytes(key), value: bytes(value), lease: opts.lease ?? '0', prevKv: opts.prevKv ?? false });
    const r = await this.caller.call<PutResponse>('put', (ep, m, o, done) => ep.kv.put(request, m, o, done));
    return { revision: r.header?.revision ?? 0, prevKv: r.prevKv };
  }

  async delete(key: Bytes, opts: { prefix?: boolean; rangeEnd?: Bytes; prevKv?: boolean } = {}): Promise<{ revision: number; deleted: number; prevKvs: KeyValue[] }> {
    const request = DeleteRangeRequest.fromPartial({ key: bytes(key), rangeEnd: rangeEndOf(key, opts), prevKv: opts.prevKv ?? false });
    const r = await this.caller.call<DeleteRangeResponse>('delete', (ep, m, o, done) => ep.kv.deleteRange(request, m, o, done));
    return { revision: r.header?.revision ?? 0, deleted: r.deleted, prevKvs: r.prevKvs };
  }

  /** If every `compare` holds, runs `then`, else `otherwise`; atomically, at one revision. Build them with txn.ts. */
  async txn(compares: Compare[], then: RequestOp[], otherwise: RequestOp[] = []): Promise<TxnResult> {
    const request = { compare: compares, success: then, failure: otherwise };
    const r = await this.caller.call<TxnResponse>('txn', (ep, m, o, done) => ep.kv.txn(request, m, o, done));
    return { succeeded: r.succeeded, revision: r.header?.revision ?? 0, responses: r.responses };
  }

  /**
   * The current value of each key, all at one revision, in one call: a Txn of Ranges only, which etcd serves as
   * a linearizable read (no log entry), so it is retried on another member as any read is.
   */
  async getMany(keys: Bytes[]): Promise<{ kvs: Array<KeyValue | undefined>; revision: number }> {
    const request = { compare: [], success: keys.map((k) => ({ requestRange: RangeRequest.fromPartial({ key: bytes(k) }) })), failure: [] };
    const r = await this.caller.call<TxnResponse>('txn', (ep, m, o, done) => ep.kv.txn(request, m, o, done), { read: true });
    return { kvs: r.responses.map((x) => x.responseRange?.kvs[0]), revision: r.header?.revision ?? 0 };
  }

  /** Drops the history before `revision`: watches and reads from older revisions get EtcdCompactedError / OUT_OF_RANGE. */
  async compact(revision: number, opts: { physical?: boolean } = {}): Promise<void> {
    await this.caller.call<CompactionResponse>('compact', (ep, m, o, done) => ep.kv.compact({ revision, physical: opts.physical ?? false }, m, o, done));
  }

  // --- Watch ---

  /** A watch on the client's one Watch stream; see EtcdWatch for what it delivers and how it ends. */
  watch(opts: EtcdWatchOptions): EtcdWatch {
    return this.watches.watch(opts);
  }

  /** Asks etcd for a progress notice (an empty batch at the current revision) on every watch. */
  requestWatchProgress(): Promise<void> {
    return this.watches.requestProgress();
  }

  // --- Lease ---

  async leaseGrant(ttlSeconds: number): Promise<{ id: string; ttl: number }> {
    const r = await this.caller.call<LeaseGrantResponse>('lease grant', (ep, m, o, done) => ep.lease.leaseGrant({ TTL: ttlSeconds, ID: '0' }, m, o, done));
    if (r.error) throw new EtcdError('INTERNAL', `Registry lease refused: ${r.error}`);
    return { id: r.ID, ttl: r.TTL };
  }

  /** Ends the lease now: etcd deletes every key attached to it. NOT_FOUND when it is already gone. */
  async leaseRevoke(id: string): Promise<void> {
    await this.caller.call<LeaseRevokeResponse>('lease revoke', (ep, m, o, done) => ep.lease.leaseRevoke({ ID: id }, m, o, done));
  }

  /** The lease's remaining and granted TTL in seconds (`ttl` -1 when the lease is gone) and, asked, its keys. */
  async leaseTimeToLive(id: string, opts: { keys?: boolean } = {}): Promise<{ ttl: number; grantedTtl: number; keys: Buffer[] }> {
    const r = await this.caller.call<LeaseTimeToLiveResponse>('lease ttl', (ep, m, o, done) => ep.lease.leaseTimeToLive({ ID: id, keys: opts.keys ?? false }, m, o, done), { read: true });
    return { ttl: r.TTL, grantedTtl: r.grantedTTL, keys: r.keys };
  }

  /** Refreshes the lease once (on the shared keep-alive stream); its new TTL, or NOT_FOUND when it is gone. */
  leaseKeepAliveOnce(id: string): Promise<number> {
    return this.keepAlives.refresh(id);
  }

  /** Keeps the lease alive until stopped; `lost` is called if etcd forgets it anyway. */
  leaseKeepAlive(id: string, ttlSeconds: number, lost?: (err: EtcdError) => void): KeptLease {
    return this.keepAlives.keep(id, ttlSeconds, lost);
  }

  // --- Auth administration (setting etcd up; the broker itself only logs in) ---

  async userAdd(name: string, password: string): Promise<void> {
    await this.caller.call<AuthUserAddResponse>('user add', (ep, m, o, done) => ep.auth.userAdd({ name, password, options: { noPassword: false } }, m, o, done));
  }

  async roleAdd(name: string): Promise<void> {
    await this.caller.call<AuthRoleAddResponse>('role add', (ep, m, o, done) => ep.auth.roleAdd({ name }, m, o, done));
  }

  /** Grants `role` read and write on every key under `prefix`. */
  async roleGrantPrefix(role: string, prefix: Bytes): Promise<void> {
    const perm = { permType: Permission_Type.READWRITE, key: bytes(prefix), rangeEnd: prefixEnd(prefix) };
    await this.caller.call<AuthRoleGrantPermissionResponse>('role grant', (ep, m, o, done) => ep.auth.roleGrantPermission({ name: role, perm }, m, o, done));
  }

  /** Grants `role` to `user` (the role "root" exists without being added). */
  async userGrantRole(user: string, role: string): Promise<void> {
    await this.caller.call<AuthUserGrantRoleResponse>('user grant', (ep, m, o, done) => ep.auth.userGrantRole({ user, role }, m, o, done));
  }

  /** Turns auth on (needs a user "root" with the role "root"). */
  async authEnable(): Promise<void> {
    await this.caller.call<AuthEnableResponse>('auth enable', (ep, m, o, done) => ep.auth.authEnable({}, m, o, done));
  }

  /** Turns auth off (as root); etcd forgets every token it gave. */
  async authDisable(): Promise<void> {
    await this.caller.call<AuthDisableResponse>('auth disable', (ep, m, o, done) => ep.auth.authDisable({}, m, o, done));
  }

  /** Ends every watch and keep-alive and closes the connections; later calls fail with UNAVAILABLE. */
  close(): void {
    this.watches.close();
    this.keepAlives.close();
    this.caller.close();
  }
}

function rangeEndOf(key: Bytes, opts: { prefix?: boolean; rangeEnd?: Bytes }): Buffer {
  if (opts.rangeEnd !== undefined) return bytes(opts.rangeEnd);
  return opts.prefix ? prefixEnd(key) : Buffer.alloc(0);
}
