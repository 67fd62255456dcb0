import { type Event, Event_EventType } from '../../../generated/etcd/mvccpb/kv.js';
import type { BrokerError } from '../../core/BrokerError.js';
import { matches, type RegistryEvent, type WatchFilter } from '../../core/Entry.js';
import { MAX_BATCH, type StoreWatch, type WatchBatch } from '../../core/Store.js';
import type { EtcdClient } from './EtcdClient.js';
import { EtcdCompactedError, EtcdError } from './EtcdError.js';
import type { EtcdWatch } from './EtcdWatch.js';
import { nameBytes, nameOf } from './nameKeys.js';
import { brokerErrorOf, compactedError } from './storeErrors.js';

/** What a watch needs of its store. */
export interface WatchContext {
  readonly client: EtcdClient;
  /** The store's key prefix; the key equal to it is the delete marker. */
  readonly prefix: Buffer;
  /** The newest revision the store has seen: a watch "from now" starts after it. */
  readonly revision: number;
  remember(entryKv: NonNullable<Event['kv']>): RegistryEvent['entry'];
  /** Entry text (UTF-16 units) a reader that falls behind may hold queued before its watch is dropped. */
  readonly maxQueuedBytes: number;
  /** Told +1 when a watch opens and -1 when it closes: the store's count of open watches. */
  opened(delta: 1 | -1): void;
}

/**
 * A Store watch on an etcd watch. etcd reports an explicit delete and a lease expiry alike (DELETE); the store
 * tells them apart by the delete marker, a key that every explicit delete puts in the same Txn (so at the same
 * revision) with the deleted name as its value. A DELETE of a key that held no lease is a delete; one of a
 * leased key is a delete if the marker was written at its revision, naming it, else an expiry.
 *
 * Events are converted in order in the background and queued; `next` takes them. The watch fails with
 * OUT_OF_RANGE (from `next`) when its start revision is compacted, UNAVAILABLE when etcd is lost: watch again
 * from `revision` to resume. All watches share one etcd stream, which cannot wait for one slow reader: once a
 * reader leaves more than `maxQueuedBytes` of entries queued, the etcd watch is cancelled, and set up again from
 * the next revision once the reader has taken half of them. etcd keeps the history meanwhile, so nothing is
 * missed (unless it is compacted meanwhile: then OUT_OF_RANGE, as for any watch from a compacted revision).
 */
export class EtcdStoreWatch implements StoreWatch {
  private queue: RegistryEvent[] = [];
  private queued = 0;
  /** Everything matching up to this revision is in `queue` or delivered. */
  private converted: number;
  private cursor: number;
  private failure: BrokerError | undefined;
  private closed = false;
  private wake: (() => void) | undefined;
  private watch: EtcdWatch;
  /** The etcd watch was cancelled because the reader fell behind; set up again once it catches up. */
  private paused = false;
  private readonly key: Buffer;

  constructor(
    private readonly ctx: WatchContext,
    private readonly filter: WatchFilter,
    after: number | undefined,
  ) {
    // From now: from the newest revision this store has seen, so every write it made before is left out and
    // every later one is in, whenever etcd gets to set the watch up.
    this.cursor = after ?? ctx.revision;
    this.converted = this.cursor;
    this.key = Buffer.concat([ctx.prefix, nameBytes('name' in filter ? filter.name : filter.prefix)]);
    this.watch = this.follow();
    ctx.opened(1);
  }

  get revision(): number {
    return this.cursor;
  }

  /** Entry text queued for the reader (UTF-16 units, roughly): at most `maxQueuedBytes` and one revision's events. */
  get queuedBytes(): number {
    return this.queued;
  }

  async next(waitMs: number, limit = MAX_BATCH): Promise<WatchBatch> {
    for (let waited = false; ; waited = true) {
      if (this.queue.length > 0) {
        // Never part of a revision (writes that shared a Txn share it): a watcher resuming after the revision it
        // was last given would miss the rest.
        let n = Math.min(limit, this.queue.length);
        while (n < this.queue.length && this.queue[n]!.revision === this.queue[n - 1]!.revision) n++;
        const events = this.queue.splice(0, n);
        for (const e of events) this.queued -= sizeOf(e);
        this.cursor = this.queue.length === 0 ? this.converted : events.at(-1)!.revision;
        if (this.paused && !this.closed && this.queued <= this.ctx.maxQueuedBytes / 2) {
          this.paused = false;
          this.watch = this.follow();
        }
        return { events, revision: this.cursor };
      }
      if (this.failure) throw this.failure;
      if (waited || this.closed || waitMs <= 0) {
        this.cursor = Math.max(this.cursor, this.converted);
        return { events: [], revision: this.cursor };
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitMs);
        timer.unref?.();
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  close(): void {
    if (!this.closed) this.ctx.opened(-1);
    this.closed = true;
    this.watch.cancel();
    this.wake?.();
  }

  /** An etcd watch from the revision after everything queued, pumped into the queue. */
  private follow(): EtcdWatch {
    const watch = this.ctx.client.watch({ key: this.key, prefix: 'prefix' in this.filter, prevKv: true, startRevision: this.converted + 1 });
    void this.pump(watch, this.converted);
    return watch;
  }

  private async pump(watch: EtcdWatch, after: number): Promise<void> {
    try {
      for await (const batch of watch) {
        // Queued a revision at a time, so the cursor never stops inside one; the bound is checked between
        // revisions, so a batch etcd sends late and large cannot carry the queue far past it.
        for (let i = 0; i < batch.events.length; ) {
          const revision = batch.events[i]!.kv?.modRevision ?? 0;
          for (; i < batch.events.length && (batch.events[i]!.kv?.modRevision ?? 0) === revision; i++) {
            const event = await this.convert(batch.events[i]!);
            if (!event) continue;
            this.queue.push(event);
            this.queued += sizeOf(event);
          }
          if (this.queued > this.ctx.maxQueuedBytes && i < batch.events.length) {
            this.converted = Math.max(this.converted, revision);
            return this.pause();
          }
        }
        this.converted = Math.max(this.converted, batch.revision);
        this.wake?.();
        if (this.queued > this.ctx.maxQueuedBytes) return this.pause();
      }
    } catch (err) {
      this.failure = err instanceof EtcdCompactedError ? compactedError(after, err) : brokerErrorOf(err);
      this.wake?.();
    }
  }

  /** Stops taking events: `next` follows again from `converted` once the reader has caught up. */
  private pause(): void {
    this.paused = true;
    this.watch.cancel();
    this.wake?.();
  }

  private async convert(e: Event): Promise<RegistryEvent | undefined> {
    const kv = e.kv;
    if (!kv || kv.key.length === this.ctx.prefix.length) return undefined; // the delete marker
    const name = nameOf(kv.key.subarray(this.ctx.prefix.length));
    if (!matches(this.filter, name)) return undefined; // a reserved name under a prefix that does not ask for them
    const revision = kv.modRevision;
    if (e.type === Event_EventType.PUT) return { type: 'put', name, revision, entry: this.ctx.remember(kv) };
    const leased = e.prevKv === undefined || e.prevKv.lease !== '0';
    return { type: leased && !(await this.markedDeleted(kv.key, revision)) ? 'expire' : 'delete', name, revision };
  }

  /** Whether the delete marker was written at `revision` naming `key`: an explicit delete. */
  private async markedDeleted(key: Buffer, revision: number): Promise<boolean> {
    try {
      const marker = (await this.ctx.client.range(this.ctx.prefix, { revision })).kvs[0];
      return marker !== undefined && marker.modRevision === revision && marker.value.equals(key.subarray(this.ctx.prefix.length));
    } catch (err) {
      // Compacted since (the watch delivered it just in time): no way to tell; an explicit delete is the safer
      // guess for a watcher (an expiry suggests its owner died).
      if (err instanceof EtcdError && err.code === 'OUT_OF_RANGE') return true;
      throw err;
    }
  }
}

function sizeOf(e: RegistryEvent): number {
  return e.name.length + (e.entry?.json.length ?? 0) + 64;
}
