import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BPBROKER, ROOT, removeDir, runCli, startBroker, tempDir, type RunningBroker } from '../helpers/broker.js';
import { call } from '../helpers/https.js';
import { waitFor } from '../helpers/wait.js';

// Slow outlasts its time limit on purpose (the sleep is the fault); Loop marks that it started, then spins.
const FAULTS = `import { writeFileSync } from 'node:fs';
export function Boom() { throw new Error('kaput'); }
export async function Slow() { await new Promise((r) => setTimeout(r, 5000)); }
export function Loop(rh) { writeFileSync(rh.qs.mark, ''); for (;;) {} }
export function Ok() { return 'ok'; }
`;
// Its own namespace with a generous time limit: filling the heap may take a while on a busy machine.
const HOG = `export function Hog() { const a = []; for (let i = 0; ; i++) a.push({ i, s: 'x'.repeat(64) + i }); }
export function Ok() { return 'ok'; }
`;

// What a method can answer besides a JSON or text body with a 2xx status.
const WEB = `export function Bytes() { return Buffer.from([0, 1, 2, 255]); }
export function Typed(rh) { rh.contentType = 'image/png'; rh.data = new Uint8Array([137, 80, 78, 71]); }
export function Go(rh) { rh.redirect('https://example.org/next?a=1'); }
export function Problem(rh) {
  rh.status = 404; rh.statusMessage = 'No such thing'; rh.errorBody = 'data';
  rh.contentType = 'application/problem+json'; rh.data = { title: 'missing', name: 'caf\u00e9' };
}
export function OldProblem(rh) { rh.status = 404; rh.statusMessage = 'No such thing'; rh.data = { title: 'missing' }; }
export function Headers(rh) {
  rh.setHeader('X-One', 1);
  rh.responseHeaders['Set-Cookie'] = ['a=1', 'b=2'];
  return { method: rh.httpMethod, test: rh.requestHeaders['x-test'], calledBy: rh.calledBy ?? null };
}
export function BadHeader(rh) { rh.responseHeaders['Content-Length'] = '5'; return 'x'; }
export async function Patient(rh) {
  const started = Date.now();
  await new Promise((resolve) => rh.signal.addEventListener('abort', resolve));
  return { reason: rh.signal.reason.name, afterMs: Date.now() - started };
}
`;

describe('extensions on a real broker (HTTPS)', () => {
  const home = tempDir('bpbroker-ext-e2e-');
  const env = { BPBROKER_HOME: home };
  let broker: RunningBroker;
  const lib = join(home, 'lib');

  beforeAll(async () => {
    expect((await runCli(BPBROKER, ['install-extension', '--script', join(ROOT, 'extensions/example.mjs')], { env })).code).toBe(0);
    writeFileSync(join(home, 'faults.mjs'), FAULTS);
    expect((await runCli(BPBROKER, ['install-extension', '--script', join(home, 'faults.mjs')], { env })).code).toBe(0);
    writeFileSync(join(home, 'hog.mjs'), HOG);
    expect((await runCli(BPBROKER, ['install-extension', '--script', join(home, 'hog.mjs')], { env })).code).toBe(0);
    mkdirSync(lib, { recursive: true });
    writeFileSync(join(lib, 'web.mjs'), WEB);
    const config = { example: { _access_key: 'k' }, faults: { _timeout_secs: 2 }, hog: { _timeout_secs: 25 }, web: { _timeout_secs: 2 }, worker: { memory_mb: 48 } };
    expect((await runCli(BPBROKER, ['configure'], { env, input: JSON.stringify(config) })).code).toBe(0);
    broker = await startBroker({ home });
  });
  afterAll(async () => {
    await broker?.stop();
    removeDir(home);
  });

  it('install, configure, start, call with the key; access key and private methods are checked', async () => {
    const ok = await call(broker.port, '/example/Test/?data=hi&access_key=k');
    expect(ok.status).toBe(200);
    expect(ok.headers['content-type']).toMatch(/^Application\/json/);
    expect(ok.json).toEqual({ data: 'hi', access_key: 'k', src: '127.0.0.1' });
    expect(await call(broker.port, '/example/Test/?data=hi&access_key=nope')).toMatchObject({ status: 401, reason: 'Incorrect access key' });
    expect(await call(broker.port, '/example/_helper/?access_key=k')).toMatchObject({ status: 401, reason: 'Unauthorized method' });
    expect(await call(broker.port, '/notconfigured/Test/')).toMatchObject({ status: 401, reason: 'Unauthorized package' });
  });

  it('throwing answers 500, slow 504, an infinite loop does not stop ping, memory exhaustion is contained', async () => {
    const boom = await call(broker.port, '/faults/Boom/');
    // In production the body is the spec's, without the stack.
    expect(boom).toMatchObject({ status: 500, reason: 'kaput' });
    expect(boom.json).toEqual({ success: false, message: 'kaput', data: {} });
    expect((await call(broker.port, '/faults/Slow/')).status).toBe(504);
    const mark = join(home, 'loop-started');
    let looping = true;
    const loop = call(broker.port, `/faults/Loop/?mark=${encodeURIComponent(mark)}`).finally(() => (looping = false));
    await waitFor(() => existsSync(mark), 10_000, 10, 'the looping call to start');
    // Liveness, not speed: pings are answered while the loop spins, before its time limit ends it.
    let answered = 0;
    for (let i = 0; looping; i++) {
      const ping = await call(broker.port, `/ping/Ping/?data=${i}`);
      expect(ping.json).toEqual({ src: '127.0.0.1', data: i });
      if (looping) answered++;
    }
    expect(answered).toBeGreaterThanOrEqual(3);
    expect((await loop).status).toBe(504);
    const hog = await call(broker.port, '/hog/Hog/');
    expect(hog.status).toBe(500);
    expect(hog.reason).toContain('ran out of memory');
    expect((await call(broker.port, '/hog/Ok/')).text).toBe('ok');
    expect((await call(broker.port, '/faults/Ok/')).text).toBe('ok');
  });

  it('bytes, response headers, redirects, error bodies on request, request method and headers', async () => {
    const bytes = await call(broker.port, '/web/Bytes/');
    expect(bytes).toMatchObject({ status: 200, headers: { 'content-type': 'application/octet-stream', 'content-length': '4' } });
    expect([...bytes.bytes]).toEqual([0, 1, 2, 255]);
    const typed = await call(broker.port, '/web/Typed/');
    expect(typed.headers['content-type']).toBe('image/png');
    expect([...typed.bytes]).toEqual([137, 80, 78, 71]);
    expect(await call(broker.port, '/web/Go/', { method: 'GET' })).toMatchObject({ status: 302, reason: 'Found', headers: { location: 'https://example.org/next?a=1' } });
    const problem = await call(broker.port, '/web/Problem/');
    expect(problem).toMatchObject({ status: 404, reason: 'No such thing', headers: { 'content-type': 'application/problem+json' } });
    // A JSON body escapes non-ASCII as every legacy JSON body does.
    expect(problem.text).toBe('{"title":"missing","name":"caf\\u00e9"}');
    // Without the opt-in, the legacy failure answer, as before.
    expect(await call(broker.port, '/web/OldProblem/')).toMatchObject({ status: 404, reason: 'No such thing', json: { success: false, message: 'No such thing', data: {} } });
    const headers = await call(broker.port, '/web/Headers/', { method: 'DELETE', headers: { 'X-Test': 'yes' } });
    expect(headers).toMatchObject({ status: 200, headers: { 'x-one': '1', 'set-cookie': ['a=1', 'b=2'] }, json: { method: 'DELETE', test: 'yes', calledBy: null } });
    const bad = await call(broker.port, '/web/BadHeader/');
    expect(bad.status).toBe(500);
    expect(bad.reason).toContain('header Content-Length is set by the broker');
  });

  it('rh.signal aborts before the time limit: a method that stops in time answers', async () => {
    const patient = await call(broker.port, '/web/Patient/');
    expect(patient.status).toBe(200);
    expect(patient.json.reason).toBe('TimeoutError');
    // The limit is 2 s: the signal comes a tenth of it (0.2 s) before, not at once (a busy machine starts late).
    expect(patient.json.afterMs).toBeGreaterThan(1000);
  });

  it('edit (new behaviour without a restart), break (old keeps serving, log says why), delete (401)', async () => {
    const file = join(lib, 'example.mjs');
    writeFileSync(file, `export function Test(rh) { rh.data = 'v2'; }`);
    // The figure is printed, not asserted: how fast a reload lands depends on the machine's load.
    const took = await waitFor(async () => (await call(broker.port, '/example/Test/?access_key=k')).text === 'v2', 10_000, 20);
    console.log(`edit served after ${took} ms`);
    writeFileSync(file, `export function Test(rh) { rh.data = `);
    await waitFor(() => broker.stderr().includes('extension failed to load; the last good version keeps serving'), 10_000);
    expect(broker.stderr()).toContain('example.mjs:1');
    expect((await call(broker.port, '/example/Test/?access_key=k')).text).toBe('v2');
    rmSync(file);
    await waitFor(async () => (await call(broker.port, '/example/Test/?access_key=k')).reason === 'Unauthorized package', 10_000, 20);
  });
});
