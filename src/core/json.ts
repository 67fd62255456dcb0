import { isLosslessNumber, parse, stringify, type LosslessNumber } from 'lossless-json';
import { BrokerError } from './BrokerError.js';

/**
 * JSON on the data path, without loss. A JavaScript number cannot hold `12345678901234567890` or tell `1.0`
 * from `1`, so values are parsed with lossless-json: numbers stay the text they were written as
 * (LosslessNumber) and are written back as that text. Nothing on the data path goes through JSON.parse.
 */
export type JsonValue = null | boolean | string | LosslessNumber | JsonValue[] | JsonObject;
export interface JsonObject {
  [member: string]: JsonValue;
}

/**
 * Deepest nesting of arrays and objects a value may have. Parsing and serializing recurse, and 1 MiB of `[`
 * would overflow the stack long before it ran out of bytes.
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

function tooDeep(): BrokerError {
  return new BrokerError('INVALID_ARGUMENT', `Data nested too deeply: at most ${MAX_JSON_DEPTH} levels`);
}

/**
 * Parses JSON text (RFC 8259) keeping every number's text. `ok: false` for text that is not JSON, and for an
 * object that names a member twice (JSON leaves its meaning open; the text is then kept as it was sent).
 * Throws INVALID_ARGUMENT for values nested deeper than MAX_JSON_DEPTH.
 */
export function parseJson(text: string): { ok: true; value: JsonValue } | { ok: false } {
  let value: JsonValue;
  try {
    value = parse(text) as JsonValue;
  } catch (err) {
    if (err instanceof RangeError) throw tooDeep(); // the parser's recursion ran out of stack
    return { ok: false };
  }
  if (typeof value === 'object' && value !== null && !isLosslessNumber(value) && nestingDepth(text) > MAX_JSON_DEPTH) throw tooDeep();
  return { ok: true, value };
}

/** Compact JSON text of a parsed value; numbers are written as they were read. */
export function stringifyJson(value: JsonValue): string {
  return stringify(value) as string;
}

/** A JSON object (not an array, not null, not a number). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !isLosslessNumber(value);
}

const NON_ASCII = /[^\x00-\x7f]/;
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
