import type { ServerResponse } from 'node:http';
import { escapeNonAscii, jsonString } from '../../core/json.js';

export const LEGACY_CONTENT_TYPE = 'Application/json';
const MAX_REASON_BYTES = 1024;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/**
 * The reason phrase carries the message (old clients show it). Node only allows Latin-1 there: send the
 * message's UTF-8 bytes as such, without control characters, and cut it short so no client's status-line
 * limit is hit (a 64 KiB name must not make a 64 KiB status line).
 */
export function reasonPhrase(message: string): string {
  // Printable ASCII is its own UTF-8 and Latin-1: nearly every reply ('OK') is sent as it is.
  if (message.length <= MAX_REASON_BYTES && PRINTABLE_ASCII.test(message)) return message;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters cannot go in a reason phrase
  let bytes = Buffer.from(message.replace(/[\x00-\x1f\x7f]/g, ' '), 'utf8');
  if (bytes.length > MAX_REASON_BYTES) {
    let cut = MAX_REASON_BYTES;
    while (cut > 0 && (bytes[cut]! & 0xc0) === 0x80) cut--; // do not split a UTF-8 sequence
    bytes = Buffer.concat([bytes.subarray(0, cut), Buffer.from('...')]);
  }
  return bytes.toString('latin1');
}

/** Response headers an extension method set, in order (a name may repeat); checked by the extension host. */
export type ExtraHeaders = ReadonlyArray<readonly [string, string]> | undefined;

/** Node's flat header list (`[name, value, name, value, ...]`): it keeps repeated names. */
function flatHeaders(extra: ReadonlyArray<readonly [string, string]>, own: string[]): string[] {
  const out: string[] = [];
  for (const [name, value] of extra) out.push(name, value);
  return out.concat(own);
}

export function sendReply(res: ServerResponse, status: number, reason: string, body: string | Uint8Array, contentType = LEGACY_CONTENT_TYPE, extra?: ExtraHeaders): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // A Buffer body keeps Node from joining the Latin-1 status line to a UTF-8 body string (re-encoding it).
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  if (extra && extra.length > 0) {
    res.writeHead(status, reasonPhrase(reason), flatHeaders(extra, ['Content-Type', contentType, 'Content-Length', String(bytes.length)]));
  } else {
    res.writeHead(status, reasonPhrase(reason), {
      'Content-Type': contentType,
      'Content-Length': bytes.length,
    });
  }
  res.end(bytes);
}

/** Statuses that never carry content (RFC 9110 15.3.5, 15.3.6, 15.4.5). */
export function isBodiless(status: number): boolean {
  return status === 204 || status === 205 || status === 304;
}

/** A bodiless answer: no content, and no Content-Length promising any (205 says 0, as RFC 9110 allows). */
export function sendBodiless(res: ServerResponse, status: number, reason: string, extra?: ExtraHeaders): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const own = status === 205 ? ['Content-Length', '0'] : [];
  res.writeHead(status, reasonPhrase(reason), extra && extra.length > 0 ? flatHeaders(extra, own) : status === 205 ? { 'Content-Length': 0 } : {});
  res.end();
}

/**
 * `{"success": false, "message": MESSAGE, "data": {}}` (and the entry's revision after a CAS mismatch; an
 * extension's `stack` in development mode), ASCII only.
 */
export function failureBody(message: string, revision?: number, stack?: string): string {
  const rev = revision === undefined ? '' : `,"revision":${revision}`;
  const where = stack === undefined ? '' : `,"stack":${escapeNonAscii(jsonString(stack))}`;
  return `{"success":false,"message":${escapeNonAscii(jsonString(message))},"data":{}${rev}${where}}`;
}

/**
 * A failure: the message as reason phrase too, except on a 200 (a registry miss), whose reason phrase is
 * always `OK`, as the original's.
 */
export function sendFailure(res: ServerResponse, status: number, message: string, revision?: number, extra?: ExtraHeaders, stack?: string): void {
  sendReply(res, status, status === 200 ? 'OK' : message, failureBody(message, revision, stack), LEGACY_CONTENT_TYPE, extra);
}

/** `Bpbroker-Registry-Problem: REASON` while the registry cannot be used (ping's answer tells it so). */
export function registryProblemHeader(problem: string | undefined): ExtraHeaders {
  return problem === undefined ? undefined : [['Bpbroker-Registry-Problem', reasonPhrase(problem)]];
}
