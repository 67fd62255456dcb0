import type { ClientDuplexStream } from '@grpc/grpc-js';
import * as grpc from '@grpc/grpc-js';
import { WatchCreateRequest, type WatchRequest, type WatchResponse } from '../../../generated/etcd/etcdserverpb/rpc.js';
import { type EtcdCaller, STALE_TOKEN } from './EtcdCaller.js';
import type { EtcdEndpoint } from './EtcdEndpoints.js';
import { EtcdCompactedError, EtcdError, etcdErrorOf, isServiceError, toEtcdError } from './EtcdError.js';
import { EtcdWatch, type EtcdWatchOptions } from './EtcdWatch.js';
import { bytes, prefixEnd } from './keys.js';

/** etcd's watch_id of an answer that belongs to no single watch (a failed create, a requested progress notice). */
const NO_WATCH = -1;

/**
 * One gRPC Watch stream to one member, carrying any number of watches (etcd multiplexes them by watch_id; we pick
 * the ids, so a watch knows its id before etcd answers). etcd answers creates in the order they were sent.
 */
class WatchStream {
  readonly watches = new Map<number, EtcdWatch>();
  private readonly creating: { watch: EtcdWatch; request: WatchCreateRequest; retried: boolean }[] = [];
  /** No new watches go here (its token went stale, or it broke); it ends when its last watch does. */
  retired = false;
  private closed = false;

  constructor(
    private readonly call: ClientDuplexStream<WatchRequest, WatchResponse>,
    private readonly ep: EtcdEndpoint,
    private readonly token: string | undefined,
    private readonly owner: EtcdWatches,
  ) {
    call.on('data', (r: WatchResponse) => this.onResponse(r));
    call.on('error', (err) => this.broken(err));
    call.on('end', () => this.broken(new EtcdError('UNAVAILABLE', `Registry unavailable: ${ep.address}: the watch stream ended`)));
  }

  add(watch: EtcdWatch, request: WatchCreateRequest, retried = false): void {
    this.watches.set(watch.id, watch);
    this.creating.push({ watch, request, retried });
    this.call.write({ createRequest: request });
  }

  cancel(watch: EtcdWatch): void {
    if (!this.watches.delete(watch.id) || this.closed) return;
    this.call.write({ cancelRequest: { watchId: watch.id } });
    if (this.retired && this.watches.size === 0) this.close();
  }

  requestProgress(): void {
    if (!this.closed) this.call.write({ progressRequest: {} });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.retired = true;
    this.call.cancel();
  }

  private onResponse(r: WatchResponse): void {
    const revision = r.header?.revision ?? 0;
    if (r.created) {
      const pending = this.creating.shift();
      if (!pending) return;
      const { watch, request, retried } = pending;
      if (!r.canceled) {
        watch.markCreated(revision);
        return;
      }
      this.watches.delete(watch.id);
      if (this.token !== undefined && !retried && STALE_TOKEN.test(r.cancelReason)) {
        // Log in again and create it on a new stream: the token travels with the stream, not with each request.
        this.owner.tokenRefused(this, this.token);
        this.owner.create(watch, request, true);
        return;
      }
      watch.fail(etcdErrorOf(undefined, r.cancelReason || 'watch refused', this.ep.address));
      return;
    }
    if (r.watchId === NO_WATCH) {
      if (!r.canceled) for (const w of this.watches.values()) w.push({ revision, events: [], progress: true });
      return;
    }
    const watch = this.watches.get(r.watchId);
    if (!watch) return; // cancelled here already
    if (r.compactRevision > 0 || r.canceled) {
      this.watches.delete(watch.id);
      watch.fail(
        r.compactRevision > 0 ? new EtcdCompactedError(r.compactRevision) : etcdErrorOf(undefined, r.cancelReason || 'watch cancelled by etcd', this.ep.address),
      );
      return;
    }
    const last = r.events[r.events.length - 1];
    watch.push(last ? { revision: last.kv?.modRevision ?? revision, events: r.events, progress: false } : { revision, events: [], progress: true });
  }

  private broken(err: unknown): void {
    if (this.closed) return;
    this.closed = true;
    this.retired = true;
    const failure = toEtcdError(err, `${this.ep.address} (watch)`);
    if (isServiceError(err) && err.code === grpc.status.UNAVAILABLE) this.owner.unreachable(this.ep);
    for (const w of this.watches.values()) w.fail(failure);
    this.watches.clear();
    this.creating.length = 0;
    this.owner.forget(this);
  }
}

/** Every watch of one client, on as few streams as possible (one, unless a stream's login went stale). */
export class EtcdWatches {
  private current: Promise<WatchStream> | undefined;
  private readonly streams = new Set<WatchStream>();
  private opened: WatchStream | undefined;
  private nextId = 1;
  private closed = false;

  constructor(private readonly caller: EtcdCaller) {}

  watch(opts: EtcdWatchOptions): EtcdWatch {
    const watch = new EtcdWatch(this.nextId++, (w) => this.cancelled(w));
    const rangeEnd = opts.rangeEnd !== undefined ? bytes(opts.rangeEnd) : opts.prefix ? prefixEnd(opts.key) : Buffer.alloc(0);
    const request = WatchCreateRequest.fromPartial({
      key: bytes(opts.key),
      rangeEnd,
      startRevision: opts.startRevision ?? 0,
      prevKv: opts.prevKv ?? false,
      progressNotify: opts.progressNotify ?? false,
      watchId: watch.id,
    });
    this.create(watch, request, false);
    return watch;
  }

  /** Asks etcd for a progress notice on every watch (an empty batch at the store's current revision). */
  async requestProgress(): Promise<void> {
    if (this.current) (await this.current).requestProgress();
  }

  close(): void {
    this.closed = true;
    for (const s of this.streams) {
      for (const w of s.watches.values()) w.cancel();
      s.close();
    }
    this.streams.clear();
    this.current = undefined;
    this.opened = undefined;
  }

  /** @internal */
  create(watch: EtcdWatch, request: WatchCreateRequest, retried: boolean): void {
    this.stream().then(
      (s) => {
        if (!watch.active) return;
        if (s.retired) this.create(watch, request, retried); // retired while this create waited
        else s.add(watch, request, retried);
      },
      (err: unknown) => watch.fail(toEtcdError(err, 'watch')),
    );
  }

  /** @internal A stream's token was refused: new watches go to a new stream, after a new login. */
  tokenRefused(stream: WatchStream, token: string): void {
    this.caller.dropToken(token);
    this.retire(stream);
  }

  /** @internal */
  unreachable(ep: EtcdEndpoint): void {
    this.caller.endpoints.failover(ep);
  }

  /** @internal A stream broke and failed its watches. */
  forget(stream: WatchStream): void {
    this.streams.delete(stream);
    this.retire(stream);
  }

  private retire(stream: WatchStream): void {
    stream.retired = true;
    if (this.opened === stream) {
      this.opened = undefined;
      this.current = undefined;
    }
    if (stream.watches.size === 0) stream.close();
  }

  private cancelled(watch: EtcdWatch): void {
    for (const s of this.streams) s.cancel(watch);
  }

  private stream(): Promise<WatchStream> {
    if (this.closed) return Promise.reject(new EtcdError('UNAVAILABLE', 'Registry unavailable: the etcd client is closed'));
    if (!this.current) {
      const opening = this.caller.metadata().then(({ meta, token }) => {
        const ep = this.caller.endpoints.current();
        const s = new WatchStream(ep.watch.watch(meta), ep, token, this);
        this.streams.add(s);
        if (this.current === opening) this.opened = s;
        return s;
      });
      this.current = opening;
      opening.catch(() => {
        if (this.current === opening) this.current = undefined;
      });
    }
    return this.current;
  }
}
