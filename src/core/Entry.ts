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

/**
 * Which entries a watcher follows: one name, or every name starting with a prefix. Names starting with `_` are
 * the broker's own keyspace (extension stores): a prefix covers them only when the filter says `reserved`, and
 * then covers nothing else, so no `services` client ever sees them, whatever prefix it asks for.
 */
export type WatchFilter = { name: string } | { prefix: string; reserved?: boolean | undefined };

/** A name of the broker's own keyspace, never a `services` entry (the registry API refuses such names). */
export const isReservedName = (name: string): boolean => name.charCodeAt(0) === 0x5f; // '_'

export function matches(filter: WatchFilter, name: string): boolean {
  if ('name' in filter) return filter.name === name;
  return name.startsWith(filter.prefix) && isReservedName(name) === (filter.reserved === true);
}
