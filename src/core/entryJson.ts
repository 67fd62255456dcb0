import { jsonString, joinMembers, splitMembers, type Member } from './json.js';

/**
 * The stored text of a registry entry: its data members as compact JSON, each value the text it was written
 * with, followed by the writer's stamps `last_write_ip` and `last_write_ts` as the last two members.
 * Every operation on an entry works on member texts, so no value is ever re-serialized (or altered).
 */

const STAMPS = new Set(['last_write_ip', 'last_write_ts']);

/** The entry's text: the data object's text with the stamps appended. */
export function makeEntryJson(dataJson: string, ip: string, ts: number): string {
  const stamps = `"last_write_ip":${jsonString(ip)},"last_write_ts":${ts}`;
  return dataJson === '{}' ? `{${stamps}}` : `${dataJson.slice(0, -1)},${stamps}}`;
}

/** The data members of an entry's text, without its stamps (wherever an old file put them). */
export function dataMembers(entryJson: string): Member[] {
  return splitMembers(entryJson).filter((m) => !STAMPS.has(m.name));
}

/**
 * Members of `base` with those of `patch` applied: a member of the same name takes the new value in its
 * place, new members go at the end (a shallow merge, as Update does). With an empty base it also resolves
 * repeated names, the last value winning in the place of the first (as a Python dict does).
 */
export function mergeMembers(base: readonly Member[], patch: readonly Member[]): Member[] {
  const out = base.slice();
  const at = new Map<string, number>();
  for (let i = 0; i < out.length; i++) at.set(out[i]!.name, i);
  for (const m of patch) {
    const i = at.get(m.name);
    if (i === undefined) {
      at.set(m.name, out.length);
      out.push(m);
    } else out[i] = m;
  }
  return out;
}

/** The entry text an Update of `base` with the data object `patchJson` stores (also how the journal replays it). */
export function applyPatch(baseEntryJson: string, patchJson: string, ip: string, ts: number): string {
  return makeEntryJson(joinMembers(mergeMembers(dataMembers(baseEntryJson), splitMembers(patchJson))), ip, ts);
}

/**
 * The entry's data members without its stamps, as compact JSON. Writes append the stamps as the last two
 * members, so in the common case this is a slice of the stored text. The suffix can only match as top-level
 * members: string contents cannot hold unescaped quotes, and the final `}` closes the object that holds
 * `last_write_ts`. Anything else (an entry from an old file, stamps elsewhere) is split into members.
 */
export function entryDataJson(entryJson: string, ip: string, ts: number): string {
  const stamps = `"last_write_ip":${jsonString(ip)},"last_write_ts":${ts}}`;
  if (entryJson.endsWith(stamps)) {
    const head = entryJson.slice(0, entryJson.length - stamps.length);
    if (head === '{') return '{}';
    if (head.endsWith(',')) return `${head.slice(0, -1)}}`;
  }
  return joinMembers(dataMembers(entryJson));
}
