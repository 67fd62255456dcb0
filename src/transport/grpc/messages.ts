import { WatchEvent_Type, type Entry as EntryMessage, type WatchEvent } from '../../../generated/bpbroker/v1/registry.js';
import { BrokerError } from '../../core/BrokerError.js';
import { entryDataJson } from '../../core/entryJson.js';
import type { EntryResult } from '../../core/types.js';
import type { Entry, RegistryEvent } from '../../core/Entry.js';

export function toEntryMessage(result: EntryResult): EntryMessage {
  return { ...entryMessage(result.entry), ttl: result.ttl ?? 0 };
}

function entryMessage(entry: Entry): EntryMessage {
  return {
    name: entry.name,
    json: entryDataJson(entry.json, entry.lastWriteIp, entry.lastWriteTs),
    lastWriteIp: entry.lastWriteIp,
    lastWriteTs: entry.lastWriteTs,
    createRevision: entry.createRevision,
    modRevision: entry.modRevision,
    // In an event the entry is as it was written: its lease's full TTL.
    ttl: entry.ttl ?? 0,
  };
}

const EVENT_TYPES = { put: WatchEvent_Type.PUT, delete: WatchEvent_Type.DELETE, expire: WatchEvent_Type.EXPIRE } as const;

export function toEventMessage(e: RegistryEvent): WatchEvent {
  return { type: EVENT_TYPES[e.type], name: e.name, revision: e.revision, entry: e.entry ? entryMessage(e.entry) : undefined };
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
