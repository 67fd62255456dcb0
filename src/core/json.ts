import { BrokerError } from './BrokerError.js';

/**
 * JSON on the data path, without loss. A JavaScript number cannot hold `12345678901234567890` or tell `1.0`
 * from `1`, so a value is never re-serialized from what JSON.parse made of it. JSON.parse (the engine's own,
 * strict RFC 8259 parser) only validates the text and tells its shape; what is stored and sent back is the
 * text itself, made compact, so every number keeps the digits it was written with.
 */
export interface ParsedJson {
  /** What JSON.parse made of the text: for its shape, member names and string values only. Never serialize it. */
  value: unknown;
  /** The text without whitespace outside strings: the value exactly as it was written. */
  json: string;
}

/**
 * Deepest nesting of arrays and objects a value may have: a documented limit (400 / INVALID_ARGUMENT above
 * it), so that no reader of the data, in any language, has to recurse without bound.
 */
export const MAX_JSON_DEPTH = 100;

/** Nesting depth of JSON text (brackets outside strings), without recursion. */
export function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) max = Math.max(max, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/**
 * Validates JSON text and returns it compact; `ok: false` for text that is not JSON.
 * Throws INVALID_ARGUMENT for values nested deeper than MAX_JSON_DEPTH.
 */
export function parseJson(text: string): ({ ok: true } & ParsedJson) | { ok: false } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false };
  }
  if (typeof value === 'object' && value !== null && nestingDepth(text) > MAX_JSON_DEPTH) {
    throw new BrokerError('INVALID_ARGUMENT', `Data nested too deeply: at most ${MAX_JSON_DEPTH} levels`);
  }
  return { ok: true, value, json: compactJson(text) };
}

const WHITESPACE = /[ \t\n\r]/;
/** A string token (escapes included) or a run of JSON whitespace. */
const STRING_OR_WHITESPACE = /"[^"\\]*(?:\\.[^"\\]*)*"|[ \t\n\r]+/g;

/** Valid JSON text without the whitespace outside its strings. */
export function compactJson(text: string): string {
  if (!WHITESPACE.test(text)) return text;
  return text.replace(STRING_OR_WHITESPACE, (m) => (m.charCodeAt(0) === 0x22 ? m : ''));
}

/** A JSON object as JSON.parse returns it (not an array, not null). */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `"text"` as JSON writes it. */
export function jsonString(text: string): string {
  return JSON.stringify(text);
}

/** The end (exclusive) of the string token that starts at `i` in valid JSON text. */
export function endOfString(s: string, i: number): number {
  let j = i + 1;
  for (;;) {
    j = s.indexOf('"', j);
    let backslashes = 0;
    while (s.charCodeAt(j - 1 - backslashes) === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return j + 1;
    j++;
  }
}

const STRUCTURE = /["[\]{}]/g;

/** The end (exclusive) of the value that starts at `i` in valid, compact JSON text. */
export function endOfValue(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === 0x22) return endOfString(s, i);
  if (c === 0x7b || c === 0x5b) {
    let depth = 0;
    STRUCTURE.lastIndex = i;
    for (;;) {
      const at = STRUCTURE.exec(s)!.index;
      const ch = s.charCodeAt(at);
      if (ch === 0x22) STRUCTURE.lastIndex = endOfString(s, at);
      else if (ch === 0x7b || ch === 0x5b) depth++;
      else if (--depth === 0) return at + 1;
    }
  }
  let j = i;
  while (j < s.length) {
    const ch = s.charCodeAt(j);
    if (ch === 0x2c || ch === 0x7d || ch === 0x5d) break;
    j++;
  }
  return j;
}

/** One member of a JSON object: its name, and its value as the text it was written with. */
export interface Member {
  name: string;
  /** The name as JSON text (quoted, escapes as written). */
  key: string;
  value: string;
}

/**
 * The members of a compact JSON object's text, in order, each value as its text. Only for text already
 * known to be valid and compact (stored entries, or parseJson's `json`): it finds boundaries, it does not
 * validate. A repeated name appears as often as it was written.
 */
export function splitMembers(objectJson: string): Member[] {
  const out: Member[] = [];
  let i = 1;
  while (objectJson.charCodeAt(i) !== 0x7d) {
    const keyEnd = endOfString(objectJson, i);
    const valueEnd = endOfValue(objectJson, keyEnd + 1);
    const key = objectJson.slice(i, keyEnd);
    out.push({ name: key.includes('\\') ? (JSON.parse(key) as string) : key.slice(1, -1), key, value: objectJson.slice(keyEnd + 1, valueEnd) });
    i = valueEnd;
    if (objectJson.charCodeAt(i) === 0x2c) i++;
  }
  return out;
}

/** A compact JSON object from members' texts. */
export function joinMembers(members: Iterable<{ key: string; value: string }>): string {
  let out = '';
  for (const m of members) out += `${out === '' ? '{' : ','}${m.key}:${m.value}`;
  return out === '' ? '{}' : `${out}}`;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: the ASCII range is the point
const NON_ASCII = /[^\x00-\x7f]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: the ASCII range is the point
const NON_ASCII_ALL = /[^\x00-\x7f]/g;
const hex4 = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * JSON text with every non-ASCII character written as `\uXXXX` (a character above U+FFFF as its surrogate
 * pair), as Python's json.dumps writes it. The text means the same, and a client that decodes the bytes with
 * the wrong charset still reads it right. Outside strings JSON text is ASCII, so the whole text can be mapped.
 */
export function escapeNonAscii(json: string): string {
  return NON_ASCII.test(json) ? json.replace(NON_ASCII_ALL, hex4) : json;
}
