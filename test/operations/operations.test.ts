/**
 * The operations surface on the API's TLS port: /_health, /_ready and /_metrics (behind api.admin_key), and
 * every other `/_` path still a legacy call (401 Unauthorized package). One real broker with an admin key;
 * the loopback rule of an empty key is in metricsLoopback.test.ts.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type BrokerGrpcClient } from '../../src/client/grpcClient.js';
import { type LogLine, logLines, removeDir, startBroker, tempDir, type RunningBroker } from '../helpers/broker.js';
import { call, qs } from '../helpers/https.js';
import { discoveryReplies } from '../helpers/udp.js';
import { waitFor } from '../helpers/wait.js';
import { metricValue } from './metricsText.js';

const ADMIN_KEY = 'op-key-7f3a9c';
// Slow outlasts its time limit on purpose (the sleep is the fault).
const EXTENSION = `export function Ok() { return 'ok'; }
export function Boom() { throw new Error('kaput'); }
export async function Slow() { await new Promise((r) => setTimeout(r, 3000)); }
export function NotHere(rh) { rh.status = 404; rh.statusMessage = 'No such thïng'; }
export function LogsQuery(rh) { rh.log.info('query seen', { qs: rh.qs }); return 'ok'; }
`;
const bearer = (key: string) => ({ Authorization: `Bearer ${key}` });

let b: RunningBroker;
let client: BrokerGrpcClient;

beforeAll(async () => {
  const home = tempDir();
  mkdirSync(join(home, 'etc'));
  mkdirSync(join(home, 'lib'));
  writeFileSync(join(home, 'lib', 'opsext.mjs'), EXTENSION);
  writeFileSync(join(home, 'etc', 'bpbroker.json'), JSON.stringify({ api: { admin_key: ADMIN_KEY }, opsext: { _timeout_secs: 0.5 } }));
  b = await startBroker({ home, args: ['--log-level', 'debug'] });
  client = connect(`127.0.0.1:${b.port}`, { insecureSkipVerify: true });
});
afterAll(async () => {
  client?.close();
  await b?.stop();
  if (b) removeDir(b.home);
});

async function metrics(): Promise<string> {
  const r = await call(b.port, '/_metrics', { method: 'GET', headers: bearer(ADMIN_KEY) });
  expect(r.status, r.text).toBe(200);
  return r.text;
}

describe('/_health and /_ready', () => {
  it('answer without a key', async () => {
    const health = await call(b.port, '/_health', { method: 'GET' });
    expect(health.status).toBe(200);
    expect(health.json).toEqual({ status: 'ok' });
    expect(health.headers['cache-control']).toBe('no-store');
    expect((await call(b.port, '/_health', { method: 'HEAD' })).status).toBe(200);
    const ready = await call(b.port, '/_ready', { method: 'GET' });
    expect(ready.status).toBe(200);
    expect(ready.json).toEqual({ status: 'ready' });
  });

  it('every other /_ path, and other methods or spellings of these, answer as before: 401 Unauthorized package', async () => {
    const legacy401 = { success: false, message: 'Unauthorized package', data: {} };
    for (const [method, path] of [
      ['GET', '/_other'],
      ['GET', '/_other/Get'],
      ['GET', '/_metricsx'],
      ['GET', '/_Health'],
      ['GET', '/_health/'],
      ['POST', '/_health'],
      ['DELETE', '/_metrics'],
      ['GET', '/%5Fhealth'],
    ] as const) {
      const r = await call(b.port, path, { method });
      expect({ method, path, status: r.status, reason: r.reason, json: r.json }).toEqual({ method, path, status: 401, reason: 'Unauthorized package', json: legacy401 });
    }
  });
});

describe('/_metrics with api.admin_key set', () => {
  it('needs the key as a bearer token, even on loopback, and never logs it', async () => {
    const none = await call(b.port, '/_metrics', { method: 'GET' });
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer /);
    expect(none.json.message).toMatch(/Authorization: Bearer KEY.*api\.admin_key/);
    const wrong = await call(b.port, '/_metrics', { method: 'GET', headers: bearer('not-the-key') });
    expect(wrong.status).toBe(403);
    expect(wrong.json.message).toBe('Incorrect admin key');
    const right = await call(b.port, '/_metrics', { method: 'GET', headers: bearer(ADMIN_KEY) });
    expect(right.status).toBe(200);
    expect(right.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(b.stderr()).not.toContain(ADMIN_KEY);
    expect(b.stdout()).not.toContain(ADMIN_KEY);
  });

  it('has every metric family, and the process metrics', async () => {
    await call(b.port, `/services/Register/?${qs({ name: 'families', data: '{"f": 1}', ttl: '300' })}`);
    await client.get('families');
    const text = await metrics();
    const families = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`);
    expect(families).toEqual(
      expect.arrayContaining([
        'bpbroker_requests_total counter',
        'bpbroker_request_duration_seconds histogram',
        'bpbroker_journal_fsync_duration_seconds histogram',
        'bpbroker_snapshot_duration_seconds histogram',
        'bpbroker_entries gauge',
        'bpbroker_registry_bytes gauge',
        'bpbroker_open_connections gauge',
        'bpbroker_watchers gauge',
        'bpbroker_leases gauge',
        'bpbroker_extensions_loaded gauge',
        'bpbroker_storage_available gauge',
        'bpbroker_extension_calls_total counter',
        'bpbroker_extension_errors_total counter',
        'bpbroker_extension_timeouts_total counter',
        'bpbroker_extension_reloads_total counter',
        'process_cpu_seconds_total counter',
        'process_resident_memory_bytes gauge',
        'nodejs_eventloop_lag_seconds gauge',
      ]),
    );
    expect(metricValue(text, 'bpbroker_leases')).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, 'bpbroker_open_connections')).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, 'bpbroker_storage_available')).toBe(1);
    expect(metricValue(text, 'bpbroker_request_duration_seconds_count', { protocol: 'grpc', namespace: 'services', method: 'Get' })).toBeGreaterThanOrEqual(1);
  });

  it('counts each request by protocol, namespace, method and status', async () => {
    const legacyRegister = { protocol: 'legacy', namespace: 'services', method: 'Register' };
    const grpcGet = { protocol: 'grpc', namespace: 'services', method: 'Get' };
    const before = await metrics();
    const count = (text: string, labels: Record<string, string>) => metricValue(text, 'bpbroker_requests_total', labels);

    expect((await call(b.port, `/services/Register/?${qs({ name: 'counted', data: '{"c": 1}' })}`)).json.success).toBe(true);
    expect((await call(b.port, `/services/Register/?${qs({ name: 'counted', data: '{"c": 1}' })}`)).json.success).toBe(false); // exists: 200 too
    expect((await call(b.port, '/nowhere/Get')).status).toBe(401);
    expect((await call(b.port, '/services/Nothing')).status).toBe(401);
    expect((await client.get('counted')).name).toBe('counted');
    await expect(client.get('not-there')).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    expect(await discoveryReplies(b.port, 'counted\n', 'counted')).toHaveLength(1);

    const after = await metrics();
    expect(count(after, { ...legacyRegister, status: '200' }) - count(before, { ...legacyRegister, status: '200' })).toBe(2);
    // Names a client made up share one row: they cannot grow the metrics.
    expect(count(after, { protocol: 'legacy', namespace: '_unknown', method: '_unknown', status: '401' }) - count(before, { protocol: 'legacy', namespace: '_unknown', method: '_unknown', status: '401' })).toBe(2);
    expect(after).not.toMatch(/namespace="nowhere"|method="Nothing"/);
    expect(count(after, { ...grpcGet, status: 'OK' }) - count(before, { ...grpcGet, status: 'OK' })).toBe(1);
    expect(count(after, { ...grpcGet, status: 'NOT_FOUND' }) - count(before, { ...grpcGet, status: 'NOT_FOUND' })).toBe(1);
    const udp = { protocol: 'udp', namespace: 'discovery', method: 'Discover', status: 'found' };
    expect(count(after, udp) - count(before, udp)).toBe(2); // the name asked for, and the helper's probe
    const latency = (text: string) => metricValue(text, 'bpbroker_request_duration_seconds_count', legacyRegister);
    expect(latency(after) - latency(before)).toBe(2);
    expect(metricValue(after, 'bpbroker_request_duration_seconds_bucket', { ...legacyRegister, le: '+Inf' })).toBe(latency(after));
    expect(metricValue(after, 'bpbroker_entries') - metricValue(before, 'bpbroker_entries')).toBe(1);
    expect(metricValue(after, 'bpbroker_journal_fsync_duration_seconds_count')).toBeGreaterThan(metricValue(before, 'bpbroker_journal_fsync_duration_seconds_count'));
    await waitFor(async () => metricValue(await metrics(), 'bpbroker_snapshot_duration_seconds_count') > 0, 10_000, 50, 'a snapshot timed');
  });
});

describe('the log (this broker runs at debug)', () => {
  const lines = (which: (l: LogLine) => boolean): LogLine[] => logLines(b.stderr()).filter(which);
  const request = { caller: '127.0.0.1', durationMs: expect.any(Number), time: expect.any(String) };

  it('is JSON lines on stderr, each with its level, time and message', () => {
    const text = b.stderr().trimEnd().split('\n');
    expect(text.length).toBeGreaterThan(3);
    for (const l of text) expect(JSON.parse(l), l).toMatchObject({ level: expect.stringMatching(/^(debug|info|warn|error)$/), time: expect.any(String), msg: expect.any(String) });
  });

  it('has one line at info for each failed request, and one at debug for each other one', async () => {
    const grpcNotFound = (l: LogLine) => l.protocol === 'grpc' && l.status === 'NOT_FOUND';
    const okCalls = (l: LogLine) => l.namespace === 'opsext' && l.method === 'Ok';
    const [notFoundBefore, okBefore] = [lines(grpcNotFound).length, lines(okCalls).length];
    expect((await call(b.port, '/logged-nowhere/Get/')).status).toBe(401);
    await expect(client.get('logged-not-there')).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    expect((await call(b.port, '/opsext/Ok/')).text).toBe('ok');
    expect((await client.execute('opsext', 'Ok')).body).toBe('ok');
    await waitFor(() => lines(okCalls).length === okBefore + 2, 10_000, 20, 'the successful calls logged');

    expect(lines((l) => l.namespace === 'logged-nowhere')).toEqual([
      { ...request, level: 'info', msg: 'request failed', pid: b.proc.pid, protocol: 'legacy', namespace: 'logged-nowhere', method: 'Get', status: 401, reason: 'Unauthorized package' },
    ]);
    const notFound = lines(grpcNotFound).slice(notFoundBefore);
    expect(notFound).toEqual([expect.objectContaining({ ...request, level: 'info', msg: 'request failed', namespace: 'services', method: 'Get', reason: expect.stringContaining('logged-not-there') })]);
    const ok = lines(okCalls).slice(okBefore);
    expect(ok).toEqual([
      expect.objectContaining({ ...request, level: 'debug', msg: 'request', protocol: 'legacy', status: 200 }),
      expect.objectContaining({ ...request, level: 'debug', msg: 'request', protocol: 'grpc', status: 'OK' }),
    ]);
    // An extension's answer of 400 or more is a failed call, though gRPC carries it with status OK.
    expect((await call(b.port, '/opsext/NotHere/')).status).toBe(404);
    expect((await client.execute('opsext', 'NotHere')).status).toBe(404);
    await waitFor(() => lines((l) => l.method === 'NotHere').length === 2, 10_000, 20, 'the 404 answers logged');
    expect(lines((l) => l.method === 'NotHere')).toEqual([
      expect.objectContaining({ ...request, level: 'info', msg: 'request failed', protocol: 'legacy', status: 404, reason: 'No such thïng' }),
      expect.objectContaining({ ...request, level: 'info', msg: 'request failed', protocol: 'grpc', status: 'OK', answer: 404 }),
    ]);
  });

  it('has what an extension threw, with its stack in the extension file, at error, and the failed request at info', async () => {
    expect((await call(b.port, '/opsext/Boom/')).reason).toBe('kaput');
    await waitFor(() => lines((l) => l.method === 'Boom').length >= 2, 10_000, 20, 'the failed call logged');
    expect(lines((l) => l.msg === 'extension call failed' && l.method === 'Boom')).toEqual([
      expect.objectContaining({ ...request, level: 'error', namespace: 'opsext', error: 'kaput', stack: expect.stringMatching(/^Error: kaput\n\s+at Boom \(.*opsext\.mjs:\d+/) }),
    ]);
    expect(lines((l) => l.msg === 'request failed' && l.method === 'Boom')).toEqual([
      expect.objectContaining({ ...request, level: 'info', protocol: 'legacy', namespace: 'opsext', status: 500, reason: 'kaput' }),
    ]);
  });

  it('never holds a key a client sent, even at debug', async () => {
    const KEY = 'client-key-5d1e8b';
    const seen = (l: LogLine) => l.msg === 'query seen';
    const before = lines(seen).length;
    // In the query, a form body, a bearer token and gRPC metadata, and in what an extension logs of its query.
    await call(b.port, `/opsext/LogsQuery/?${qs({ access_key: KEY, key: KEY })}`, { headers: bearer(KEY) });
    await call(b.port, '/opsext/LogsQuery/', { body: qs({ access_key: KEY }), headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    await client.execute('opsext', 'LogsQuery', { params: { access_key: KEY } }, { accessKey: KEY });
    expect((await call(b.port, `/logged-keyed/Get/?${qs({ access_key: KEY })}`, { headers: bearer(KEY) })).status).toBe(401);
    await waitFor(() => lines(seen).length === before + 3 && lines((l) => l.namespace === 'logged-keyed').length === 1, 10_000, 20, 'the calls logged');
    expect(lines(seen).slice(before).map((l) => l.qs)).toEqual([
      { access_key: '[redacted]', key: '[redacted]' },
      { access_key: '[redacted]' },
      { access_key: '[redacted]' },
    ]);
    expect(b.stderr()).not.toContain(KEY);
    expect(b.stdout()).not.toContain(KEY);
  });
});

describe('extension metrics', () => {
  it('count calls, errors, timeouts and reloads by namespace and method', async () => {
    const ext = (method: string) => ({ namespace: 'opsext', method });
    const before = await metrics();
    expect((await call(b.port, '/opsext/Ok/')).text).toBe('ok');
    expect((await client.execute('opsext', 'Ok')).body).toBe('ok');
    expect((await call(b.port, '/opsext/Boom/')).status).toBe(500);
    expect((await call(b.port, '/opsext/Slow/')).status).toBe(504);
    const after = await metrics();
    const delta = (name: string, labels: Record<string, string>) => metricValue(after, name, labels) - metricValue(before, name, labels);
    expect(delta('bpbroker_extension_calls_total', ext('Ok'))).toBe(2);
    expect(delta('bpbroker_extension_errors_total', ext('Ok'))).toBe(0);
    expect(delta('bpbroker_extension_errors_total', ext('Boom'))).toBe(1);
    expect(delta('bpbroker_extension_errors_total', ext('Slow'))).toBe(1);
    expect(delta('bpbroker_extension_timeouts_total', ext('Slow'))).toBe(1);
    expect(delta('bpbroker_requests_total', { protocol: 'legacy', ...ext('Ok'), status: '200' })).toBe(1);
    expect(delta('bpbroker_requests_total', { protocol: 'grpc', ...ext('Ok'), status: 'OK' })).toBe(1);
    expect(delta('bpbroker_requests_total', { protocol: 'legacy', ...ext('Slow'), status: '504' })).toBe(1);
    expect(metricValue(after, 'bpbroker_extension_reloads_total', { namespace: 'opsext', result: 'ok' })).toBe(1);
    expect(metricValue(after, 'bpbroker_extensions_loaded')).toBe(1);

    // A broken version: counted as a failed reload, the last good one still serves.
    writeFileSync(join(b.home, 'lib', 'opsext.mjs'), 'export function Ok( {');
    await waitFor(async () => metricValue(await metrics(), 'bpbroker_extension_reloads_total', { namespace: 'opsext', result: 'failed' }) === 1, 20_000, 100, 'a failed reload counted');
    expect(metricValue(await metrics(), 'bpbroker_extensions_loaded')).toBe(1);
    expect((await ready()).status).toBe(200);
  });
});

async function ready() {
  return call(b.port, '/_ready', { method: 'GET' });
}

describe('/_ready follows the storage', () => {
  it('turns 503 with the reason while the journal cannot be written, and 200 again once it can', async () => {
    const journal = join(b.home, 'etc', 'bpbroker.journal');
    // A file where the journal folder should be: it can be neither used nor recreated (as in storage-loss.test.ts).
    rmSync(journal, { recursive: true, force: true });
    writeFileSync(journal, 'in the way');
    let refused: Awaited<ReturnType<typeof call>> | undefined;
    await waitFor(
      async () => {
        const r = await call(b.port, '/_ready', { method: 'GET' });
        if (r.status === 503) refused = r;
        return refused !== undefined;
      },
      20_000,
      50,
      '/_ready answering 503',
    );
    expect(refused!.json).toEqual({ status: 'not ready', reasons: [expect.stringMatching(/^Storage unavailable: /)] });
    // Liveness is not readiness: the process still serves.
    expect((await call(b.port, '/_health', { method: 'GET' })).status).toBe(200);
    expect(metricValue(await metrics(), 'bpbroker_storage_available')).toBe(0);

    rmSync(journal);
    await waitFor(async () => (await call(b.port, '/_ready', { method: 'GET' })).status === 200, 40_000, 100, '/_ready answering 200 again');
    expect((await call(b.port, `/services/Register/?${qs({ name: 'after-ready', data: '{"r": 1}' })}`)).json.success).toBe(true);
    expect(metricValue(await metrics(), 'bpbroker_storage_available')).toBe(1);
  }, 90_000);
});
