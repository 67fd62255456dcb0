import type { Entry as EntryMessage } from '../../../generated/bpbroker/v1/registry.js';
import { BrokerError } from '../../core/BrokerError.js';
import { entryData, type Entry } from '../../registry/Entry.js';

/**
 * The entry's data members without its stamps, as compact JSON. Writes append the stamps as the last two
 * members, so in the common case this is a slice of the stored text, with no parse and no re-serialization.
 * The suffix can only match as top-level members: string contents cannot hold unescaped quotes, and the
 * final `}` closes the object that holds `last_write_ts`. Anything else (e.g. an entry loaded from an old
 * file with its stamps elsewhere) takes the slow path.
 */
export function dataJson(entry: Entry): string {
  const stamps = `"last_write_ip":${JSON.stringify(entry.lastWriteIp)},"last_write_ts":${JSON.stringify(entry.lastWriteTs)}}`;
  const { json } = entry;
  if (json.endsWith(stamps)) {
    const head = json.slice(0, json.length - stamps.length);
    if (head === '{') return '{}';
    if (head.endsWith(',')) return `${head.slice(0, -1)}}`;
  }
  return JSON.stringify(entryData(entry));
}

export function toEntryMessage(entry: Entry): EntryMessage {
  return {
    name: entry.name,
    json: dataJson(entry),
    lastWriteIp: entry.lastWriteIp,
    lastWriteTs: entry.lastWriteTs,
    createRevision: entry.createRevision,
    modRevision: entry.modRevision,
  };
}

/** proto3 strings have no presence: empty means the client did not send it, as a missing legacy parameter. */
export function optional(text: string): string | undefined {
  return text === '' ? undefined : text;
}

/** Page tokens are opaque to clients: the last name of the previous page, base64url-encoded. */
export function encodePageToken(after: string): string {
  return after === '' ? '' : Buffer.from(after, 'utf8').toString('base64url');
}

export function decodePageToken(token: string, prefix: string): string {
  if (token === '') return '';
  const after = Buffer.from(token, 'base64url').toString('utf8');
  if (encodePageToken(after) !== token || !after.startsWith(prefix)) {
    throw new BrokerError('INVALID_ARGUMENT', 'Invalid page_token for this prefix');
  }
  return after;
}
