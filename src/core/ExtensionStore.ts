import type { Entry } from './Entry.js';
import type { Store } from './Store.js';
import { BrokerError } from './BrokerError.js';
import { makeEntryJson } from './entryJson.js';
import { parseJson } from './json.js';
import { STORE_PREFIX } from './settings.js';
import { ifRevisionOf } from './options.js';
import { nowSeconds } from './values.js';
import { checkFits, checkRevision, type WriteLimits } from './writeChecks.js';

export interface StoreLimits extends WriteLimits {
  maxNameLength: number;
  maxPageBytes: number;
}

/** One key of a store, with the registry entry holding it (`{"value": ..., last_write_ip, last_write_ts}`). */
export interface StoreItem {
  key: string;
  entry: Entry;
}

export interface StorePage {
  items: StoreItem[];
  /** Pass back as `after` for the next page; empty when this was the last page. */
  nextAfter: string;
}

/**
 * Each extension's private durable keyspace (`rh.store`): registry entries named `_store/{namespace}/{key}`, so
 * they share the registry's journal, snapshots, revisions and limits, and the registry API never shows them
 * (names starting with `_` are refused there and hidden from its lists and watches). The namespace always comes
 * from the broker (the extension's own), never from the extension.
 */
export class ExtensionStore {
  constructor(
    private readonly registry: Store,
    private readonly limits: StoreLimits,
  ) {}

  /** The key's entry, or undefined. */
  get(namespace: string, key: unknown): Promise<Entry | undefined> {
    return this.registry.get(this.nameOf(namespace, key));
  }

  /** Stores `valueJson` (any JSON value) under the key; compare-and-swap with `ifRevision` (0: only if absent). */
  async put(clientIp: string, namespace: string, key: unknown, valueJson: unknown, opts: { ifRevision?: string | number | undefined } = {}): Promise<Entry> {
    const name = this.nameOf(namespace, key);
    const parsed = typeof valueJson === 'string' ? parseJson(valueJson) : { ok: false as const };
    if (!parsed.ok) throw new BrokerError('INVALID_ARGUMENT', 'Store value must be JSON');
    const ifRevision = ifRevisionOf(opts.ifRevision);
    const body = `{"value":${parsed.json}}`;
    return this.registry.write(name, (existing) => {
      checkRevision(String(key), existing, ifRevision);
      const ts = nowSeconds();
      const json = makeEntryJson(body, clientIp, ts);
      checkFits(this.registry.budget, this.limits, name, json, 1);
      return { json, ip: clientIp, ts };
    });
  }

  /** Removes the key; resolves true when it existed. */
  async delete(namespace: string, key: unknown, opts: { ifRevision?: string | number | undefined } = {}): Promise<boolean> {
    const name = this.nameOf(namespace, key);
    const ifRevision = ifRevisionOf(opts.ifRevision);
    return this.registry.delete(name, (existing) => checkRevision(String(key), existing, ifRevision));
  }

  /** Keys starting with `prefix`, in key order, after `after` (exclusive), a page at a time (at most 1,000). */
  async list(namespace: string, prefix: unknown, after: unknown, pageSize: number): Promise<StorePage> {
    const base = this.baseOf(namespace);
    const p = typeof prefix === 'string' ? prefix : '';
    const a = typeof after === 'string' && after !== '' ? base + after : '';
    const size = Math.min(Math.max(pageSize > 0 ? pageSize : 100, 1), 1000);
    const { entries, more } = await this.registry.list(base + p, a, size, this.limits.maxPageBytes, true);
    const items = entries.map((entry) => ({ key: entry.name.slice(base.length), entry }));
    return { items, nextAfter: more ? items.at(-1)!.key : '' };
  }

  private baseOf(namespace: string): string {
    if (namespace === '' || namespace.includes('/')) throw new BrokerError('INTERNAL', `No store for namespace ${namespace}`);
    return `${STORE_PREFIX}${namespace}/`;
  }

  private nameOf(namespace: string, key: unknown): string {
    if (typeof key !== 'string' || key === '') throw new BrokerError('INVALID_ARGUMENT', 'Store key must be a non-empty string');
    const base = this.baseOf(namespace);
    if (base.length + key.length > this.limits.maxNameLength) {
      throw new BrokerError('INVALID_ARGUMENT', `Store key too long: at most ${this.limits.maxNameLength - base.length} characters`);
    }
    return base + key;
  }
}
