import { jsonString, isJsonObject, joinMembers, parseJson, splitMembers, type Member } from './json.js';
import { mergeMembers } from './entryJson.js';

/** Data to store: the object's members, and its compact text. */
export interface EntryData {
  json: string;
  members: Member[];
}

/**
 * Legacy `data` rule: a JSON object is stored as its members; anything else (text, a string, number, array,
 * boolean or null) as `{"_str": text as sent}`. A name written twice keeps its last value (as the original's
 * Python dict did).
 */
export function parseEntryData(text: string): EntryData {
  const r = parseJson(text);
  if (r.ok && isJsonObject(r.value)) {
    const members = splitMembers(r.json);
    if (members.length === Object.keys(r.value).length) return { json: r.json, members };
    const unique = mergeMembers([], members);
    return { json: joinMembers(unique), members: unique };
  }
  const members = [{ name: '_str', key: '"_str"', value: jsonString(text) }];
  return { json: joinMembers(members), members };
}

/** Ping's rule, as JSON text: any JSON value echoes as written; text that is not JSON as `{"_str": text}`; none as null. */
export function parseAnyJson(text: string | undefined): string {
  if (text === undefined || text === '') return 'null';
  const r = parseJson(text);
  return r.ok ? r.json : `{"_str":${jsonString(text)}}`;
}

/** `::ffff:10.0.0.5` -> `10.0.0.5`: old clients expect the IPv4 text. */
export function normalizeIp(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
