import type { KeyValue } from '../../../generated/etcd/mvccpb/kv.js';
import type { RequestOp } from '../../../generated/etcd/etcdserverpb/rpc.js';
import type { EtcdClient } from './EtcdClient.js';
import { EtcdError } from './EtcdError.js';
import { compare, op } from './txn.js';

/** Most writes in one Txn: each adds a compare, a put and a read (etcd's `--max-txn-ops` is 128 by default). */
const MAX_WRITES = 40;
/** Most value bytes in one Txn, well under etcd's `--max-request-bytes` (1.5 MiB by default). */
const MAX_BYTES = 256 * 1024;
/** Longest a write waits for the Txn in flight before it goes anyway (as KeyReads.ts). */
const MAX_WAIT_MS = 20;

/** One write's Txn: put `put` on `key` if the key is still at `modRevision` (undefined: absent). */
export interface TxnWrite {
  key: Buffer;
  modRevision: number | undefined;
  put: RequestOp;
}

/** Its outcome: written at `revision`, or not, with the key as it is now (`now` undefined: absent). */
export type TxnOutcome = { succeeded: true; revision: number } | { succeeded: false; revision: number; now: KeyValue | undefined };

interface Pending {
  write: TxnWrite;
  bytes: number;
  resolve: (o: TxnOutcome) => void;
  reject: (err: unknown) => void;
}

/**
 * Writes of different keys, coalesced as KeyReads.ts coalesces reads: a write goes to etcd at once when no write
 * is in flight; writes asked meanwhile go together as one Txn (every compare, every put, and in its else branch a
 * read of every key), so a broker under many writers makes one etcd call, and etcd one log entry, per round trip.
 * Writes sharing a Txn share its revision. When any compare fails, nothing of that Txn is applied: each write
 * whose compare failed gets the key as it is (from the else branch), and each whose compare held is sent again,
 * alone. A refusal of the whole Txn (too large for the cluster's limits) sends each alone too. A write etcd may
 * have applied (a dropped connection) fails for every write of the Txn, as it would alone.
 */
export class WriteTxns {
  private queue: Pending[] = [];
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly client: EtcdClient) {}

  write(write: TxnWrite): Promise<TxnOutcome> {
    return new Promise<TxnOutcome>((resolve, reject) => {
      this.queue.push({ write, bytes: write.key.length + (write.put.requestPut?.value.length ?? 0), resolve, reject });
      if (this.inFlight === 0) this.send();
      else this.timer ??= setTimeout(() => this.send(), MAX_WAIT_MS);
    });
  }

  private send(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    let bytes = 0;
    let n = 0;
    // A batch ends before the write that would take it past MAX_BYTES; a write larger than that goes alone.
    while (n < this.queue.length && n < MAX_WRITES && (n === 0 || bytes + this.queue[n]!.bytes <= MAX_BYTES)) bytes += this.queue[n++]!.bytes;
    const batch = this.queue.splice(0, n);
    if (batch.length === 0) return;
    if (this.queue.length > 0) this.timer = setTimeout(() => this.send(), MAX_WAIT_MS);
    this.inFlight++;
    const done = (): void => {
      this.inFlight--;
      if (this.inFlight === 0) this.send();
    };
    const sent = batch.length === 1 ? this.alone(batch[0]!) : this.together(batch);
    void sent.finally(done);
  }

  /** One write in its own Txn. */
  private async alone(p: Pending): Promise<void> {
    try {
      p.resolve(await txnOf(this.client, [p.write]).then((r) => r[0]!));
    } catch (err) {
      p.reject(err);
    }
  }

  private async together(batch: Pending[]): Promise<void> {
    let outcomes: TxnOutcome[];
    try {
      outcomes = await txnOf(
        this.client,
        batch.map((p) => p.write),
      );
    } catch (err) {
      // Refused whole (not applied): each alone. Lost or perhaps applied: each fails as it would alone.
      if (err instanceof EtcdError && err.code !== 'UNAVAILABLE' && !err.mayBeApplied) {
        await Promise.all(batch.map((p) => this.alone(p)));
        return;
      }
      for (const p of batch) p.reject(err);
      return;
    }
    const again: Pending[] = [];
    batch.forEach((p, i) => {
      const o = outcomes[i]!;
      if (o.succeeded || !holds(p.write, o.now)) p.resolve(o);
      else again.push(p); // its compare held: another write's failed
    });
    await Promise.all(again.map((p) => this.alone(p)));
  }
}

/** Runs `writes` as one Txn: each write's outcome. */
async function txnOf(client: EtcdClient, writes: TxnWrite[]): Promise<TxnOutcome[]> {
  const guards = writes.map((w) => (w.modRevision === undefined ? compare(w.key, 'create_revision', '=', 0) : compare(w.key, 'mod_revision', '=', w.modRevision)));
  const done = await client.txn(
    guards,
    writes.map((w) => w.put),
    writes.map((w) => op.get(w.key)),
  );
  if (done.succeeded) return writes.map(() => ({ succeeded: true, revision: done.revision }));
  return writes.map((_, i) => ({ succeeded: false, revision: done.revision, now: done.responses[i]?.responseRange?.kvs[0] }));
}

/** Whether the write's compare holds for the key as it is. */
function holds(write: TxnWrite, now: KeyValue | undefined): boolean {
  return write.modRevision === undefined ? now === undefined : now?.modRevision === write.modRevision;
}
