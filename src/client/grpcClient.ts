/**
 * Typed gRPC client for bpbroker, over the stubs generated from proto/bpbroker/v1.
 *
 * ```ts
 * import { connect } from 'bpbroker';
 * const broker = connect('10.0.0.5:20443', { ca: readFileSync('bpbroker.crt'), accessKey: 'secret' });
 * await broker.register('web-1', { ip: '10.0.0.7', port: 8080 }, { ttl: 10 });
 * const entry = await broker.get('web-1');   // entry.json, entry.lastWriteIp, entry.modRevision, entry.ttl, ...
 * await broker.update('web-1', { port: 8081 }, { ifRevision: entry.modRevision }); // only if nobody wrote since
 * for await (const batch of broker.watch({ prefix: 'web-' })) console.log(batch.events);
 * broker.close();
 * ```
 * Failed calls reject with grpc-js's ServiceError: `err.code` is a `grpc.status` (NOT_FOUND, ALREADY_EXISTS,
 * INVALID_ARGUMENT, FAILED_PRECONDITION, UNAUTHENTICATED, PERMISSION_DENIED, DEADLINE_EXCEEDED, ...),
 * `err.details` the message; `currentRevisionOf(err)` reads a refused compare-and-swap's current revision.
 */
import { isIP } from 'node:net';
import { checkServerIdentity } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { ExtensionServiceClient, type ExecuteResponse } from '../../generated/bpbroker/v1/extension.js';
import { PingServiceClient, type PingResponse } from '../../generated/bpbroker/v1/ping.js';
import { RegistryServiceClient, WatchEvent_Type, type Entry, type ListResponse, type WatchEvent } from '../../generated/bpbroker/v1/registry.js';
import { GRPC_WATCH_IDLE_MS, grpcWatchSource, isTransientGrpcFailure, type GrpcWatchBatch, type WatchTarget } from './grpcWatch.js';
import { LeaseKeeper, type KeepLeaseOptions } from './leaseKeeper.js';
import { ResumingWatch, type WatchOptions } from './resumingWatch.js';
import { RunningTasks } from './runningTasks.js';

export type { Entry, ExecuteResponse, ListResponse, PingResponse, WatchEvent, GrpcWatchBatch, WatchTarget, WatchOptions, KeepLeaseOptions };
export { WatchEvent_Type as WatchEventType };
export { status as GrpcStatus } from '@grpc/grpc-js';

export interface GrpcConnectOptions {
  /** PEM of the CA that signed the broker's certificate, or the broker's self-signed certificate itself. */
  ca?: Buffer | string;
  /** Accept any certificate (no chain or name check): encrypted but not authenticated, like the old clients. */
  insecureSkipVerify?: boolean;
  /** Name to check the certificate against when it differs from the host you dial (e.g. dialing by IP). */
  serverName?: string;
  /** Sent as `access-key` metadata on every call. */
  accessKey?: string;
  /** Default deadline of every call, in milliseconds (default 10000; 0 means none). */
  deadlineMs?: number;
}

/** Per-call overrides. */
export interface CallOptions {
  deadlineMs?: number;
  accessKey?: string;
  /** More metadata to send (an extension method reads them as its request headers). */
  metadata?: Record<string, string>;
}

/** JSON text as is (the broker applies the legacy rule: an object is stored as its members, else as `_str`), or an object. */
export type EntryData = string | Record<string, unknown>;

export interface ListOptions extends CallOptions {
  pageSize?: number;
  pageToken?: string;
}

/** Options of Register, Replace and Update. */
export interface WriteOptions extends CallOptions {
  /** A lease of this many seconds (1 to 86400): the entry is deleted when it runs out unrenewed; 0 removes it. */
  ttl?: number;
  /** Compare-and-swap: write only if the entry is at this revision (its modRevision; 0: only if absent). */
  ifRevision?: number;
}

/** Options of Delete. */
export interface DeleteOptions extends CallOptions {
  /** Compare-and-swap: delete only if the entry is at this revision. */
  ifRevision?: number;
}

export interface BrokerGrpcClient {
  /** A refused `ifRevision` rejects with FAILED_PRECONDITION; `currentRevisionOf(err)` is the entry's revision. */
  register(name: string, data: EntryData, opts?: WriteOptions): Promise<Entry>;
  replace(name: string, data: EntryData, opts?: WriteOptions): Promise<Entry>;
  update(name: string, data: EntryData, opts?: WriteOptions): Promise<Entry>;
  get(name: string, opts?: CallOptions): Promise<Entry>;
  /** Resolves to whether the entry existed. */
  delete(name: string, opts?: DeleteOptions): Promise<boolean>;
  /** Renews the entry's lease: the entry, `ttl` its full TTL. NOT_FOUND when it is absent or holds no lease. */
  keepAlive(name: string, opts?: CallOptions): Promise<Entry>;
  /**
   * Follows one entry or a prefix: batches of changes in revision order, and progress notifications
   * (`progress`, no events) when nothing changes. After a lost connection (UNAVAILABLE, a broker restart) it
   * reconnects by itself, with a growing delay, from the last revision it delivered: no change is missed or
   * repeated. It throws OUT_OF_RANGE (that revision is compacted: read the state with list() and watch from its
   * revision), RESOURCE_EXHAUSTED (the caller read too slowly) and any failure before the first batch. It ends
   * when `signal` aborts or on `return()` (a `break` out of `for await`).
   */
  watch(target: WatchTarget, opts?: WatchOptions & Pick<CallOptions, 'accessKey'>): ResumingWatch<GrpcWatchBatch>;
  /**
   * Renews the entry's lease in the background, every `everyMs` (default a third of its TTL), until stop().
   * `lost` resolves (and `onLost` is called) when the entry is gone, was created again by someone else, or no
   * renewal reached the broker for a whole TTL. `ready` resolves with the first renewal's entry.
   */
  keepLease(name: string, opts?: KeepLeaseOptions & Pick<CallOptions, 'accessKey'>): LeaseKeeper<Entry>;
  /** One page of entries whose name starts with `prefix`; pass `nextPageToken` back for the next one. */
  list(prefix?: string, opts?: ListOptions): Promise<ListResponse>;
  /** Every entry whose name starts with `prefix`, fetching page after page. */
  listAll(prefix?: string, opts?: ListOptions): AsyncIterable<Entry>;
  /** `json` of the response is the echoed data as JSON text; `src` the address the broker sees. */
  ping(data?: string, opts?: CallOptions): Promise<PingResponse>;
  /** Calls an extension method; `data` is the legacy `data` parameter, `params` any others. */
  execute(namespace: string, method: string, args?: { data?: string; params?: Record<string, string> }, opts?: CallOptions): Promise<ExecuteResponse>;
  /** Closes the connection; calls still running fail with CANCELLED, watches end and lease keepers stop. */
  close(): void;
}

/** KeepAlive failures that no retry can fix. */
const REFUSALS = new Set<unknown>([grpc.status.INVALID_ARGUMENT, grpc.status.UNAUTHENTICATED, grpc.status.PERMISSION_DENIED, grpc.status.UNIMPLEMENTED]);

/** Placeholder SNI name used when dialing an IP address (see tlsSettings). */
const IP_SNI_PLACEHOLDER = 'bpbroker';

/** The host part of `host:port`, `[v6]:port` or a bare host. */
function hostOf(address: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(address);
  if (bracketed) return bracketed[1]!;
  return isIP(address) ? address : address.replace(/:\d+$/, '');
}

function tlsSettings(address: string, opts: GrpcConnectOptions): { creds: grpc.ChannelCredentials; channelOptions: grpc.ChannelOptions } {
  const host = hostOf(address);
  // grpc-js sends the dialed host as SNI, and Node warns (DEP0123) for an IP address. Dialing by IP is the
  // common case for broker clients, so send a placeholder name instead and check the certificate against the IP.
  const byIp = !opts.serverName && isIP(host) !== 0;
  const channelOptions: grpc.ChannelOptions = opts.serverName
    ? { 'grpc.ssl_target_name_override': opts.serverName }
    : byIp
      ? { 'grpc.ssl_target_name_override': IP_SNI_PLACEHOLDER }
      : {};
  if (opts.insecureSkipVerify) {
    // rejectUnauthorized=false skips the chain check (grpc-js passes it to tls.connect and then does not
    // insist on socket.authorized); checkServerIdentity skips the name check.
    const creds = grpc.credentials.createSsl(null, null, null, { rejectUnauthorized: false, checkServerIdentity: () => undefined });
    return { creds, channelOptions };
  }
  const ca = opts.ca === undefined ? null : Buffer.isBuffer(opts.ca) ? opts.ca : Buffer.from(opts.ca);
  const verify = byIp ? { checkServerIdentity: (_name: string, cert: Parameters<typeof checkServerIdentity>[1]) => checkServerIdentity(host, cert) } : {};
  return { creds: grpc.credentials.createSsl(ca, null, null, verify), channelOptions };
}

/**
 * Opens a channel to the broker at `address` (`host:port`, e.g. `broker.local:20443`). The connection is made
 * lazily by the first call, so this never throws for an unreachable broker; the call fails with UNAVAILABLE.
 */
export function connect(address: string, opts: GrpcConnectOptions = {}): BrokerGrpcClient {
  const { creds, channelOptions } = tlsSettings(address, opts);
  const channel = new grpc.Channel(address, creds, channelOptions);
  const clientOptions: grpc.ClientOptions = { channelOverride: channel };
  const registry = new RegistryServiceClient(address, grpc.credentials.createInsecure(), clientOptions);
  const ping = new PingServiceClient(address, grpc.credentials.createInsecure(), clientOptions);
  const ext = new ExtensionServiceClient(address, grpc.credentials.createInsecure(), clientOptions);

  const defaultDeadline = opts.deadlineMs ?? 10_000;
  const running = new RunningTasks();
  const meta = (call: CallOptions | undefined): grpc.Metadata => {
    const m = new grpc.Metadata();
    for (const [name, value] of Object.entries(call?.metadata ?? {})) m.set(name, value);
    const key = call?.accessKey ?? opts.accessKey;
    if (key !== undefined) m.set('access-key', key);
    return m;
  };
  const callOpts = (call: CallOptions | undefined): Partial<grpc.CallOptions> => {
    const ms = call?.deadlineMs ?? defaultDeadline;
    return ms > 0 ? { deadline: Date.now() + ms } : {};
  };
  /** Adapts a generated callback-style method to a promise. */
  const invoke = <Req, Res>(
    fn: (req: Req, m: grpc.Metadata, o: Partial<grpc.CallOptions>, cb: (err: grpc.ServiceError | null, res: Res) => void) => grpc.ClientUnaryCall,
    req: Req,
    call: CallOptions | undefined,
  ): Promise<Res> =>
    new Promise((resolve, reject) => {
      fn(req, meta(call), callOpts(call), (err, res) => (err ? reject(err) : resolve(res)));
    });
  const text = (data: EntryData): string => (typeof data === 'string' ? data : JSON.stringify(data));
  const entryOf = (res: { entry?: Entry | undefined }): Entry => {
    if (!res.entry) throw new Error('bpbroker answered without an entry');
    return res.entry;
  };

  /** A write's request: ttl and if_revision only when given (absent and 0 mean different things). */
  const write = (name: string, data: EntryData, o: WriteOptions | undefined) => ({
    name,
    json: text(data),
    ...(o?.ttl !== undefined ? { ttl: o.ttl } : {}),
    ...(o?.ifRevision !== undefined ? { ifRevision: o.ifRevision } : {}),
  });

  const client: BrokerGrpcClient = {
    register: async (name, data, o) => entryOf(await invoke(registry.register.bind(registry), write(name, data, o), o)),
    replace: async (name, data, o) => entryOf(await invoke(registry.replace.bind(registry), write(name, data, o), o)),
    update: async (name, data, o) => entryOf(await invoke(registry.update.bind(registry), write(name, data, o), o)),
    get: async (name, o) => entryOf(await invoke(registry.get.bind(registry), { name }, o)),
    delete: async (name, o) =>
      (await invoke(registry.delete.bind(registry), { name, ...(o?.ifRevision !== undefined ? { ifRevision: o.ifRevision } : {}) }, o)).existed,
    keepAlive: async (name, o) => entryOf(await invoke(registry.keepAlive.bind(registry), { name }, o)),
    watch(target, o = {}) {
      // A watch has no deadline: it runs until the caller ends it.
      const open = (request: Parameters<typeof registry.watch>[0], m: grpc.Metadata) => registry.watch(request, m, {});
      const w = new ResumingWatch((after) => grpcWatchSource(open, meta(o), target, after), { idleMs: GRPC_WATCH_IDLE_MS, isTransient: isTransientGrpcFailure }, o);
      return running.add(w);
    },
    keepLease(name, o = {}) {
      return running.add(new LeaseKeeper<Entry>(
        name,
        {
          renew: (timeoutMs) => client.keepAlive(name, { ...(timeoutMs !== undefined ? { deadlineMs: timeoutMs } : {}), ...(o.accessKey !== undefined ? { accessKey: o.accessKey } : {}) }),
          info: (e) => ({ ttl: e.ttl, createRevision: e.createRevision }),
          classify: (err) => {
            const code = (err as { code?: unknown }).code;
            if (code === grpc.status.NOT_FOUND) return 'gone';
            return REFUSALS.has(code) ? 'refused' : 'transient';
          },
          describe: (err) => (err as { details?: string }).details || (err as Error).message || String(err),
        },
        o,
      ));
    },
    list: (prefix = '', o) => invoke(registry.list.bind(registry), { prefix, pageSize: o?.pageSize ?? 0, pageToken: o?.pageToken ?? '' }, o),
    async *listAll(prefix = '', o) {
      let pageToken = o?.pageToken ?? '';
      do {
        const page = await client.list(prefix, { ...o, pageToken });
        yield* page.entries;
        pageToken = page.nextPageToken;
      } while (pageToken !== '');
    },
    ping: (data = '', o) => invoke(ping.ping.bind(ping), { json: data }, o),
    execute: (namespace, method, args = {}, o) =>
      invoke(ext.execute.bind(ext), { namespace, method, params: args.params ?? {}, data: args.data ?? '' }, o),
    close() {
      running.stopAll();
      registry.close();
      ping.close();
      ext.close();
      channel.close();
    },
  };
  return client;
}
