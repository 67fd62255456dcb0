import * as grpc from '@grpc/grpc-js';
import type { AuthenticateResponse } from '../../../generated/etcd/etcdserverpb/rpc.js';
import type { EtcdEndpoint, EtcdEndpoints } from './EtcdEndpoints.js';
import { EtcdError, isServiceError, toEtcdError } from './EtcdError.js';

type Callback<R> = (err: grpc.ServiceError | null, res: R) => void;
/** One unary call on one member, in grpc-js's callback style (what the generated clients offer). */
export type Invoke<R> = (ep: EtcdEndpoint, meta: grpc.Metadata, opts: Partial<grpc.CallOptions>, done: Callback<R>) => void;

/** The failures after which a call certainly did not reach etcd's log, so it can go to the next member. */
const NOT_SENT = /^No connection established|etcdserver: no leader|etcdserver: not capable/;
/**
 * etcd dropped or does not know the token, or wants one now (auth was turned on): log in again and repeat (the
 * request was refused, not applied).
 */
export const STALE_TOKEN = /invalid auth token|auth store is old|user name is empty/;
/** Credentials are set but etcd has auth turned off: calls go without a token (an empty one) until it asks. */
const AUTH_OFF = /authentication is not enabled/;

export interface CallOptions {
  /** The call only reads: repeating it on another member after any UNAVAILABLE is harmless. */
  read?: boolean;
  /** Sent without a token (the login call itself). */
  anonymous?: boolean;
}

/**
 * Runs unary calls: one deadline for the whole call (2 s default), failover to the next member when the current one
 * does not answer, the auth token as `token` metadata, renewed once when etcd no longer accepts it.
 */
export class EtcdCaller {
  private token: Promise<string> | undefined;
  private tokenValue: string | undefined;
  private closed = false;

  constructor(
    readonly endpoints: EtcdEndpoints,
    private readonly deadlineMs: number,
    private readonly credentials: { username: string; password: string } | undefined,
  ) {}

  async call<R>(what: string, invoke: Invoke<R>, opts: CallOptions = {}): Promise<R> {
    const deadline = Date.now() + this.deadlineMs;
    // Each member once, and one more: a connection that drops under a call is set up again by the next try, so a
    // single endpoint (one member, or a load balancer) survives a dropped connection too.
    let tries = this.endpoints.count + 1;
    let relogged = false;
    for (;;) {
      if (this.closed) throw new EtcdError('UNAVAILABLE', 'Registry unavailable: the etcd client is closed');
      const ep = this.endpoints.current();
      const token = opts.anonymous ? undefined : await this.currentToken();
      try {
        return await once(invoke, ep, metadataWith(token), deadline);
      } catch (err) {
        if (!isServiceError(err)) throw toEtcdError(err, ep.address);
        const details = err.details || err.message;
        if (token !== undefined && !relogged && STALE_TOKEN.test(details)) {
          relogged = true;
          this.dropToken(token);
          continue;
        }
        const lost = err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.DEADLINE_EXCEEDED;
        if (lost) {
          this.endpoints.failover(ep);
          tries -= 1;
          const retry = (opts.read || NOT_SENT.test(details)) && err.code === grpc.status.UNAVAILABLE && tries > 0 && Date.now() < deadline;
          if (retry) continue;
        }
        const failure = toEtcdError(err, `${ep.address} (${what})`);
        failure.mayBeApplied = !opts.read && (lost || err.code === grpc.status.CANCELLED) && !NOT_SENT.test(details);
        throw failure;
      }
    }
  }

  /** Metadata for a stream (watch, keepalive): the token when etcd wants one. */
  async metadata(): Promise<{ meta: grpc.Metadata; token: string | undefined }> {
    const token = await this.currentToken();
    return { meta: metadataWith(token), token };
  }

  /** Forgets `token` (etcd refused it); the next call logs in again. */
  dropToken(token: string): void {
    if (this.tokenValue === token) {
      this.token = undefined;
      this.tokenValue = undefined;
    }
  }

  close(): void {
    this.closed = true;
    this.endpoints.close();
  }

  private currentToken(): Promise<string | undefined> {
    if (!this.credentials) return Promise.resolve(undefined);
    const { username, password } = this.credentials;
    if (!this.token) {
      const login = this.call<AuthenticateResponse>('login', (ep, meta, o, done) => ep.auth.authenticate({ name: username, password }, meta, o, done), { anonymous: true });
      const token = login.then(
        (r) => r.token,
        (err: EtcdError) => {
          if (AUTH_OFF.test(err.details ?? '')) return '';
          throw err;
        },
      );
      token.then((t) => {
        this.tokenValue = t;
      }, () => undefined);
      this.token = token;
      // A failed login is tried again by the next call.
      token.catch(() => {
        if (this.token === token) this.token = undefined;
      });
    }
    return this.token;
  }
}

function metadataWith(token: string | undefined): grpc.Metadata {
  const meta = new grpc.Metadata();
  if (token) meta.set('token', token); // none, or '' while etcd has auth off
  return meta;
}

function once<R>(invoke: Invoke<R>, ep: EtcdEndpoint, meta: grpc.Metadata, deadline: number): Promise<R> {
  return new Promise<R>((resolve, reject) => invoke(ep, meta, { deadline }, (err, res) => (err ? reject(err) : resolve(res))));
}
