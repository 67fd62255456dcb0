import { isPlainObject } from '../config/merge.js';
import { BrokerError } from './BrokerError.js';

/**
 * Deepest nesting of arrays and objects a value may have. JSON.parse takes any depth, but JSON.stringify
 * recurses and overflows the stack at a few thousand levels, which 1 MiB of `[` easily reaches.
 */
export const MAX_JSON_DEPTH = 100;

/** Nesting depth of JSON text (brackets outside strings), without recursion. */
function nestingDepth(text: string): number {
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

/** JSON.parse that refuses values nested deeper than MAX_JSON_DEPTH; `ok: false` for text that is not JSON. */
export function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false };
  }
  if (typeof value === 'object' && value !== null && nestingDepth(text) > MAX_JSON_DEPTH) {
    throw new BrokerError('INVALID_ARGUMENT', `Data nested too deeply: at most ${MAX_JSON_DEPTH} levels`);
  }
  return { ok: true, value };
}

/** Legacy `data` rule: a JSON object is stored as its members; anything else as `{"_str": text as sent}`. */
export function parseEntryData(text: string): Record<string, unknown> {
  const r = parseJson(text);
  return r.ok && isPlainObject(r.value) ? r.value : { _str: text };
}

/** Ping's rule: any JSON value echoes as parsed; text that is not JSON echoes as `{"_str": text}`. */
export function parseAnyJson(text: string | undefined): unknown {
  if (text === undefined || text === '') return null;
  const r = parseJson(text);
  return r.ok ? r.value : { _str: text };
}

/** `::ffff:10.0.0.5` -> `10.0.0.5`: old clients expect the IPv4 text. */
export function normalizeIp(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
