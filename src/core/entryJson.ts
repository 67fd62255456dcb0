import { endOfString, endOfValue, jsonString, joinMembers, splitMembers, type Member } from './json.js';

/**
 * The stored text of a registry entry: its data members as compact JSON, each value the text it was written
 * with, followed by the writer's stamps `last_write_ip` and `last_write_ts` as the last two members.
 * Every operation on an entry works on member texts, so no value is ever re-serialized (or altered).
 */

const STAMPS = new Set(['last_write_ip', 'last_write_ts']);

const stampsText = (ip: string, ts: number): string => `"last_write_ip":${jsonString(ip)},"last_write_ts":${ts}`;

/** The entry's text: the data object's text with the stamps appended. */
export function makeEntryJson(dataJson: string, ip: string, ts: number): string {
  const stamps = stampsText(ip, ts);
  return dataJson === '{}' ? `{${stamps}}` : `${dataJson.slice(0, -1)},${stamps}}`;
}

/** The data members of an entry's text, without its stamps (wherever an old file put them). */
export function dataMembers(entryJson: string): Member[] {
  return splitMembers(entryJson).filter((m) => !STAMPS.has(m.name));
}

/**
 * Members of `base` with those of `patch` applied: a member of the same name takes the new value in its
 * place, new members go at the end (a shallow merge, as Update does). With an empty base it resolves
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

/** Marks the base's own stamps for removal (the new ones go at the end). */
const DROP: Member = { name: '', key: '', value: '' };

/**
 * Update: `patch` (members with distinct names) merged shallowly into the entry text `base`, stamped anew.
 * One pass over the base finds the members it replaces and copies everything else as slices of the base
 * text, with no per-member allocation: the cost of a small update of a wide entry is that pass, and the
 * journal keeps only the patch. Returns the new text and its count of data members.
 */
export function patchEntry(base: string, patch: readonly Member[], ip: string, ts: number): { json: string; members: number } {
  // Names to look for, by length: most base members are passed over with one Map probe and no allocation.
  const byLength = new Map<number, Member[]>();
  const wanted = new Map<string, Member>();
  const want = (name: string, m: Member): void => {
    wanted.set(name, m);
    const list = byLength.get(name.length);
    if (list) list.push(m);
    else byLength.set(name.length, [m]);
  };
  for (const m of patch) want(m.name, m);
  for (const stamp of STAMPS) if (!wanted.has(stamp)) want(stamp, { ...DROP, name: stamp });
  const escaped = (start: number, keyEnd: number): boolean => {
    for (let j = start + 1; j < keyEnd - 1; j++) if (base.charCodeAt(j) === 0x5c) return true;
    return false;
  };
  const match = (start: number, keyEnd: number): Member | undefined => {
    if (escaped(start, keyEnd)) return wanted.get(JSON.parse(base.slice(start, keyEnd)) as string);
    return byLength.get(keyEnd - start - 2)?.find((m) => base.startsWith(m.name, start + 1));
  };

  const pieces: string[] = [];
  const used = new Set<string>();
  let runStart = -1;
  let runEnd = -1;
  let members = 0;
  let i = 1;
  while (base.charCodeAt(i) !== 0x7d) {
    const keyEnd = endOfString(base, i);
    const valueEnd = endOfValue(base, keyEnd + 1);
    const m = match(i, keyEnd);
    if (m === undefined) {
      if (runStart < 0) runStart = i;
      runEnd = valueEnd;
      members++;
    } else {
      if (runStart >= 0) pieces.push(base.slice(runStart, runEnd));
      runStart = -1;
      if (m.key !== '') {
        pieces.push(`${m.key}:${m.value}`);
        members++;
      }
      used.add(m.name);
    }
    i = valueEnd;
    if (base.charCodeAt(i) === 0x2c) i++;
  }
  if (runStart >= 0) pieces.push(base.slice(runStart, runEnd));
  for (const m of patch) {
    if (used.has(m.name)) continue;
    pieces.push(`${m.key}:${m.value}`);
    members++;
  }
  pieces.push(stampsText(ip, ts));
  return { json: `{${pieces.join(',')}}`, members };
}

/** The entry text an Update of `base` with the data object `patchJson` stores (how the journal replays it). */
export function applyPatch(baseEntryJson: string, patchJson: string, ip: string, ts: number): string {
  return patchEntry(baseEntryJson, splitMembers(patchJson), ip, ts).json;
}

/**
 * The entry's data members without its stamps, as compact JSON. Writes append the stamps as the last two
 * members, so in the common case this is a slice of the stored text. The suffix can only match as top-level
 * members: string contents cannot hold unescaped quotes, and the final `}` closes the object that holds
 * `last_write_ts`. Anything else (an entry from an old file, stamps elsewhere) is split into members.
 */
export function entryDataJson(entryJson: string, ip: string, ts: number): string {
  const stamps = `${stampsText(ip, ts)}}`;
  if (entryJson.endsWith(stamps)) {
    const head = entryJson.slice(0, entryJson.length - stamps.length);
    if (head === '{') return '{}';
    if (head.endsWith(',')) return `${head.slice(0, -1)}}`;
  }
  return joinMembers(dataMembers(entryJson));
}
