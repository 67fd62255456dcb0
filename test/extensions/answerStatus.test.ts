import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BPBROKER, removeDir, runCli, startBroker, tempDir, type RunningBroker } from '../helpers/broker.js';

/** Issue 10, case 12: `rh.status` outside 200..599 is refused with 500; 204, 205 and 304 go out without content. */
const STATUSES = `
export function Status(rh) { rh.status = JSON.parse(rh.qs.s); rh.statusMessage = rh.qs.m ?? ''; rh.data = { some: 'body' }; }
export function End() { return 'END-OF-EXCHANGE'; }
`;

interface RawResponse {
  status: number;
  reason: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends the requests on one TLS connection, pipelined, the last one to `End`, and parses the answers the way
 * HTTP/1.1 frames them: a client that trusted a wrong Content-Length, or waited for a body, would see it here.
 */
function exchange(port: number, paths: string[]): Promise<RawResponse[]> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer within 15 s; got: ${JSON.stringify(text)}`));
    }, 15_000);
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      text += d;
      if (!text.includes('END-OF-EXCHANGE')) return;
      clearTimeout(timer);
      socket.destroy();
      resolve(parse(text));
    });
    socket.on('error', reject);
    socket.on('secureConnect', () => {
      socket.write([...paths, '/statuses/End/'].map((p) => `GET ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`).join(''));
    });
  });
}

function parse(text: string): RawResponse[] {
  const out: RawResponse[] = [];
  let at = 0;
  while (at < text.length) {
    const end = text.indexOf('\r\n\r\n', at);
    if (end < 0) throw new Error(`unframed bytes: ${JSON.stringify(text.slice(at))}`);
    const [statusLine, ...lines] = text.slice(at, end).split('\r\n');
    const m = /^HTTP\/1\.1 (\d{3}) ?(.*)$/.exec(statusLine!);
    if (!m) throw new Error(`not a status line: ${JSON.stringify(statusLine)}`);
    const headers: Record<string, string> = {};
    for (const l of lines) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
    const status = Number(m[1]);
    const length = headers['content-length'] === undefined ? 0 : Number(headers['content-length']);
    if (headers['transfer-encoding'] !== undefined) throw new Error(`chunked answer to a status test: ${statusLine}`);
    const bodiless = status === 204 || status === 304 || status < 200;
    const body = bodiless ? '' : text.slice(end + 4, end + 4 + length);
    out.push({ status, reason: m[2]!, headers, body });
    at = end + 4 + body.length;
  }
  return out;
}

const statusPath = (s: string, m = ''): string => `/statuses/Status/?s=${encodeURIComponent(s)}${m ? `&m=${encodeURIComponent(m)}` : ''}`;

describe('rh.status on a real broker (raw HTTP/1.1 over TLS)', () => {
  const home = tempDir('bpbroker-status-');
  let broker: RunningBroker;

  beforeAll(async () => {
    mkdirSync(join(home, 'lib'));
    writeFileSync(join(home, 'lib', 'statuses.mjs'), STATUSES);
    expect((await runCli(BPBROKER, ['configure'], { env: { BPBROKER_HOME: home }, input: '{"statuses": {}}' })).code).toBe(0);
    broker = await startBroker({ home });
  });
  afterAll(async () => {
    await broker?.stop();
    removeDir(home);
  });

  it.each(['100', '101', '199', '0', '-204', '1000', '600', '200.5', '"ok"', '"204"', 'null', '{}'])(
    'rh.status = %s answers 500 at once with a clear message, and the connection goes on',
    async (s) => {
      const [r, end] = await exchange(broker.port, [statusPath(s)]);
      expect(r!.status).toBe(500);
      const message = JSON.parse(r!.body).message as string;
      expect(message).toMatch(/^Extension statuses\.Status set rh\.status to .+: it must be an integer from 200 to 599$/);
      expect(r!.reason).toBe(message);
      expect(end!.body).toBe('END-OF-EXCHANGE');
    },
  );

  it('204 and 304 carry neither content nor Content-Length; 205 says Content-Length 0; the next answer is intact', async () => {
    const [noContent, notModified, reset, end] = await exchange(broker.port, [statusPath('204'), statusPath('304', 'Not Modified'), statusPath('205')]);
    expect(noContent).toMatchObject({ status: 204, reason: 'No Content', body: '' });
    expect(noContent!.headers['content-length']).toBeUndefined();
    expect(notModified).toMatchObject({ status: 304, reason: 'Not Modified', body: '' });
    expect(notModified!.headers['content-length']).toBeUndefined();
    expect(reset).toMatchObject({ status: 205, body: '' });
    expect(reset!.headers['content-length']).toBe('0');
    expect(end).toMatchObject({ status: 200, body: 'END-OF-EXCHANGE' });
  });

  it('other statuses keep their meaning: 201 with its body, 409 as a failure with its message', async () => {
    const [created, conflict] = await exchange(broker.port, [statusPath('201'), statusPath('409', 'Already there')]);
    expect(created).toMatchObject({ status: 201, body: '{"some":"body"}' });
    expect(conflict).toMatchObject({ status: 409, reason: 'Already there' });
    expect(JSON.parse(conflict!.body)).toEqual({ success: false, message: 'Already there', data: {} });
  });
});
