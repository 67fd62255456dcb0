import { escapeNonAscii } from '../../core/json.js';
import type { Entry } from '../../registry/Entry.js';

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
