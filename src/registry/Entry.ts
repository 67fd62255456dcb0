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
}
