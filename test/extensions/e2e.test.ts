import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BPBROKER, ROOT, removeDir, runCli, startBroker, tempDir, type RunningBroker } from '../helpers/broker.js';
import { call } from '../helpers/https.js';
import { waitFor } from './harness.js';

// The real broker serves extensions once BrokerServer creates the extension host.
const wired = readFileSync(join(ROOT, 'src/server/BrokerServer.ts'), 'utf8').includes('createExtensionHost');

const FAULTS = `export function Boom() { throw new Error('kaput'); }
export async function Slow() { await new Promise((r) => setTimeout(r, 5000)); }
export function Loop() { for (;;) {} }
export function Ok() { return 'ok'; }
`;
// Its own namespace with a generous time limit: filling the heap may take a while on a busy machine.
const HOG = `export function Hog() { const a = []; for (let i = 0; ; i++) a.push({ i, s: 'x'.repeat(64) + i }); }
export function Ok() { return 'ok'; }
`;

describe.skipIf(!wired)('extensions on a real broker (HTTPS)', () => {
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
    const config = { example: { _access_key: 'k' }, faults: { _timeout_secs: 1 }, hog: { _timeout_secs: 25 }, worker: { memory_mb: 48 } };
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
    expect(await call(broker.port, '/faults/Boom/')).toMatchObject({ status: 500, reason: 'kaput', json: { success: false, message: 'kaput', data: {} } });
    expect((await call(broker.port, '/faults/Slow/')).status).toBe(504);
    const loop = call(broker.port, '/faults/Loop/');
    await new Promise((r) => setTimeout(r, 100));
    for (let i = 0; i < 5; i++) {
      const t = Date.now();
      expect((await call(broker.port, `/ping/Ping/?data=${i}`)).json).toEqual({ src: '127.0.0.1', data: i });
      expect(Date.now() - t).toBeLessThan(2000); // liveness, not speed: the loop must not block the broker
    }
    expect((await loop).status).toBe(504);
    const hog = await call(broker.port, '/hog/Hog/');
    expect(hog.status).toBe(500);
    expect(hog.reason).toContain('ran out of memory');
    expect((await call(broker.port, '/hog/Ok/')).text).toBe('ok');
    expect((await call(broker.port, '/faults/Ok/')).text).toBe('ok');
  });

  it('edit (new behaviour within 1 s), break (old keeps serving, log says why), delete (401)', async () => {
    const file = join(lib, 'example.mjs');
    writeFileSync(file, `export function Test(rh) { rh.data = 'v2'; }`);
    const took = await waitFor(async () => (await call(broker.port, '/example/Test/?access_key=k')).text === 'v2', 3000, 20);
    expect(took).toBeLessThan(1000);
    writeFileSync(file, `export function Test(rh) { rh.data = `);
    await waitFor(() => broker.stderr().includes('extension failed to load; the last good version keeps serving'), 3000);
    expect(broker.stderr()).toContain('example.mjs:1');
    expect((await call(broker.port, '/example/Test/?access_key=k')).text).toBe('v2');
    rmSync(file);
    await waitFor(async () => (await call(broker.port, '/example/Test/?access_key=k')).reason === 'Unauthorized package', 3000, 20);
  });
});
