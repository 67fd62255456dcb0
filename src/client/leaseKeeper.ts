/**
 * Keeps an entry's lease alive from the client: renews it in the background and says when it is lost. Both
 * clients use it; they supply the renewal call and how to read its answers and failures.
 */

export type LeaseLossReason =
  /** The entry was deleted or expired, or written again without a lease. */
  | 'gone'
  /** The entry was created again by another writer (a new create revision): the lease is theirs now. */
  | 'replaced'
  /** No renewal reached the broker for a whole TTL: the broker has let the lease run out (or will at once). */
  | 'unreachable'
  /** The broker refused the renewal for good (access key, invalid name, a broker without KeepAlive). */
  | 'refused';

export interface LeaseLoss {
  name: string;
  reason: LeaseLossReason;
  /** What to tell a person, e.g. `Lease on master lost: the entry is gone or has no lease any more`. */
  message: string;
  /** The failure that ended it, when one did. */
  error?: unknown;
}

export interface KeepLeaseOptions {
  /** Renew this often, in milliseconds (default: a third of the entry's TTL). Keep it well under the TTL. */
  everyMs?: number | undefined;
  /** Called once, when the lease is lost (also when the first renewal fails). */
  onLost?: ((loss: LeaseLoss) => void) | undefined;
  /** Called after each successful renewal. */
  onRenew?: ((ttlSeconds: number) => void) | undefined;
}

/** What the keeper reads from a renewal's answer. */
export interface RenewalInfo {
  /** The lease's full TTL in seconds, as the broker answered it. */
  ttl: number;
  /** The entry's create revision, when the protocol tells it. */
  createRevision?: number | undefined;
}

export interface LeaseTransport<T> {
  /** One KeepAlive call, failing after `timeoutMs` when given. */
  renew(timeoutMs: number | undefined): Promise<T>;
  info(answer: T): RenewalInfo;
  /** How a failed renewal counts: the entry is gone, the broker refuses, or the connection failed (retry). */
  classify(err: unknown): 'gone' | 'refused' | 'transient';
  /** One line about a failure, for the loss message. */
  describe(err: unknown): string;
}

/** Retry a failed renewal at least this often while the lease still runs. */
const RETRY_MS = 1000;

export class LeaseKeeper<T> {
  /** The first renewal's answer; rejects with its failure when it fails (the lease is then lost too). */
  readonly ready: Promise<T>;
  /** Resolves once, when the lease is lost; never when stop() comes first. */
  readonly lost: Promise<LeaseLoss>;
  private resolveReady!: (answer: T) => void;
  private rejectReady!: (err: unknown) => void;
  private resolveLost!: (loss: LeaseLoss) => void;
  private done = false;
  private ttlMs = 0;
  private intervalMs = 0;
  private createRevision: number | undefined;
  private lastError: unknown;
  private renewTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly name: string,
    private readonly transport: LeaseTransport<T>,
    private readonly opts: KeepLeaseOptions = {},
  ) {
    this.ready = new Promise<T>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => undefined); // a caller that only watches `lost` must not see an unhandled rejection
    this.lost = new Promise<LeaseLoss>((resolve) => (this.resolveLost = resolve));
    void this.renew(true);
  }

  /** The lease's TTL in seconds (0 until the first renewal answered). */
  get ttl(): number {
    return this.ttlMs / 1000;
  }

  /** The renewal interval in milliseconds (0 until the first renewal answered). */
  get everyMs(): number {
    return this.intervalMs;
  }

  get stopped(): boolean {
    return this.done;
  }

  /** Stops renewing (the lease then runs out after its TTL unless someone else renews it). */
  stop(): void {
    this.done = true;
    clearTimeout(this.renewTimer);
    clearTimeout(this.deadlineTimer);
    this.rejectReady(new Error(`Keeping the lease on ${this.name} was stopped`));
  }

  private async renew(first: boolean): Promise<void> {
    // The broker counts the TTL from when it receives a renewal, which is after it was sent: counting from the
    // sending, the keeper's deadline is never later than the broker's.
    const sentAt = performance.now();
    let answer: T;
    try {
      answer = await this.transport.renew(first ? undefined : Math.max(RETRY_MS, Math.min(this.intervalMs, 10_000)));
    } catch (err) {
      if (this.done) return;
      const kind = this.transport.classify(err);
      if (first || kind !== 'transient') return this.lose(kind === 'transient' ? 'unreachable' : kind, err);
      this.lastError = err;
      this.schedule(Math.min(this.intervalMs, RETRY_MS));
      return;
    }
    if (this.done) return;
    const info = this.transport.info(answer);
    if (!(info.ttl > 0)) return this.lose('gone');
    if (first) {
      this.createRevision = info.createRevision;
      this.intervalMs = this.opts.everyMs ?? Math.max(1, Math.floor((info.ttl * 1000) / 3));
    } else if (this.createRevision !== undefined && info.createRevision !== undefined && info.createRevision !== this.createRevision) {
      return this.lose('replaced', undefined, info.createRevision);
    }
    this.ttlMs = info.ttl * 1000;
    this.lastError = undefined;
    clearTimeout(this.deadlineTimer);
    const left = sentAt + this.ttlMs - performance.now();
    if (left <= 0) return this.lose('unreachable');
    this.deadlineTimer = setTimeout(() => this.lose('unreachable', this.lastError), left);
    if (first) this.resolveReady(answer);
    this.opts.onRenew?.(info.ttl);
    this.schedule(this.intervalMs);
  }

  private schedule(ms: number): void {
    if (this.done) return;
    this.renewTimer = setTimeout(() => void this.renew(false), ms);
  }

  private lose(reason: LeaseLossReason, error?: unknown, createRevision?: number): void {
    if (this.done) return;
    const why: Record<LeaseLossReason, string> = {
      gone: 'the entry is gone or has no lease any more',
      replaced: `the entry was created again (revision ${createRevision}) by another writer`,
      unreachable: `no renewal reached bpbroker within the ${this.ttl || '?'} s TTL`,
      refused: 'the broker refused the renewal',
    };
    const detail = error === undefined ? '' : `: ${this.transport.describe(error)}`;
    const loss: LeaseLoss = { name: this.name, reason, message: `Lease on ${this.name} lost: ${why[reason]}${detail}`, ...(error !== undefined ? { error } : {}) };
    this.rejectReady(error ?? new Error(loss.message));
    this.stop();
    this.resolveLost(loss);
    this.opts.onLost?.(loss);
  }
}
