import { BrokerError } from '../../core/BrokerError.js';
import { matches, type RegistryEvent, type WatchFilter } from '../../core/Entry.js';
import { MAX_BATCH, type WatchBatch } from '../../core/Store.js';
import type { History } from './History.js';

/**
 * Watchers woken in one turn of the event loop (each answers in that turn); the rest wake on the next turns,
 * so that the writer's answer and other requests are served in between.
 */
const WAKE_SLICE = 250;

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
  /** While it waits: the oldest revision the hub woke it for (what was published before that did not match). */
  private firstMatch = Infinity;

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
      // Whatever was published while it waited and did not wake it did not match: skip it unread, so that a
      // watcher of a quiet name does not rescan every write made since it last woke.
      if (this.firstMatch !== Infinity) this.cursor = Math.max(this.cursor, this.firstMatch - 1);
      this.firstMatch = Infinity;
    }
  }

  /** Ends the watch; a `next` waiting resolves at once with no events. */
  close(): void {
    this.closed = true;
    this.wake?.();
  }

  /** Called by the hub, while this watcher waits, for a published event it follows. */
  notify(revision: number): void {
    if (!this.wake || revision <= this.cursor) return;
    if (revision < this.firstMatch) this.firstMatch = revision;
    this.wake();
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
    if (events.length === 0) {
      this.cursor = Math.max(this.cursor, history.lastRevision); // scanned through it: nothing matched
      return undefined;
    }
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
  /** Changes published since the last wake-up, whose watchers are not looked up yet. */
  private readonly pending: RegistryEvent[] = [];
  /**
   * Watchers to wake, in the order their events came, each with the oldest revision it follows that it has
   * not been woken for: one place per watcher, so the queue never outgrows the watchers waiting.
   */
  private readonly wakeups = new Map<Watcher, number>();
  private scheduled = false;

  constructor(readonly history: History) {}

  /** A watcher from `after` (compacted: OUT_OF_RANGE at once). */
  watch(filter: WatchFilter, after: number): Watcher {
    if (after < this.history.completeSince) this.history.after(after, filter, 0); // throws OUT_OF_RANGE
    return new Watcher(this, filter, Math.min(after, this.history.lastRevision));
  }

  /**
   * Called for every durable change, after the history has it. Watchers are not woken at once but on later
   * turns of the event loop, at most WAKE_SLICE a turn: the writer's answer goes out first and other clients'
   * requests go on between slices, however many watchers there are. Wake-ups stay in revision order, which
   * a watcher's skipping of what it does not follow relies on (see Watcher.notify).
   */
  publish(event: RegistryEvent): void {
    this.pending.push(event);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.wakeSome);
  }

  private readonly wakeSome = (): void => {
    this.scheduled = false;
    this.lookUp(this.pending.splice(0));
    let n = 0;
    for (const [watcher, revision] of this.wakeups) {
      if (n++ === WAKE_SLICE) break;
      this.wakeups.delete(watcher);
      watcher.notify(revision);
    }
    if (this.wakeups.size > 0) this.schedule();
  };

  /** Queues a wake-up for every waiting watcher that follows one of `events` and has not read it yet. */
  private lookUp(events: RegistryEvent[]): void {
    for (const event of events) {
      const named = this.byName.get(event.name);
      if (named) for (const watcher of named) this.queue(watcher, event.revision);
    }
    if (this.byPrefix.size === 0 || events.length === 0) return;
    for (const watcher of this.byPrefix) {
      const filter = watcher.filter;
      const first = events.find((e) => e.revision > watcher.revision && matches(filter, e.name));
      if (first) this.queue(watcher, first.revision);
    }
  }

  private queue(watcher: Watcher, revision: number): void {
    // Its oldest unread event is the one that counts; one before its cursor it has read before it waited.
    if (revision > watcher.revision && !this.wakeups.has(watcher)) this.wakeups.set(watcher, revision);
  }

  /** A watcher is waiting for a change (or no longer). */
  waiting(w: Watcher, on: boolean): void {
    this.wakeups.delete(w); // a wake-up queued before is for what it has read since
    if ('prefix' in w.filter) {
      if (on) this.byPrefix.add(w);
      else this.byPrefix.delete(w);
      return;
    }
    const name = w.filter.name;
    let set = this.byName.get(name);
    if (on) {
      if (!set) {
        set = new Set();
        this.byName.set(name, set);
      }
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
