/**
 * Deadlines of the entries that hold a lease, on the monotonic clock (a wall-clock step never expires or
 * prolongs a lease). A renewal moves a deadline; when one passes, `onExpire` is called for its entry.
 *
 * Deadlines sit in a binary heap ordered by time, one timer armed for the earliest. A renewal pushes a new
 * item and leaves the old one to be skipped when it comes up, so a renewal costs O(log n) and no search.
 */
export class Leases {
  private readonly deadlines = new Map<string, { ttl: number; at: number }>();
  private heap: Array<{ name: string; at: number }> = [];
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private closed = false;

  constructor(
    /** Called once a lease has run out; the entry is still there (the callback deletes it). */
    private readonly onExpire: (name: string) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get size(): number {
    return this.deadlines.size;
  }

  has(name: string): boolean {
    return this.deadlines.has(name);
  }

  /** Gives `name` a lease of `ttl` seconds, or renews it, counted from now. */
  set(name: string, ttl: number): void {
    const at = this.now() + ttl * 1000;
    this.deadlines.set(name, { ttl, at });
    this.push({ name, at });
  }

  /** Renews the lease of `name`; returns its TTL, or undefined when it has none (or it has run out). */
  renew(name: string): number | undefined {
    const lease = this.deadlines.get(name);
    if (!lease || lease.at <= this.now()) return undefined;
    this.set(name, lease.ttl);
    return lease.ttl;
  }

  remove(name: string): void {
    this.deadlines.delete(name);
  }

  /** Whole seconds left on the lease of `name` (at least 1 while it runs), or undefined without one. */
  secondsLeft(name: string): number | undefined {
    const lease = this.deadlines.get(name);
    if (!lease) return undefined;
    return Math.max(1, Math.ceil((lease.at - this.now()) / 1000));
  }

  /** The lease of `name` has run out but its entry is not deleted yet (the delete could not be saved). */
  lapsed(name: string): boolean {
    const lease = this.deadlines.get(name);
    return lease !== undefined && lease.at <= this.now();
  }

  /** Expires again, in `ms`, a lease whose entry could not be deleted. */
  retry(name: string, ms: number): void {
    const lease = this.deadlines.get(name);
    if (lease) this.push({ name, at: Math.max(lease.at, this.now() + ms) });
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private push(item: { name: string; at: number }): void {
    const h = this.heap;
    h.push(item);
    for (let i = h.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (h[parent]!.at <= h[i]!.at) break;
      [h[parent], h[i]] = [h[i]!, h[parent]!];
      i = parent;
    }
    this.arm();
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let min = i;
      if (l < h.length && h[l]!.at < h[min]!.at) min = l;
      if (r < h.length && h[r]!.at < h[min]!.at) min = r;
      if (min === i) break;
      [h[min], h[i]] = [h[i]!, h[min]!];
      i = min;
    }
  }

  private arm(): void {
    const first = this.heap[0];
    if (this.closed || !first || first.at >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = first.at;
    this.timer = setTimeout(() => this.fire(), Math.max(0, first.at - this.now()));
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.now();
    const due = new Set<string>();
    while (this.heap.length > 0 && this.heap[0]!.at <= now) {
      const { name } = this.heap[0]!;
      this.pop();
      // Items a renewal or a removal left behind find their lease later, or gone.
      const lease = this.deadlines.get(name);
      if (lease && lease.at <= now) due.add(name);
    }
    for (const name of due) this.onExpire(name);
    this.arm();
  }
}
