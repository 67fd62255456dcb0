import { existsSync, rmSync, writeFileSync } from 'node:fs';
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
    const config = { example: { _access_key: 'k' }, faults: { _timeout_secs: 2 }, hog: { _timeout_secs: 25 }, worker: { memory_mb: 48 } };
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
