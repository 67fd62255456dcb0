import type { KeyValue } from '../../../generated/etcd/mvccpb/kv.js';
import type { EtcdClient } from './EtcdClient.js';

/** Most keys in one call (etcd refuses a Txn of more than `--max-txn-ops` operations, 128 by default). */
const MAX_KEYS = 100;
/**
 * Longest a read waits for the call in flight before it goes anyway: a call to a member that hangs must not hold
 * the reads behind it past their own deadline (2 s from when they are sent).
 */
const MAX_WAIT_MS = 20;

interface Pending {
  key: Buffer;
  waiters: Array<{ resolve: (r: KeyRead) => void; reject: (err: unknown) => void }>;
}

export interface KeyRead {
  kv: KeyValue | undefined;
  revision: number;
}

/**
 * Reads of single keys (Get, and the read before every write), coalesced: a read goes to etcd at once when no
 * read is in flight; reads asked meanwhile wait for it (at most MAX_WAIT_MS) and then go together, as one call
 * (a Txn of Ranges), the same key once. Under load a broker thus makes one etcd call per round trip instead of one per request, which is
 * what a grpc-js client call costs most of (its CPU, in the broker). Each read is still sent after it was asked,
 * so it sees every write acknowledged before: reads stay linearizable.
 */
export class KeyReads {
  private queue = new Map<string, Pending>();
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly client: EtcdClient) {}

  read(key: Buffer): Promise<KeyRead> {
    return new Promise<KeyRead>((resolve, reject) => {
      const id = key.toString('latin1');
      const pending = this.queue.get(id);
      if (pending) pending.waiters.push({ resolve, reject });
      else this.queue.set(id, { key, waiters: [{ resolve, reject }] });
      if (this.inFlight === 0) this.send();
      else this.timer ??= setTimeout(() => this.send(), MAX_WAIT_MS);
    });
  }

  private send(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = [...this.queue.values()].slice(0, MAX_KEYS);
    if (batch.length === 0) return;
    for (const p of batch) this.queue.delete(p.key.toString('latin1'));
    if (this.queue.size > 0) this.timer = setTimeout(() => this.send(), MAX_WAIT_MS);
    this.inFlight++;
    const done = (): void => {
      this.inFlight--;
      if (this.inFlight === 0) this.send();
    };
    const only = batch.length === 1 ? batch[0] : undefined;
    const call = only
      ? this.client.range(only.key).then((r) => [{ kv: r.kvs[0], revision: r.revision }])
      : this.client.getMany(batch.map((p) => p.key)).then((r) => r.kvs.map((kv) => ({ kv, revision: r.revision })));
    call.then(
      (reads) => {
        batch.forEach((p, i) => {
          for (const w of p.waiters) w.resolve(reads[i]!);
        });
        done();
      },
      (err: unknown) => {
        for (const p of batch) for (const w of p.waiters) w.reject(err);
        done();
      },
    );
  }
}
