/** One registry entry as stored: its JSON text is kept ready, so reads never re-serialize. */
export interface Entry {
  readonly name: string;
  /** The entry's data object including `last_write_ip` and `last_write_ts`, as compact JSON (src/core/entryJson.ts). */
  readonly json: string;
  readonly lastWriteIp: string;
  /** Seconds since the epoch. */
  readonly lastWriteTs: number;
  /** Revision at which the entry was created (it survives updates, not deletes). */
  readonly createRevision: number;
  /** Revision of the entry's latest write. */
  readonly modRevision: number;
  /** The entry's lease, in seconds: it is deleted (an `expire` event) when that long passes without a renewal. */
  readonly ttl?: number | undefined;
}

/** What changed at one revision. */
export interface RegistryEvent {
  readonly type: 'put' | 'delete' | 'expire';
  readonly name: string;
  readonly revision: number;
  /** The entry as written (put only). */
  readonly entry?: Entry | undefined;
}

/** Which entries a watcher follows: one name, or every name starting with a prefix. */
export type WatchFilter = { name: string } | { prefix: string };

export function matches(filter: WatchFilter, name: string): boolean {
  return 'name' in filter ? filter.name === name : name.startsWith(filter.prefix);
}
