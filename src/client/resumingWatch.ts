/**
 * The part of a watch both clients share: follow a stream of batches, and when the connection is lost, open a
 * new one from the last revision received, after a growing delay, so no change is missed or repeated. Only the
 * transport (a gRPC stream, or HTTP long-polls) differs; it is a BatchSource.
 */

/** What every batch carries: the revision through which every matching change has been delivered. */
export interface RevisionBatch {
  revision: number;
}

/** One connection's batches, pulled one at a time. */
export interface BatchSource<B> {
  /** The next batch; undefined when the broker ended the stream. Rejects when the connection fails. */
  next(): Promise<B | undefined>;
  /** Cancels the connection; a pending next() then settles (its outcome is ignored). */
  close(): void;
}

export interface WatchOptions {
  /** Deliver the changes after this revision (default: only what changes from now on). */
  afterRevision?: number | undefined;
  /** Ends the iteration (cleanly: the loop ends, nothing is thrown) when aborted. */
  signal?: AbortSignal | undefined;
  /** Delay before reconnecting: starts at initialMs (default 100), doubles per failure up to maxMs (default 5000). */
  backoff?: { initialMs?: number; maxMs?: number } | undefined;
  /** Called before each reconnect, with what ended the connection (undefined: the broker ended the stream). */
  onRetry?: ((reason: unknown, next: { afterRevision: number | undefined; delayMs: number }) => void) | undefined;
}

export interface ResumeRules {
  /** A connection that delivers nothing for this long is taken for dead and replaced. */
  idleMs: number;
  /** Whether a failure is the connection's (reconnect) rather than an answer to give the caller. */
  isTransient(err: unknown): boolean;
}

/** Thrown into the reconnect logic when a connection stays silent past its idle limit. */
export class IdleConnectionError extends Error {
  override name = 'IdleConnectionError';
}

/**
 * An async iterable of batches that resumes across reconnects. A failure before the first batch (a wrong
 * address, a refused key) is thrown, as is any failure that is not the connection's: a compacted start revision
 * or a watcher the broker cut off for being too slow. Iterate it once.
 */
export class ResumingWatch<B extends RevisionBatch> implements AsyncIterableIterator<B> {
  private source: BatchSource<B> | undefined;
  private after: number | undefined;
  private received = false;
  private closed = false;
  private failures = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private resolveStopped!: () => void;
  private readonly ended = new Promise<void>((resolve) => (this.resolveStopped = resolve));
  private readonly onAbort = (): void => this.close();

  constructor(
    private readonly open: (afterRevision: number | undefined) => BatchSource<B>,
    private readonly rules: ResumeRules,
    private readonly opts: WatchOptions = {},
  ) {
    this.after = opts.afterRevision;
    if (opts.signal?.aborted) this.close();
    else opts.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** The revision of the last batch delivered (or the start revision): resume a later watch from it. */
  get revision(): number | undefined {
    return this.after;
  }

  next(): Promise<IteratorResult<B, undefined>> {
    const result = this.chain.then(() => this.pull());
    this.chain = result.catch(() => undefined);
    return result;
  }

  /** Ends the watch at once, also while a next() is waiting (it then resolves as done). */
  return(): Promise<IteratorResult<B, undefined>> {
    this.close();
    return Promise.resolve({ done: true, value: undefined });
  }

  /** Whether the watch has ended (closed, aborted, or failed). */
  get stopped(): boolean {
    return this.closed;
  }

  /** Ends the watch: a waiting next() resolves as done. */
  stop(): void {
    this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    this.source?.close();
    this.source = undefined;
    this.resolveStopped();
  }

  private async pull(): Promise<IteratorResult<B, undefined>> {
    while (!this.closed) {
      this.source ??= this.open(this.after);
      const source = this.source;
      let batch: B | undefined;
      let failure: unknown;
      try {
        batch = await this.nextOf(source);
      } catch (err) {
        failure = err ?? new Error('watch failed');
      }
      if (this.closed) break;
      if (batch !== undefined) {
        this.after = batch.revision;
        this.received = true;
        this.failures = 0;
        return { done: false, value: batch };
      }
      source.close();
      this.source = undefined;
      const transient = failure === undefined || failure instanceof IdleConnectionError || this.rules.isTransient(failure);
      if (!transient || !this.received) {
        this.close();
        throw failure ?? new Error('the broker ended the watch before its first message');
      }
      const delayMs = this.delay();
      this.opts.onRetry?.(failure, { afterRevision: this.after, delayMs });
      await this.sleep(delayMs);
    }
    return { done: true, value: undefined };
  }

  /** The source's next batch, unless the watch is closed first or the connection stays silent too long. */
  private nextOf(source: BatchSource<B>): Promise<B | undefined> {
    const pending = source.next();
    pending.catch(() => undefined); // settles after a close or an idle give-up too; nobody waits for it then
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new IdleConnectionError(`no message for ${this.rules.idleMs} ms`)), this.rules.idleMs);
    });
    return Promise.race([pending, idle, this.ended.then(() => undefined)]).finally(() => clearTimeout(timer));
  }

  private delay(): number {
    const initial = this.opts.backoff?.initialMs ?? 100;
    const max = this.opts.backoff?.maxMs ?? 5000;
    const base = Math.min(max, initial * 2 ** Math.min(this.failures, 30));
    this.failures += 1;
    // Jitter, so that the watchers of a restarted broker do not all come back in the same millisecond.
    return Math.round(base / 2 + (Math.random() * base) / 2);
  }

  private sleep(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))), this.ended]).finally(() => clearTimeout(timer));
  }
}
