import type { ClientDuplexStream } from '@grpc/grpc-js';
import * as grpc from '@grpc/grpc-js';
import type { LeaseKeepAliveRequest, LeaseKeepAliveResponse } from '../../../generated/etcd/etcdserverpb/rpc.js';
import type { EtcdCaller } from './EtcdCaller.js';
import type { EtcdEndpoint } from './EtcdEndpoints.js';
import { EtcdError, isServiceError, toEtcdError } from './EtcdError.js';

interface Waiter {
  resolve: (ttl: number) => void;
  reject: (err: EtcdError) => void;
  timer: NodeJS.Timeout;
}

/** A lease kept alive until stopped; `lost` is called once if etcd forgets it (expired or revoked). */
export interface KeptLease {
  stop(): void;
}

/**
 * Lease keep-alives for every lease of one client on one LeaseKeepAlive stream: a refresh sends the lease's ID and
 * waits for etcd's answer with the same ID (its new TTL, 0 when the lease is gone). A broken stream fails the
 * refreshes in flight; the next refresh opens a new stream, on the next member if the last one was unreachable.
 */
export class EtcdKeepAlive {
  private stream: { call: ClientDuplexStream<LeaseKeepAliveRequest, LeaseKeepAliveResponse>; ep: EtcdEndpoint } | undefined;
  private readonly waiting = new Map<string, Waiter[]>();
  private readonly kept = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(
    private readonly caller: EtcdCaller,
    private readonly deadlineMs: number,
  ) {}

  /** Refreshes lease `id` once; resolves to its new TTL in seconds. NOT_FOUND when the lease is gone. */
  async refresh(id: string): Promise<number> {
    if (this.closed) throw new EtcdError('UNAVAILABLE', 'Registry unavailable: the etcd client is closed');
    const { call, ep } = this.stream ?? (await this.open());
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.remove(id, waiter);
        reject(new EtcdError('UNAVAILABLE', `Registry unavailable: ${ep.address}: no keep-alive answer within ${this.deadlineMs} ms`));
      }, this.deadlineMs);
      const waiter: Waiter = { resolve, reject, timer };
      const list = this.waiting.get(id) ?? [];
      list.push(waiter);
      this.waiting.set(id, list);
      call.write({ ID: id });
    });
  }

  /**
   * Refreshes lease `id` every third of its TTL until stopped. Failures to reach etcd are retried at the next
   * tick (the lease lives on in etcd meanwhile, for its TTL); `lost` is called once when etcd says it is gone.
   */
  keep(id: string, ttlSeconds: number, lost: (err: EtcdError) => void = () => undefined): KeptLease {
    const timer = setInterval(
      () => {
        this.refresh(id).catch((err: EtcdError) => {
          if (err.code !== 'NOT_FOUND') return;
          stop();
          lost(err);
        });
      },
      Math.max(250, (ttlSeconds * 1000) / 3),
    );
    const stop = (): void => {
      clearInterval(timer);
      this.kept.delete(timer);
    };
    this.kept.add(timer);
    return { stop };
  }

  close(): void {
    this.closed = true;
    for (const t of this.kept) clearInterval(t);
    this.kept.clear();
    this.broken(new EtcdError('UNAVAILABLE', 'Registry unavailable: the etcd client is closed'));
  }

  private async open(): Promise<NonNullable<EtcdKeepAlive['stream']>> {
    const { meta } = await this.caller.metadata();
    if (this.stream) return this.stream; // another refresh opened it meanwhile
    const ep = this.caller.endpoints.current();
    const call = ep.lease.leaseKeepAlive(meta);
    const stream = { call, ep };
    call.on('data', (r: LeaseKeepAliveResponse) => this.answer(r));
    call.on('error', (err) => this.stream === stream && this.broken(err));
    call.on('end', () => this.stream === stream && this.broken(new EtcdError('UNAVAILABLE', `Registry unavailable: ${ep.address}: the keep-alive stream ended`)));
    this.stream = stream;
    return stream;
  }

  private answer(r: LeaseKeepAliveResponse): void {
    const waiter = this.waiting.get(r.ID)?.shift();
    if (!waiter) return;
    clearTimeout(waiter.timer);
    if (r.TTL > 0) waiter.resolve(r.TTL);
    else waiter.reject(new EtcdError('NOT_FOUND', `Registry lease ${r.ID} not found (expired or revoked)`));
  }

  private remove(id: string, waiter: Waiter): void {
    const list = this.waiting.get(id);
    const i = list?.indexOf(waiter) ?? -1;
    if (i >= 0) list!.splice(i, 1);
  }

  private broken(err: unknown): void {
    const stream = this.stream;
    this.stream = undefined;
    if (stream) {
      if (isServiceError(err) && err.code === grpc.status.UNAVAILABLE) this.caller.endpoints.failover(stream.ep);
      stream.call.cancel();
    }
    const failure = toEtcdError(err, `${stream?.ep.address ?? 'etcd'} (keep-alive)`);
    for (const list of this.waiting.values()) {
      for (const w of list) {
        clearTimeout(w.timer);
        w.reject(failure);
      }
    }
    this.waiting.clear();
  }
}
