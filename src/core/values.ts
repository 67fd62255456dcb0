import { isPlainObject } from '../config/merge.js';

/** Legacy `data` rule: a JSON object is stored as its members; anything else as `{"_str": text as sent}`. */
export function parseEntryData(text: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(text);
    if (isPlainObject(v)) return v;
  } catch {
    /* not JSON: kept as text */
  }
  return { _str: text };
}

/** Ping's rule: any JSON value echoes as parsed; text that is not JSON echoes as `{"_str": text}`. */
export function parseAnyJson(text: string | undefined): unknown {
  if (text === undefined || text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return { _str: text };
  }
}

/** `::ffff:10.0.0.5` -> `10.0.0.5`: old clients expect the IPv4 text. */
export function normalizeIp(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
