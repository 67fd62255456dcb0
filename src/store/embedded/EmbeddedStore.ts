import { BrokerError } from '../../core/BrokerError.js';
import type { Entry, WatchFilter } from '../../core/Entry.js';
import type { ListResult, Mutation, RegistryBudget, Store, StoreWatch } from '../../core/Store.js';
import type { Registry } from './Registry.js';

/**
 * The Store over an open Registry (journal, snapshots, bpbroker.json). The Registry applies a change to memory
 * before its first await, so `write` peeks, runs `mutate` and puts with nothing in between: no retry is ever
 * needed. Closing the store closes the Registry it was given.
 */
export class EmbeddedStore implements Store {
  readonly kind = 'embedded';

  constructor(readonly registry: Registry) {}

  get(name: string): Promise<Entry | undefined> {
    return this.registry.get(name);
  }

  list(prefix: string, after: string, limit: number, maxBytes?: number, reserved = false): Promise<ListResult> {
    return this.registry.list(prefix, after, limit, maxBytes, reserved);
  }

  has(name: string): boolean {
    return this.registry.has(name);
  }

  async write(name: string, mutate: Mutation): Promise<Entry> {
    const w = mutate(this.registry.peek(name));
    const { durable } = this.registry.put(name, w.json, w.ip, w.ts, { fresh: w.fresh ?? false, ttl: w.ttl, ...(w.patch !== undefined ? { patch: w.patch } : {}) });
    try {
      return await durable;
    } catch (err) {
      throw BrokerError.from(err);
    }
  }

  async delete(name: string, check?: (existing: Entry | undefined) => void): Promise<boolean> {
    const existing = this.registry.peek(name);
    check?.(existing);
    if (!existing) return false;
    try {
      return await this.registry.delete(name);
    } catch (err) {
      throw BrokerError.from(err);
    }
  }

  async keepAlive(name: string): Promise<{ entry: Entry; ttl: number } | undefined> {
    await this.registry.get(name); // a lease given by a write still in flight is renewed once it is durable
    return this.registry.keepAlive(name);
  }

  async leaseLeft(entry: Entry): Promise<number | undefined> {
    return entry.ttl ? this.registry.secondsLeft(entry.name) : undefined;
  }

  watch(filter: WatchFilter, after?: number): StoreWatch {
    return this.registry.watch(filter, after ?? this.registry.durableRevisionNow);
  }

  get revision(): number {
    return this.registry.durableRevisionNow;
  }

  get problem(): string | undefined {
    const reason = this.registry.storageProblem;
    return reason === undefined ? undefined : `Storage unavailable: ${reason}`;
  }

  get budget(): RegistryBudget {
    return this.registry;
  }

  get size(): number {
    return this.registry.size;
  }

  get watchersWaiting(): number {
    return this.registry.watchersWaiting;
  }

  get leaseCount(): number {
    return this.registry.leaseCount;
  }

  close(): Promise<void> {
    return this.registry.close();
  }
}
