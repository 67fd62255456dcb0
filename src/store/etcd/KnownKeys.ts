import type { Entry } from '../../core/Entry.js';

/** What a write needs of a key as it stands: its revisions and lease (what a Txn compares and carries on). */
export interface KeyState {
  modRevision: number;
  createRevision: number;
  /** '0': none. */
  lease: string;
}

/** A key as last written or read here: `state` undefined when absent. */
export interface Known {
  state: KeyState | undefined;
  entry: Entry | undefined;
}

/** Most names remembered, and most entry text (UTF-16 units) in all: a cache, bounded as one. */
const MAX_NAMES = 10_000;
const MAX_TEXT = 8 * 1024 * 1024;

/**
 * The entry this store last wrote of each name, least recently written forgotten first. A write of a name found
 * here goes straight to its Txn, compared on the remembered mod_revision: right, it costs one etcd call instead of
 * a Range and a Txn; stale (another broker wrote, the lease ran out), the Txn fails and returns the key as it is,
 * which the next try uses, as it would have after a Range. Only a guess, never an answer: reads go to etcd.
 */
export class KnownKeys {
  private readonly known = new Map<string, { state: KeyState; entry: Entry; size: number }>();
  private text = 0;

  get(name: string): Known | undefined {
    const k = this.known.get(name);
    return k && { state: k.state, entry: k.entry };
  }

  set(name: string, state: KeyState, entry: Entry): void {
    this.forget(name);
    const size = name.length + entry.json.length;
    if (size > MAX_TEXT / 16) return; // a big entry would push out many small ones
    this.known.set(name, { state, entry, size });
    this.text += size;
    for (const [oldest, k] of this.known) {
      if (this.known.size <= MAX_NAMES && this.text <= MAX_TEXT) break;
      this.known.delete(oldest);
      this.text -= k.size;
    }
  }

  forget(name: string): void {
    const k = this.known.get(name);
    if (!k) return;
    this.known.delete(name);
    this.text -= k.size;
  }
}
