/**
 * Client of the legacy HTTPS JSON API, speaking it as the old Python client did:
 * `POST https://HOST:PORT/{ns}/{Method}/?params` with an empty body. The certificate is not verified unless
 * a CA is given (old brokers use a self-signed one); connections are kept alive between calls.
 *
 * ```ts
 * const broker = new LegacyClient('10.0.0.5:20443', { accessKey: 'secret' });
 * const { data } = await broker.register('web-1', '{"ip": "10.0.0.7"}');
 * broker.close();
 * ```
 */
import { Agent, request } from 'node:https';

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
}

/** A registry call answered with an error, or a call that reached no broker. `status` is the HTTP status, if any. */
export class LegacyClientError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly response?: LegacyResponse,
  ) {
    super(message);
    this.name = 'LegacyClientError';
  }
}

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

  constructor(
    readonly address: string,
    private readonly opts: LegacyClientOptions = {},
  ) {
    ({ host: this.host, port: this.port } = parseHostPort(address));
    this.agent = new Agent({ keepAlive: true, maxSockets: 8, ca: opts.ca, rejectUnauthorized: opts.ca !== undefined });
  }

  /** Calls `/{ns}/{method}/` with `params` in the query string; resolves with whatever the broker answered. */
  call(ns: string, method: string, params: Record<string, string | undefined> = {}): Promise<LegacyResponse> {
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
          timeout: this.opts.timeoutMs ?? 30_000,
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

  /** `data` is sent as is (JSON text, or plain text stored as `_str`); without it the broker answers 400. */
  register(name: string, data?: string): Promise<RegistryResult> {
    return this.registry('Register', { name, data });
  }

  replace(name: string, data?: string): Promise<RegistryResult> {
    return this.registry('Replace', { name, data });
  }

  update(name: string, data?: string): Promise<RegistryResult> {
    return this.registry('Update', { name, data });
  }

  get(name: string): Promise<RegistryResult> {
    return this.registry('Get', { name });
  }

  delete(name: string): Promise<RegistryResult> {
    return this.registry('Delete', { name });
  }

  /** Calls an extension method (`ns.Method`); the response is returned whatever its status. */
  execute(ns: string, method: string, data?: string, params: Record<string, string> = {}): Promise<LegacyResponse> {
    return this.call(ns, method, { ...params, data });
  }

  /** Closes kept-alive connections, so the process can exit. */
  close(): void {
    this.agent.destroy();
  }

  /** A registry call: resolves on success, rejects with the broker's message otherwise. */
  private async registry(method: string, params: Record<string, string | undefined>): Promise<RegistryResult> {
    const response = await this.call('services', method, params);
    let reply: RegistryReply | undefined;
    try {
      const parsed = JSON.parse(response.body) as unknown;
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) reply = parsed as RegistryReply;
    } catch {
      /* not JSON: the status speaks */
    }
    if (response.status !== 200 || reply === undefined || reply.success !== true) {
      const message =
        typeof reply?.message === 'string' && reply.message !== ''
          ? reply.message
          : response.status !== 200
            ? `Response Error ${response.status}`
            : 'Unexpected answer from bpbroker (not a registry reply)';
      throw new LegacyClientError(message, response.status, response);
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

function isIp(host: string): boolean {
  return /^[0-9.]+$/.test(host) || host.includes(':');
}
