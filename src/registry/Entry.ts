/** One registry entry as stored: its JSON text is kept ready, so reads never re-serialize. */
export interface Entry {
  readonly name: string;
  /** The entry's data object including `last_write_ip` and `last_write_ts`, as compact JSON. */
  readonly json: string;
  readonly lastWriteIp: string;
  /** Seconds since the epoch. */
  readonly lastWriteTs: number;
  /** Revision at which the entry was created (it survives updates, not deletes). */
  readonly createRevision: number;
  /** Revision of the entry's latest write. */
  readonly modRevision: number;
}

/** Builds the stored form of an entry: the data members followed by the writer's stamps. */
export function makeEntryJson(data: Record<string, unknown>, ip: string, ts: number): string {
  const body = JSON.stringify(data);
  const stamps = `"last_write_ip":${JSON.stringify(ip)},"last_write_ts":${ts}`;
  return body === '{}' ? `{${stamps}}` : `${body.slice(0, -1)},${stamps}}`;
}

/** The entry's data members without its stamps. */
export function entryData(entry: Entry): Record<string, unknown> {
  const data = JSON.parse(entry.json) as Record<string, unknown>;
  delete data.last_write_ip;
  delete data.last_write_ts;
  return data;
}
