import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { startBroker, tempDir, type RunningBroker } from '../helpers/broker.js';
import { call } from '../helpers/https.js';

/** Starts a broker whose bpbroker.json holds `sections` (limits and timeouts the suite wants). */
export function startConfigured(sections: Record<string, unknown>, args: string[] = []): Promise<RunningBroker> {
  const home = tempDir();
  mkdirSync(join(home, 'etc'));
  writeFileSync(join(home, 'etc', 'bpbroker.json'), JSON.stringify(sections));
  return startBroker({ home, args });
}

export interface RawReply {
  status: number;
  reason: string;
  headers: Record<string, string>;
  body: Buffer;
  /** The body as JSON, or undefined. */
  json: any;
}

/** Opens a TLS connection that negotiates HTTP/1.1, as curl and old clients do. */
export function openTls(port: number, alpn: string[] = ['http/1.1']): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: alpn, servername: 'localhost' }, () => resolve(s));
    s.once('error', reject);
  });
}

/**
 * Sends raw bytes over a fresh TLS connection and resolves to the first (non-1xx) response. Rejects when the
 * server closes without answering or does not answer within `timeoutMs`: both are failures for the suites.
 */
export async function rawRequest(port: number, bytes: Buffer, opts: { timeoutMs?: number; head?: boolean } = {}): Promise<RawReply> {
  const socket = await openTls(port);
  return new Promise<RawReply>((resolve, reject) => {
    let buf = Buffer.alloc(0);
    let settled = false;
    const finish = (err: Error | undefined, reply?: RawReply) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(reply!);
    };
    const timer = setTimeout(() => finish(new Error(`no answer within ${opts.timeoutMs ?? 5000} ms`)), opts.timeoutMs ?? 5000);
    const tryParse = (closed: boolean): void => {
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) break;
        const head = buf.subarray(0, end).toString('latin1').split('\r\n');
        const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(head[0] ?? '');
        if (!m) {
          finish(new Error(`not an HTTP response: ${JSON.stringify(head[0])}`));
          return;
        }
        const status = Number(m[1]);
        const headers: Record<string, string> = {};
        for (const line of head.slice(1)) {
          const i = line.indexOf(':');
          if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
        }
        if (status >= 100 && status < 200) {
          buf = buf.subarray(end + 4);
          continue;
        }
        let body: Buffer = buf.subarray(end + 4);
        if (!opts.head && headers['transfer-encoding'] === 'chunked') {
          const decoded = dechunk(body);
          if (!decoded) {
            if (closed) finish(new Error('connection closed in the middle of a chunked body'));
            return;
          }
          body = decoded;
          headers['content-length'] = String(decoded.length);
        }
        const length = opts.head ? 0 : headers['content-length'] !== undefined ? Number(headers['content-length']) : undefined;
        if (length === undefined && !closed) return;
        if (length !== undefined && body.length < length) {
          if (closed) finish(new Error('connection closed in the middle of the response body'));
          return;
        }
        const content = length === undefined ? body : body.subarray(0, length);
        let json: unknown;
        try {
          json = JSON.parse(content.toString('utf8'));
        } catch {
          json = undefined;
        }
        finish(undefined, { status, reason: Buffer.from(m[2] ?? '', 'latin1').toString('utf8'), headers, body: content, json });
        return;
      }
      if (closed) finish(new Error(`connection closed without an answer${buf.length ? `: ${JSON.stringify(buf.toString('latin1').slice(0, 100))}` : ''}`));
    };
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      tryParse(false);
    });
    socket.on('end', () => tryParse(true));
    socket.on('close', () => tryParse(true));
    // A reset after the server answered and closed (e.g. 413 before the body was read) is not a failure.
    socket.on('error', () => tryParse(true));
    socket.write(bytes, () => {});
  });
}

/** The body of a complete chunked message, or undefined while it is incomplete. */
function dechunk(buf: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const eol = buf.indexOf('\r\n', pos);
    if (eol < 0) return undefined;
    const size = parseInt(buf.subarray(pos, eol).toString('latin1'), 16);
    if (Number.isNaN(size)) return undefined;
    if (size === 0) return Buffer.concat(parts);
    if (buf.length < eol + 2 + size + 2) return undefined;
    parts.push(buf.subarray(eol + 2, eol + 2 + size));
    pos = eol + 2 + size + 2;
  }
}

/** A legacy ping; rejects unless the broker answers it correctly. */
export async function mustPing(port: number, data = 'alive', timeoutMs = 10_000): Promise<void> {
  const r = await Promise.race([
    call(port, `/ping/Ping/?data=${encodeURIComponent(JSON.stringify(data))}`),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`ping not answered within ${timeoutMs} ms`)), timeoutMs)),
  ]);
  if (r.status !== 200 || r.json?.data !== data) throw new Error(`ping answered ${r.status} ${r.text}`);
}

/** What a malformed request must get: a 4xx (501 for an unknown method, as the original) with a JSON failure body. */
export function checkFailureReply(r: RawReply, what: string, head = false): void {
  const bad = (why: string) => new Error(`${what}: ${why}: ${r.status} ${r.reason} ${r.body.toString('utf8').slice(0, 200)}`);
  if (r.status >= 500 && r.status !== 501) throw bad('server error');
  if (head) return; // HEAD answers carry no body
  if (r.status >= 400) {
    if (r.json?.success !== false || typeof r.json.message !== 'string' || r.json.message === '') throw bad('no JSON failure message');
  } else if (r.status !== 200 || r.json === undefined) {
    throw bad('unexpected answer');
  }
}
