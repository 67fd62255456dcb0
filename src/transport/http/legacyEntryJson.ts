import { escapeNonAscii, jsonString } from '../../core/json.js';
import type { Entry } from '../../core/Entry.js';
import type { WatchBatch } from '../../core/Store.js';

/**
 * An entry's text as the legacy API sends it: non-ASCII escaped (see escapeNonAscii). Entries never change
 * (a write makes a new one), so the escaped text is worked out once per entry, on its first read, and every
 * later Get is a lookup; ASCII entries (nearly all) map to their own text.
 */
const escaped = new WeakMap<Entry, string>();

export function legacyEntryJson(entry: Entry): string {
  let text = escaped.get(entry);
  if (text === undefined) {
    text = escapeNonAscii(entry.json);
    escaped.set(entry, text);
  }
  return text;
}

/**
 * A long-poll's answer: `{"success": true, "message": "Success", "revision": R, "events": [...]}`, each event
 * `{"type", "name", "revision", "data"}` (`data` for a put only). The client continues from `revision`.
 */
export function watchAnswer(batch: WatchBatch): string {
  let events = '';
  for (const e of batch.events) {
    const data = e.entry ? `,"data":${legacyEntryJson(e.entry)}` : '';
    events += `${events === '' ? '' : ','}{"type":"${e.type}","name":${escapeNonAscii(jsonString(e.name))},"revision":${e.revision}${data}}`;
  }
  return `{"success":true,"message":"Success","revision":${batch.revision},"events":[${events}]}`;
}
