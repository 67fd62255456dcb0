import { BrokerError } from '../core/BrokerError.js';
import type { RegistryEvent, WatchFilter } from './Entry.js';
import type { History } from './History.js';

/** What a watcher gets: events in revision order, and the revision through which it has seen everything. */
export interface WatchBatch {
  events: RegistryEvent[];
  /** Every matching change up to this revision has been delivered: resume from it. */
  revision: number;
}

/** Most events in one batch (one long-poll answer, one gRPC message). */
export const MAX_BATCH = 1000;

/**
 * A watch: a cursor into the history and nothing else. It pulls its next batch from the history when its
 * consumer asks, so it buffers nothing of its own: a watcher that reads slowly holds no memory and costs
 * writers and other watchers nothing. Once it has caught up, a watcher that falls so far behind that its
 * cursor nears the oldest end of the history is ended with a clear reason while it can still resume.
 */
export class Watcher {
  private wake: (() => void) | undefined;
  private closed = false;
  /** It has been up to date once (a watcher resuming from far back is still catching up). */
  private caughtUp = false;

  constructor(
    private readonly hub: WatchHub,
    readonly filter: WatchFilter,
    /** Delivered through this revision. */
    private cursor: number,
  ) {}

  get revision(): number {
    return this.cursor;
  }

  /**
   * The next events after the cursor; waits up to `waitMs` for one. Resolves with no events when the wait
   * ends or the watcher is closed (the revision then tells how far nothing matched). Throws OUT_OF_RANGE when
   * the cursor has left the history, RESOURCE_EXHAUSTED when the watcher fell too far behind.
   */
  async next(waitMs: number, limit = MAX_BATCH): Promise<WatchBatch> {
    for (let waited = false; ; waited = true) {
      const batch = this.take(limit);
      if (batch || waited || this.closed || waitMs <= 0) return batch ?? this.idle();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => resolve(), waitMs);
        timer.unref?.();
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
        this.hub.waiting(this, true);
      });
      this.wake = undefined;
      this.hub.waiting(this, false);
    }
  }

  /** Ends the watch; a `next` waiting resolves at once with no events. */
  close(): void {
    this.closed = true;
    this.wake?.();
  }

  /** Called by the hub for an event this watcher follows. */
  notify(): void {
    this.wake?.();
  }

  private take(limit: number): WatchBatch | undefined {
    const history = this.hub.history;
    if (this.caughtUp && this.cursor < this.hub.slowBelow()) {
      throw new BrokerError(
        'RESOURCE_EXHAUSTED',
        `Watcher too slow: ${history.lastRevision - this.cursor} revisions behind; resume from revision ${this.cursor} (watch again from it)`,
      );
    }
    const events = history.after(this.cursor, this.filter, limit);
    if (events.length === 0) return undefined;
    // A full batch ends at its last event; a shorter one saw everything up to the newest revision.
    this.cursor = events.length === limit ? events.at(-1)!.revision : history.lastRevision;
    if (events.length < limit) this.caughtUp = true;
    return { events, revision: this.cursor };
  }

  private idle(): WatchBatch {
    // Nothing matched up to the newest revision.
    this.cursor = Math.max(this.cursor, this.hub.history.lastRevision);
    this.caughtUp = true;
    return { events: [], revision: this.cursor };
  }
}

/**
 * The watchers of one registry. A durable change wakes the watchers that follow its name (found by name,
 * or by prefix) and are waiting; each then reads what it needs from the history.
 */
export class WatchHub {
  private readonly byName = new Map<string, Set<Watcher>>();
  private readonly byPrefix = new Set<Watcher>();
  /** Changes whose watchers wake on the next turn. */
  private readonly pending: RegistryEvent[] = [];

  constructor(readonly history: History) {}

  /** A watcher from `after` (compacted: OUT_OF_RANGE at once). */
  watch(filter: WatchFilter, after: number): Watcher {
    if (after < this.history.completeSince) this.history.after(after, filter, 0); // throws OUT_OF_RANGE
    return new Watcher(this, filter, Math.min(after, this.history.lastRevision));
  }

  /**
   * Called for every durable change, after the history has it. The watchers wake on the next turn of the
   * event loop, not at once: the writer's own answer goes out first, however many watchers there are, and the
   * changes of one turn wake each watcher once.
   */
  publish(event: RegistryEvent): void {
    this.pending.push(event);
    if (this.pending.length === 1) setImmediate(this.wakeAll);
  }

  private readonly wakeAll = (): void => {
    const events = this.pending.splice(0);
    for (const event of events) {
      const named = this.byName.get(event.name);
      if (named) for (const w of named) w.notify();
    }
    if (this.byPrefix.size === 0) return;
    for (const w of this.byPrefix) {
      const prefix = (w.filter as { prefix: string }).prefix;
      if (events.some((e) => e.name.startsWith(prefix))) w.notify();
    }
  };

  /** A watcher is waiting for a change (or no longer). */
  waiting(w: Watcher, on: boolean): void {
    if ('prefix' in w.filter) {
      if (on) this.byPrefix.add(w);
      else this.byPrefix.delete(w);
      return;
    }
    const name = w.filter.name;
    let set = this.byName.get(name);
    if (on) {
      if (!set) this.byName.set(name, (set = new Set()));
      set.add(w);
    } else if (set) {
      set.delete(w);
      if (set.size === 0) this.byName.delete(name);
    }
  }

  /**
   * A watcher whose cursor falls below this revision is too far behind: the history is at its limits and the
   * cursor is in its oldest tenth, which the next writes compact away.
   */
  slowBelow(): number {
    const { completeSince, lastRevision, full } = this.history;
    return full ? completeSince + Math.floor((lastRevision - completeSince) / 10) : -Infinity;
  }

  /** Watchers waiting now (for status and tests). */
  get waitingCount(): number {
    let n = this.byPrefix.size;
    for (const s of this.byName.values()) n += s.size;
    return n;
  }
}
