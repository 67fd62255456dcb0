/**
 * Client of the legacy HTTPS JSON API, speaking it as the old Python client did:
 * `POST https://HOST:PORT/{ns}/{Method}/?params` with an empty body. The certificate is not verified unless
 * a CA is given (old brokers use a self-signed one); connections are kept alive between calls.
 *
 * ```ts
 * const broker = new LegacyClient('10.0.0.5:20443', { accessKey: 'secret' });
 * const { reply } = await broker.register('web-1', '{"ip": "10.0.0.7"}', { ttl: 10 });
 * await broker.update('web-1', '{"port": 80}', { ifRevision: reply.revision });
 * for await (const batch of broker.watch({ prefix: 'web-' })) console.log(batch.events);
 * broker.close();
 * ```
 */
import { Agent, request } from 'node:https';
import type { WatchTarget } from './grpcWatch.js';
import { LeaseKeeper, type KeepLeaseOptions } from './leaseKeeper.js';
import { legacyWatchSource, parseWatchAnswer, type LegacyWatchBatch } from './legacyWatch.js';
import { ResumingWatch, type WatchOptions } from './resumingWatch.js';
import { RunningTasks } from './runningTasks.js';

export const DEFAULT_PORT = 20443;

export interface LegacyClientOptions {
  /** PEM of the CA (or the broker's own certificate): when given, the certificate is verified. */
  ca?: string | Buffer;
  /** Sent as the `access_key` parameter of every call. */
  accessKey?: string;
  /** Whole-call time limit in milliseconds (default 30000). */
  timeoutMs?: number;
}

/** A raw answer of the broker. */
export interface LegacyResponse {
  status: number;
  statusMessage: string;
  contentType: string;
  body: string;
}

/** The body of a registry answer. */
export interface RegistryReply {
  success: boolean;
  message: string;
  data?: Record<string, unknown>;
  /** The entry's mod revision (entry answers of brokers that have revisions). */
  revision?: number;
  /** Seconds left on the entry's lease (its full TTL after a write with a TTL or a KeepAlive); absent: none. */
  ttl?: number;
}

/** Options of Register, Replace and Update. */
export interface LegacyWriteOptions {
  /** A lease of this many seconds (1 to 86400): the entry is deleted when it runs out unrenewed; 0 removes it. */
  ttl?: number | undefined;
  /** Compare-and-swap: write only if the entry is at this revision (0: only if it does not exist). */
  ifRevision?: number | undefined;
}

/** Per-call options of `call`. */
export interface LegacyCallOptions {
  /** Socket inactivity limit of this call, in milliseconds (default: the client's timeoutMs). */
  timeoutMs?: number | undefined;
  /** Aborting it cancels the call, which then rejects. */
  signal?: AbortSignal | undefined;
}

/** Options of one Watch long-poll. */
export interface LegacyPollOptions {
  /** Changes after this revision (default: only what changes from now on). */
  revision?: number | undefined;
  /** Seconds to wait for a change (default 30, at most 300; 0 answers at once). */
  wait?: number | undefined;
  signal?: AbortSignal | undefined;
}

/** A registry call answered with an error, or a call that reached no broker. `status` is the HTTP status, if any. */
export class LegacyClientError extends Error {
  /** After a refused compare-and-swap (409): the entry's current revision, 0 when it does not exist. */
  readonly revision?: number;

  constructor(
    message: string,
    readonly status?: number,
    readonly response?: LegacyResponse,
    revision?: number,
  ) {
    super(message);
    this.name = 'LegacyClientError';
    if (revision !== undefined) this.revision = revision;
  }
}

/** A long-poll's socket may stay silent for its whole wait: give it this much more before calling it dead. */
const POLL_GRACE_MS = 15_000;

/** Splits `HOST[:PORT]` (`[v6]:PORT` for IPv6); the port defaults to 20443. */
export function parseHostPort(hostPort: string, defaultPort = DEFAULT_PORT): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(hostPort) ?? /^([^:]*)(?::(\d+))?$/.exec(hostPort);
  const host = m?.[1] ?? '';
  const port = m?.[2] === undefined ? defaultPort : Number(m[2]);
  if (!m || host === '' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new LegacyClientError(`Invalid bpbroker address '${hostPort}': expected HOST or HOST:PORT`);
  }
  return { host, port };
}

export class LegacyClient {
  readonly host: string;
  readonly port: number;
  private readonly agent: Agent;
  private readonly running = new RunningTasks();

  constructor(
    readonly address: string,
    private readonly opts: LegacyClientOptions = {},
  ) {
    ({ host: this.host, port: this.port } = parseHostPort(address));
    this.agent = new Agent({ keepAlive: true, maxSockets: 8, ca: opts.ca, rejectUnauthorized: opts.ca !== undefined });
  }

  /** Calls `/{ns}/{method}/` with `params` in the query string; resolves with whatever the broker answered. */
  call(ns: string, method: string, params: Record<string, string | undefined> = {}, opts: LegacyCallOptions = {}): Promise<LegacyResponse> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined) qs.set(k, v);
    if (this.opts.accessKey !== undefined && !qs.has('access_key')) qs.set('access_key', this.opts.accessKey);
    const query = qs.toString();
    const path = `/${encodeURIComponent(ns)}/${encodeURIComponent(method)}/${query ? `?${query}` : ''}`;
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: this.host,
          port: this.port,
          method: 'POST',
          path,
          agent: this.agent,
          headers: { 'Content-Length': '0' },
          servername: isIp(this.host) ? undefined : this.host,
          timeout: opts.timeoutMs ?? this.opts.timeoutMs ?? 30_000,
          ...(opts.signal ? { signal: opts.signal } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (err) => reject(this.translate(err)));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              statusMessage: res.statusMessage ?? '',
              contentType: String(res.headers['content-type'] ?? ''),
              body: Buffer.concat(chunks).toString('utf8'),
            }),
          );
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', (err) => reject(this.translate(err)));
      req.end();
    });
  }

  ping(data?: string): Promise<LegacyResponse> {
    return this.call('ping', 'Ping', { data });
  }

  /**
   * `data` is sent as is (JSON text, or plain text stored as `_str`); without it the broker answers 400.
   * A refused `ifRevision` rejects with status 409 and the entry's current `revision`.
   */
  register(name: string, data?: string, opts: LegacyWriteOptions = {}): Promise<RegistryResult> {
    return this.registry('Register', { name, data, ...writeParams(opts) });
  }

  replace(name: string, data?: string, opts: LegacyWriteOptions = {}): Promise<RegistryResult> {
    return this.registry('Replace', { name, data, ...writeParams(opts) });
  }

  update(name: string, data?: string, opts: LegacyWriteOptions = {}): Promise<RegistryResult> {
    return this.registry('Update', { name, data, ...writeParams(opts) });
  }

  get(name: string): Promise<RegistryResult> {
    return this.registry('Get', { name });
  }

  delete(name: string, opts: Pick<LegacyWriteOptions, 'ifRevision'> = {}): Promise<RegistryResult> {
    return this.registry('Delete', { name, ...writeParams(opts) });
  }

  /** Renews the entry's lease; answers as Get, `reply.ttl` the full TTL. Rejects as Get does for an absent entry. */
  keepAlive(name: string, opts: LegacyCallOptions = {}): Promise<RegistryResult> {
    return this.registry('KeepAlive', { name }, opts);
  }

  /** One Watch long-poll: the changes after `revision` as soon as there is one, or none after `wait` seconds. */
  async watchOnce(target: WatchTarget, opts: LegacyPollOptions = {}): Promise<LegacyWatchBatch> {
    const wait = opts.wait ?? 30;
    const response = await this.call(
      'services',
      'Watch',
      { ...('name' in target ? { name: target.name } : { prefix: target.prefix }), revision: opts.revision?.toString(), wait: String(wait) },
      { timeoutMs: Math.min(wait, 300) * 1000 + POLL_GRACE_MS, signal: opts.signal },
    );
    const batch = response.status === 200 ? parseWatchAnswer(response.body) : undefined;
    if (batch === undefined) throw new LegacyClientError(failureMessage(response, parseReply(response.body)), response.status, response);
    return batch;
  }

  /**
   * Follows one entry or a prefix with successive long-polls of `pollSecs` (default 30): batches of changes in
   * revision order, and an empty batch (`progress`) for each poll that saw none, the first at once. A lost
   * connection (a broker restart) is retried with a growing delay from the last revision delivered, so no change
   * is missed or repeated. It throws a compacted start revision (410), other refusals, and any failure before
   * the first batch; it ends when `signal` aborts or on `return()`.
   */
  watch(target: WatchTarget, opts: WatchOptions & { pollSecs?: number } = {}): ResumingWatch<LegacyWatchBatch> {
    const pollSecs = opts.pollSecs ?? 30;
    const poll = (revision: number | undefined, wait: number, signal: AbortSignal) => this.watchOnce(target, { revision, wait, signal });
    const rules = { idleMs: Math.min(pollSecs, 300) * 1000 + 2 * POLL_GRACE_MS, isTransient: isTransientLegacyFailure };
    return this.running.add(new ResumingWatch((after) => legacyWatchSource(poll, after, pollSecs), rules, opts));
  }

  /**
   * Renews the entry's lease in the background, every `everyMs` (default a third of its TTL), until stop().
   * `lost` resolves (and `onLost` is called) when the entry is gone or no renewal reached the broker for a
   * whole TTL. (The legacy API does not tell create revisions, so unlike the gRPC keeper this one cannot tell
   * an entry created again by someone else from its own.)
   */
  keepLease(name: string, opts: KeepLeaseOptions = {}): LeaseKeeper<RegistryResult> {
    const keeper = new LeaseKeeper<RegistryResult>(
      name,
      {
        renew: (timeoutMs) => this.keepAlive(name, { timeoutMs }),
        info: (r) => ({ ttl: typeof r.reply.ttl === 'number' ? r.reply.ttl : 0 }),
        classify: (err) => {
          if (err instanceof LegacyClientError && err.status === 200) return 'gone'; // success:false: absent, or no lease
          return isTransientLegacyFailure(err) ? 'transient' : 'refused';
        },
        describe: (err) => (err as Error).message,
      },
      opts,
    );
    return this.running.add(keeper);
  }

  /** Calls an extension method (`ns.Method`); the response is returned whatever its status. */
  execute(ns: string, method: string, data?: string, params: Record<string, string> = {}): Promise<LegacyResponse> {
    return this.call(ns, method, { ...params, data });
  }

  /** Ends watches, stops lease keepers and closes kept-alive connections, so the process can exit. */
  close(): void {
    this.running.stopAll();
    this.agent.destroy();
  }

  /** A registry call: resolves on success, rejects with the broker's message otherwise. */
  private async registry(method: string, params: Record<string, string | undefined>, opts?: LegacyCallOptions): Promise<RegistryResult> {
    const response = await this.call('services', method, params, opts);
    const reply = parseReply(response.body);
    if (response.status !== 200 || reply === undefined || reply.success !== true) {
      const revision = response.status === 409 && typeof reply?.revision === 'number' ? reply.revision : undefined;
      throw new LegacyClientError(failureMessage(response, reply), response.status, response, revision);
    }
    return { reply, response };
  }

  private translate(err: Error): LegacyClientError {
    const code = (err as NodeJS.ErrnoException).code;
    const at = `bpbroker at ${this.address}`;
    switch (code) {
      case 'ECONNREFUSED':
        return new LegacyClientError(`Cannot connect to ${at}: connection refused (is the broker running on that port?)`);
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        return new LegacyClientError(`Cannot resolve bpbroker host '${this.host}'`);
      case 'ETIMEDOUT':
        return new LegacyClientError(`No answer from ${at}: timed out`);
      case 'EHOSTUNREACH':
      case 'ENETUNREACH':
        return new LegacyClientError(`Cannot reach ${at}: no route to host`);
      case 'ECONNRESET':
      case 'EPIPE':
        return new LegacyClientError(`Connection to ${at} was closed before it answered (is it a bpbroker?)`);
      default:
        return new LegacyClientError(`Cannot talk to ${at}: ${err.message}`);
    }
  }
}

export interface RegistryResult {
  reply: RegistryReply;
  /** The answer as received: its body keeps the broker's member order, which bpclient prints. */
  response: LegacyResponse;
}

function parseReply(body: string): RegistryReply | undefined {
  try {
    const parsed = JSON.parse(body) as unknown;
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as RegistryReply;
  } catch {
    /* not JSON: the status speaks */
  }
  return undefined;
}

function failureMessage(response: LegacyResponse, reply: RegistryReply | undefined): string {
  if (typeof reply?.message === 'string' && reply.message !== '') return reply.message;
  return response.status !== 200 ? `Response Error ${response.status}` : 'Unexpected answer from bpbroker (not a registry reply)';
}

function writeParams(opts: LegacyWriteOptions): Record<string, string | undefined> {
  return { ttl: opts.ttl?.toString(), if_revision: opts.ifRevision?.toString() };
}

/** Failures of the connection rather than answers: no answer at all, or a broker (or proxy) that is unavailable. */
export function isTransientLegacyFailure(err: unknown): boolean {
  if (!(err instanceof LegacyClientError)) return false;
  return err.status === undefined || err.status === 502 || err.status === 503 || err.status === 504;
}

function isIp(host: string): boolean {
  return /^[0-9.]+$/.test(host) || host.includes(':');
}
