import type { IncomingMessage } from 'node:http';
import { BrokerError } from '../../core/BrokerError.js';
import type { Params } from '../../core/types.js';
import { isJsonObject, parseJson, splitMembers } from '../../core/json.js';

/** Reads the body up to `limit` bytes; a larger body is refused without reading it all into memory. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) throw tooLarge(limit);
      chunks.push(chunk);
    }
  } catch (err) {
    // The client went away or sent a malformed body (the connection is answered and closed elsewhere):
    // its fault, not an unexpected error of ours.
    if ((err as NodeJS.ErrnoException).code === 'ECONNRESET') throw new BrokerError('INVALID_ARGUMENT', 'Request body incomplete: connection closed');
    throw err;
  }
  return Buffer.concat(chunks, size);
}

function tooLarge(limit: number): BrokerError {
  return new BrokerError('RESOURCE_EXHAUSTED', `Request body too large: at most ${limit} bytes`, { httpStatus: 413 });
}

/** `+` and `%20` are spaces, percent-encoded UTF-8 is decoded, the last of a repeated key wins. */
export function parseForm(text: string, into: Params = {}): Params {
  for (const [k, v] of new URLSearchParams(text)) into[k] = v;
  return into;
}

/**
 * Parameters from the query string and the body, the query string winning per key. A JSON body
 * (Content-Type application/json) is read as an object of parameters; anything else as a form.
 */
export function mergeParams(query: string, body: Buffer, contentType: string | undefined): Params {
  const params: Params = {};
  if (body.length > 0) {
    if (contentType?.toLowerCase().includes('json')) {
      const parsed = parseJson(body.toString('utf8'));
      if (!parsed.ok) throw new BrokerError('INVALID_ARGUMENT', 'Malformed JSON body');
      if (!isJsonObject(parsed.value)) throw new BrokerError('INVALID_ARGUMENT', 'JSON body must be an object of parameters');
      // A string member is the parameter's text; any other value is passed on as the JSON text it was written as.
      for (const m of splitMembers(parsed.json)) {
        const v = parsed.value[m.name];
        params[m.name] = typeof v === 'string' ? v : m.value;
      }
    } else {
      parseForm(body.toString('utf8'), params);
    }
  }
  return parseForm(query, params);
}

/** `/{namespace}/{Method}` with an optional trailing slash; segments are percent-decoded. */
export function splitPath(path: string): { namespace: string; method: string } {
  let p = path.startsWith('/') ? path.slice(1) : path;
  if (p.endsWith('/')) p = p.slice(0, -1);
  const slash = p.indexOf('/');
  const [ns, method] = slash < 0 ? [p, ''] : [p.slice(0, slash), p.slice(slash + 1)];
  return { namespace: decodeSegment(ns), method: decodeSegment(method) };
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
