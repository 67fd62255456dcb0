import type { Event } from '../../../generated/etcd/mvccpb/kv.js';
import { EtcdError } from './EtcdError.js';
import type { Bytes } from './keys.js';

export interface EtcdWatchOptions {
  /** The key watched, or the first of a range / the prefix. */
  key: Bytes;
  /** Watch every key that starts with `key`. */
  prefix?: boolean;
  /** Watch [key, rangeEnd) (instead of `prefix`). */
  rangeEnd?: Bytes;
  /** First revision to deliver (history included); default: changes after now. */
  startRevision?: number;
  /** Each event carries the key's value before it. */
  prevKv?: boolean;
  /** etcd sends an empty batch (progress) now and then when nothing changes. */
  progressNotify?: boolean;
}

/**
 * What a watch delivers: the events of one or more revisions, in order, or a progress notice (`progress`, no
 * events): every change up to `revision` has been delivered.
 */
export interface EtcdWatchBatch {
  /** The revision of the last event, or for a progress notice the store's revision. */
  revision: number;
  events: Event[];
  progress: boolean;
}

/**
 * One watch on the shared stream: an async iterable of batches. It ends when cancelled and throws the store's
 * error when etcd ends it: EtcdCompactedError (with the oldest revision left) when the start revision is
 * compacted, UNAVAILABLE when the stream to etcd breaks (watch again from the next revision to resume).
 */
export class EtcdWatch implements AsyncIterable<EtcdWatchBatch> {
  /** Resolves to the store's revision when etcd has set the watch up; rejects as the iteration would. */
  readonly created: Promise<number>;
  private resolveCreated!: (revision: number) => void;
  private rejectCreated!: (err: EtcdError) => void;
  private readonly queue: EtcdWatchBatch[] = [];
  private failure: EtcdError | undefined;
  private ended = false;
  private wake: (() => void) | undefined;

  constructor(
    readonly id: number,
    private readonly onCancel: (watch: EtcdWatch) => void,
  ) {
    this.created = new Promise<number>((resolve, reject) => {
      this.resolveCreated = resolve;
      this.rejectCreated = reject;
    });
    this.created.catch(() => undefined); // also thrown by the iteration; no unhandled rejection when nobody waits
  }

  get active(): boolean {
    return !this.ended && !this.failure;
  }

  /** Stops the watch; a running iteration ends after the batches already received. */
  cancel(): void {
    if (!this.active) return;
    this.ended = true;
    this.rejectCreated(new EtcdError('FAILED_PRECONDITION', 'Registry watch cancelled')); // ignored once created
    this.onCancel(this);
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<EtcdWatchBatch> {
    try {
      for (;;) {
        const next = this.queue.shift();
        if (next) yield next;
        else if (this.failure) throw this.failure;
        else if (this.ended) return;
        else await new Promise<void>((r) => (this.wake = r));
      }
    } finally {
      this.cancel();
    }
  }

  /** @internal etcd confirmed the watch. */
  markCreated(revision: number): void {
    this.resolveCreated(revision);
  }

  /** @internal */
  push(batch: EtcdWatchBatch): void {
    if (!this.active) return;
    this.queue.push(batch);
    this.wakeUp();
  }

  /** @internal etcd ended the watch, or the stream broke. */
  fail(err: EtcdError): void {
    if (!this.active) return;
    this.failure = err;
    this.rejectCreated(err);
    this.wakeUp();
  }

  private wakeUp(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}
