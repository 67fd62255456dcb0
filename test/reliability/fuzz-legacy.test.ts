import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, type RunningBroker } from '../helpers/broker.js';
import { call, qs } from '../helpers/https.js';
import { checkFailureReply, mustPing, rawRequest, startConfigured } from './raw.js';
import { report, runs, seedFor, SOAK } from './soak.js';

/**
 * Hostile input on the legacy API, as raw bytes over TLS so that malformed HTTP reaches the broker as sent:
 * whatever arrives, the broker answers (4xx with a JSON message for anything malformed), does not hang,
 * does not crash, and keeps answering other clients in between.
 */
const LIMITS = { max_body_bytes: 65536, max_name_length: 1000, max_entry_bytes: 16384 };
let b: RunningBroker;
let inputs = 0;

beforeAll(async () => {
  b = await startConfigured({ api: LIMITS, services: { _access_key: '' }, secured: { _access_key: 'k' } });
});
afterAll(async () => {
  report({ suite: 'fuzz-legacy', inputs, crashes: b.proc.exitCode === null && b.proc.signalCode === null ? 0 : 1 });
  await b.stop();
  removeDir(b.home);
});

const percentJunk = fc.constantFrom('%', '%%', '%zz', '%4', '%C3', '%C3%28', '%FF%FE', '%00', '%2F', '%E2%82', '%F0%9F%98%80', '+', '%20', '&', '=', '?', '#', '..', '//');
const textPiece = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 6 }),
  percentJunk,
  fc.constantFrom('services', 'ping', 'api', '_config', '_global', 'worker', 'grpc', 'secured', '__proto__', 'constructor', 'Services'),
  fc.constantFrom('Register', 'Replace', 'Update', 'Get', 'List', 'Delete', 'Ping', '_private', 'toString', 'hasOwnProperty'),
);
const text = fc.array(textPiece, { maxLength: 5 }).map((a) => a.join(''));
/** Request-target bytes: mostly printable, sometimes raw bytes that are not UTF-8 or not allowed at all. */
const targetBytes = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(text, text, fc.boolean()).map(([ns, m, slash]) => Buffer.from(`/${ns}/${m}${slash ? '/' : ''}`, 'utf8')) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 40 }).map((u) => Buffer.concat([Buffer.from('/'), Buffer.from(u)])) },
  { weight: 1, arbitrary: fc.constantFrom('*', 'http://evil/services/Get/', '/', '', '/ping', '/ping/Ping/../../api/x').map((s) => Buffer.from(s)) },
);
const param = fc.tuple(fc.oneof(fc.constantFrom('name', 'data', 'access_key'), text), fc.oneof(text, fc.json({ maxDepth: 2 }), percentJunk));
const query = fc.array(param, { maxLength: 5 }).map((ps) => ps.map(([k, v]) => `${k}=${v}`).join('&'));
const method = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('GET', 'POST', 'DELETE') },
  { weight: 1, arbitrary: fc.constantFrom('PUT', 'HEAD', 'OPTIONS', 'PATCH', 'get', 'PRI', 'BREW', 'CONNECT', 'TRACE') },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z!#$%&'*+.^_`|~-]{1,10}$/) },
);
const contentType = fc.constantFrom(undefined, 'application/x-www-form-urlencoded', 'application/json', 'application/json; charset=latin1', 'text/plain', 'multipart/form-data; boundary=x', 'x/y', 'JSON', '');
const body = fc.oneof(
  fc.constant(Buffer.alloc(0)),
  fc.uint8Array({ maxLength: 2048 }).map((u) => Buffer.from(u)),
  query.map((q) => Buffer.from(q, 'utf8')),
  fc.json().map((j) => Buffer.from(j, 'utf8')),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 })).map((d) => Buffer.from(JSON.stringify(d))),
);
const framing = fc.constantFrom('length', 'length', 'length', 'none', 'shorter', 'garbage', 'duplicate', 'negative', 'chunked', 'bad-chunked', 'both');
const header = fc.tuple(fc.oneof(fc.constantFrom('Expect', 'Host', 'Connection', 'Upgrade', 'Accept-Encoding', 'Content-Encoding', 'Transfer-Encoding'), fc.string({ minLength: 1, maxLength: 12 })), fc.string({ maxLength: 40 }));
const version = fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.x', 'http/1.1', '');

const request = fc.record({ method, target: targetBytes, query: fc.option(query, { nil: undefined }), version, contentType, body, framing, headers: fc.array(header, { maxLength: 4 }) });
type Req = typeof request extends fc.Arbitrary<infer T> ? T : never;

function encode(r: Req): Buffer {
  const lines: string[] = [];
  const target = r.query === undefined ? r.target : Buffer.concat([r.target, Buffer.from(`?${r.query}`, 'utf8')]);
  if (r.contentType !== undefined) lines.push(`Content-Type: ${r.contentType}`);
  for (const [k, v] of r.headers) lines.push(`${k}: ${v}`);
  let payload = r.body;
  switch (r.framing) {
    case 'length':
      lines.push(`Content-Length: ${payload.length}`);
      break;
    case 'shorter':
      lines.push(`Content-Length: ${Math.floor(payload.length / 2)}`);
      break;
    case 'garbage':
      lines.push('Content-Length: 12abc');
      break;
    case 'duplicate':
      lines.push(`Content-Length: ${payload.length}`, `Content-Length: ${payload.length + 1}`);
      break;
    case 'negative':
      lines.push('Content-Length: -1');
      break;
    case 'chunked':
      lines.push('Transfer-Encoding: chunked');
      payload = Buffer.concat([Buffer.from(`${payload.length.toString(16)}\r\n`), payload, Buffer.from(payload.length ? '\r\n0\r\n\r\n' : '\r\n')]);
      break;
    case 'bad-chunked':
      lines.push('Transfer-Encoding: chunked');
      payload = Buffer.concat([Buffer.from('zz\r\n'), payload, Buffer.from('\r\n0\r\n\r\n')]);
      break;
    case 'both':
      lines.push('Transfer-Encoding: chunked', `Content-Length: ${payload.length}`);
      break;
    case 'none':
      break;
  }
  const head = Buffer.from(`${r.method} `, 'latin1');
  const rest = Buffer.from(` ${r.version}\r\nHost: 127.0.0.1\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`, 'utf8');
  return Buffer.concat([head, target, rest, payload]);
}

const seed = seedFor('fuzz-legacy');

describe('legacy API under hostile input', () => {
  it(`answers every request, 4xx with a JSON message when malformed, and keeps serving (seed ${seed})`, { timeout: SOAK ? 900_000 : 60_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        inputs++;
        const bytes = encode(r);
        const reply = await rawRequest(b.port, bytes, { head: r.method === 'HEAD' });
        checkFailureReply(reply, JSON.stringify(bytes.toString('latin1').slice(0, 300)), r.method === 'HEAD');
        if (inputs % 10 === 0) await mustPing(b.port);
      }),
      { numRuns: runs(400, 5000), seed },
    );
    await mustPing(b.port);
    expect(b.proc.exitCode).toBeNull();
    // Nothing a client sent made the broker log an unexpected error (that would be a 500 somewhere).
    expect(b.stderr()).not.toContain('unexpected error');
  });

  it('enforces each limit with a clear answer and stays up', async () => {
    const cases: Array<[string, () => Promise<{ status: number; json: any }>, number, RegExp]> = [
      ['64 KiB request line (accepted, as the original)', () => call(b.port, `/ping/Ping/?${qs({ data: JSON.stringify('x'.repeat(65_000)) })}`), 200, /./],
      ['header block above max_header_bytes', () => rawRequest(b.port, Buffer.from(`GET /ping/Ping/ HTTP/1.1\r\nHost: x\r\nX-Big: ${'h'.repeat(140_000)}\r\n\r\n`)), 431, /too large/],
      ['body above max_body_bytes', () => call(b.port, '/services/Register/', { body: `name=x&data=${'b'.repeat(70_000)}`, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }), 413, /at most 65536 bytes/],
      ['declared body above max_body_bytes', () => rawRequest(b.port, Buffer.from('POST /services/Register/ HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n')), 413, /at most 65536 bytes/],
      ['name above max_name_length', () => call(b.port, `/services/Register/?${qs({ name: 'n'.repeat(1001), data: '{}' })}`), 400, /at most 1000 characters/],
      ['entry above max_entry_bytes', () => call(b.port, '/services/Register/', { body: qs({ name: 'big', data: JSON.stringify({ v: 'e'.repeat(17_000) }) }), headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }), 413, /at most 16384 bytes/],
      // JSON.parse takes 5,000 levels; serializing them again overflowed the stack: a 500 before the depth limit.
      ['deeply nested data', () => call(b.port, '/services/Register/', { body: qs({ name: 'deep', data: `{"a":${'['.repeat(5000)}${']'.repeat(5000)}}` }), headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }), 400, /nested too deeply/],
      ['deeply nested ping', () => call(b.port, '/ping/Ping/', { body: qs({ data: `${'['.repeat(5000)}${']'.repeat(5000)}` }), headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }), 400, /nested too deeply/],
      ['deeply nested JSON body', () => call(b.port, '/services/Register/', { body: `{"name":"deep","data":${'['.repeat(5000)}${']'.repeat(5000)}}`, headers: { 'Content-Type': 'application/json' } }), 400, /nested too deeply/],
      ['nesting within the limit', () => call(b.port, `/services/Register/?${qs({ name: 'nested-ok', data: `{"a":${'['.repeat(99)}${']'.repeat(99)}}` })}`), 200, /./],
      ['malformed JSON body', () => call(b.port, '/services/Register/', { body: '{"name":', headers: { 'Content-Type': 'application/json' } }), 400, /Malformed JSON/],
    ];
    for (const [what, send, status, message] of cases) {
      const r = await send();
      expect(r.status, what).toBe(status);
      if (status !== 200) {
        expect(r.json?.success, what).toBe(false);
        expect(r.json?.message, what).toMatch(message);
      }
      await mustPing(b.port);
    }
  });

  it('answers what Node settles before the app with the same JSON failure (found by this suite)', async () => {
    const cases: Array<[string, string, number]> = [
      ['malformed chunked body after valid headers', 'POST /services/Register/?name=c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nfalse\r\n0\r\n\r\n', 400],
      ['Expect other than 100-continue', 'GET /ping/Ping/ HTTP/1.1\r\nHost: x\r\nExpect: tea\r\n\r\n', 417],
      ['CONNECT', 'CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: x\r\n\r\n', 501],
      ['protocol upgrade', 'GET /ping/Ping/ HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n', 400],
    ];
    for (const [what, raw, status] of cases) {
      const r = await rawRequest(b.port, Buffer.from(raw, 'latin1'));
      expect(r.status, what).toBe(status);
      expect(r.json, what).toMatchObject({ success: false, message: expect.any(String) });
    }
    await mustPing(b.port);
  });
});
