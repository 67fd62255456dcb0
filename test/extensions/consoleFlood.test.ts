import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BPBROKER, removeDir, runCli, startBroker, tempDir, type RunningBroker } from '../helpers/broker.js';
import { call } from '../helpers/https.js';
import { waitFor } from './harness.js';

/** Issue 10, case 12: a console flood from an extension is rate-limited, counted, and kills nothing. */
const FLOOD = `
export function Flood(rh) {
  const n = Number(rh.qs.n);
  for (let i = 0; i < n; i++) {
    if (i % 2 === 0) console.log('flood line ' + i);
    else process.stderr.write('flood line ' + i + '\\n');
  }
  return 'flooded';
}
export function Ok() { return 'ok'; }
`;
const LINES = 400_000;

describe('console output of an extension (real broker)', () => {
  const home = tempDir('bpbroker-flood-');
  let broker: RunningBroker;

  beforeAll(async () => {
    mkdirSync(join(home, 'lib'));
    writeFileSync(join(home, 'lib', 'flood.mjs'), FLOOD);
    expect((await runCli(BPBROKER, ['configure'], { env: { BPBROKER_HOME: home }, input: '{"flood": {"_timeout_secs": 60}}' })).code).toBe(0);
    broker = await startBroker({ home });
  });
  afterAll(async () => {
    await broker?.stop();
    removeDir(home);
  });

  it('a flood of lines: the call answers, the worker lives, every line is either written or counted as dropped', async () => {
    expect(await call(broker.port, `/flood/Flood/?n=${LINES}`)).toMatchObject({ status: 200, text: 'flooded' });
    expect(await call(broker.port, '/flood/Ok/')).toMatchObject({ status: 200, text: 'ok' });
    const written = (): number => (broker.stdout() + broker.stderr()).split('\n').filter((l) => l.startsWith('flood line ')).length;
    const dropped = (): number =>
      [...broker.stderr().matchAll(/extension flood: ([\d,]+) log lines dropped/g)].reduce((sum, m) => sum + Number(m[1]!.replace(/,/g, '')), 0);
    await waitFor(() => written() + dropped() === LINES, 20_000, 50);
    expect(dropped()).toBeGreaterThan(LINES / 2);
    expect(written()).toBeGreaterThan(0);
    expect(broker.stderr()).not.toContain('extension worker stopped unexpectedly');
    expect(await call(broker.port, '/flood/Ok/')).toMatchObject({ status: 200, text: 'ok' });
  }, 120_000);
});
