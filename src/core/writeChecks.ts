import type { Entry } from './Entry.js';
import type { RegistryBudget } from './Store.js';
import { BrokerError } from './BrokerError.js';

/** The limits every write into the registry keeps, whoever writes (the registry API or an extension's store). */
export interface WriteLimits {
  maxEntryBytes: number;
  /** Top-level members of one entry: bounds what an Update's merge costs. */
  maxEntryMembers: number;
  /** UTF-8 bytes of all names and entries: one client cannot fill the memory or the disk. */
  maxRegistryBytes: number;
}

/** Compare-and-swap: the write goes ahead only if the entry is at that revision (0: only if it is absent). */
export function checkRevision(name: string, existing: Entry | undefined, ifRevision: number | undefined): void {
  if (ifRevision === undefined) return;
  const current = existing?.modRevision ?? 0;
  if (current !== ifRevision) {
    throw new BrokerError('FAILED_PRECONDITION', `Revision mismatch: ${name} is at revision ${current}`, { revision: current });
  }
}

/**
 * The entry `json` of `members` members may be stored under `name`: its size, and the registry's budget when
 * the store counts one (etcd enforces its own quota and answers RESOURCE_EXHAUSTED itself).
 */
export function checkFits(budget: RegistryBudget | undefined, limits: WriteLimits, name: string, json: string, members: number): void {
  if (members > limits.maxEntryMembers) {
    throw new BrokerError('RESOURCE_EXHAUSTED', `Entry has too many members: at most ${limits.maxEntryMembers}`, { httpStatus: 413 });
  }
  if (Buffer.byteLength(json) > limits.maxEntryBytes) {
    throw new BrokerError('RESOURCE_EXHAUSTED', `Entry too large: at most ${limits.maxEntryBytes} bytes`, { httpStatus: 413 });
  }
  if (!budget) return;
  const total = budget.totalBytesWith(name, json);
  // A write that does not grow the registry is let through, so a registry over a lowered budget can shrink.
  if (total > limits.maxRegistryBytes && total > budget.totalBytes) {
    throw new BrokerError('RESOURCE_EXHAUSTED', 'Registry full', { httpStatus: 507 });
  }
}
