import { Event_EventType } from '../../../generated/etcd/mvccpb/kv.js';
import type { EtcdClient } from './EtcdClient.js';
import { EtcdCompactedError, EtcdError } from './EtcdError.js';
import { keyAfter, prefixEnd } from './keys.js';
import { nameOf } from './nameKeys.js';

/** A broken watch is set up again this long after it failed. */
const RETRY_MS = 1000;
const PAGE = 1000;

/**
 * The names of every entry under the store's prefix, held in memory so that `has` (discovery) answers without
 * a round trip: read once (keys only), then kept current by one watch on the whole prefix. A watch that breaks
 * resumes from the last revision it saw; one whose revision was compacted meanwhile reads the names again.
 */
export class EtcdNames {
  private readonly names = new Set<string>();
  /** Every change under the prefix up to this revision is applied. */
  private synced = 0;
  private closed = false;
  /** The watch is set up and has not broken. */
  private live = false;
  private stopWatch: (() => void) | undefined;
  private retry: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly client: EtcdClient,
    /** The store's key prefix; the key equal to it (the delete marker) is no name. */
    private readonly prefix: Buffer,
    private readonly events: { seen(revision: number): void; ok(): void; failed(err: unknown): void },
  ) {}

  has(name: string): boolean {
    return this.names.has(name);
  }

  get size(): number {
    return this.names.size;
  }

  /** Whether the names follow etcd now (the watch is up): `has` then misses only the changes of the last moments. */
  get current(): boolean {
    return this.live;
  }

  /** Starts following; resolves once the names are read and followed, or that failed once. */
  start(): Promise<void> {
    let first!: () => void;
    const started = new Promise<void>((r) => (first = r));
    void this.run(first);
    return started;
  }

  close(): void {
    this.closed = true;
    this.stopWatch?.();
    clearTimeout(this.retry);
    this.wake?.();
  }

  private async run(first: () => void): Promise<void> {
    let loaded = false;
    while (!this.closed) {
      try {
        if (!loaded) {
          await this.load();
          loaded = true;
        }
        await this.follow(first);
      } catch (err) {
        if (this.closed) break;
        first();
        if (err instanceof EtcdCompactedError) {
          loaded = false;
          continue;
        }
        this.events.failed(err);
        await new Promise<void>((r) => {
          this.wake = r;
          this.retry = setTimeout(r, RETRY_MS);
          this.retry.unref?.();
        });
      }
    }
    first();
  }

  /** Reads every name under the prefix (keys only, in pages, all at one revision). */
  private async load(): Promise<void> {
    const names = new Set<string>();
    const end = prefixEnd(this.prefix);
    let from = keyAfter(this.prefix);
    let revision = 0;
    for (;;) {
      const page = await this.client.range(from, { rangeEnd: end, limit: PAGE, revision, keysOnly: true });
      revision = page.revision;
      for (const kv of page.kvs) names.add(nameOf(kv.key.subarray(this.prefix.length)));
      const last = page.kvs.at(-1);
      if (!page.more || !last) break;
      from = keyAfter(last.key);
    }
    this.names.clear();
    for (const n of names) this.names.add(n);
    this.synced = revision;
    this.events.seen(revision);
    this.events.ok();
  }

  /** Applies every change under the prefix after `synced` until the watch ends (it throws why); `up` once it is set up. */
  private async follow(up: () => void): Promise<void> {
    const watch = this.client.watch({ key: this.prefix, prefix: true, startRevision: this.synced + 1 });
    this.stopWatch = () => watch.cancel();
    void watch.created.then(
      () => {
        this.live = !this.closed;
        this.events.ok();
        up();
      },
      () => {},
    );
    try {
      for await (const batch of watch) {
        for (const e of batch.events) {
          const key = e.kv?.key;
          if (!key || key.length === this.prefix.length) continue; // the delete marker
          const name = nameOf(key.subarray(this.prefix.length));
          if (e.type === Event_EventType.PUT) this.names.add(name);
          else this.names.delete(name);
        }
        this.synced = Math.max(this.synced, batch.revision);
        this.events.seen(batch.revision);
      }
    } finally {
      this.live = false;
    }
    if (!this.closed) throw new EtcdError('UNAVAILABLE', 'Registry unavailable: the names watch ended');
  }
}
