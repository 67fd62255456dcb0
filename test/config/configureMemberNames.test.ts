import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BPBROKER, removeDir, runCli, startBroker, tempDir } from '../helpers/broker.js';
import { call, qs } from '../helpers/https.js';

/** Issue 10, case 12: names that Object.prototype also has are names like any other for `configure`. */
const NAMES = ['toString', 'constructor', 'hasOwnProperty', 'valueOf', 'isPrototypeOf'];

describe('configure with member names of Object.prototype', () => {
  it('adds sections, settings and entries named toString, constructor, hasOwnProperty; the broker serves them', async () => {
    const home = tempDir();
    const env = { BPBROKER_HOME: home };
    try {
      mkdirSync(join(home, 'etc'));
      writeFileSync(join(home, 'etc', 'bpbroker.json'), JSON.stringify({ services: { existing: { n: 0 } } }));
      const input: Record<string, Record<string, unknown>> = { services: {}, api: {} };
      NAMES.forEach((name, i) => {
        input[name] = { _access_key: `key-${name}` };
        input.services![name] = { n: i + 1 };
      });
      const r = await runCli(BPBROKER, ['configure', '--json'], { env, input: JSON.stringify(input) });
      expect(r.code, r.stderr).toBe(0);
      const { applied } = JSON.parse(r.stdout) as { applied: string[] };
      for (const name of NAMES) {
        expect(applied).toContain(name);
        expect(applied).toContain(`services.${name}`);
      }
      const file = JSON.parse(readFileSync(join(home, 'etc', 'bpbroker.json'), 'utf8'));
      NAMES.forEach((name, i) => {
        expect(Object.hasOwn(file, name), name).toBe(true);
        expect(file[name], name).toEqual({ _access_key: `key-${name}` });
        expect(file.services[name], name).toEqual({ n: i + 1 });
      });

      // Applied once, untouched the second time: additive, as for any name.
      const again = await runCli(BPBROKER, ['configure', '--json'], { env, input: JSON.stringify({ toString: { _access_key: 'other' }, services: { constructor: { n: 99 } } }) });
      expect(JSON.parse(again.stdout)).toMatchObject({ applied: [], untouched: ['toString._access_key', 'services.constructor.n'] });

      const b = await startBroker({ home });
      try {
        for (const [i, name] of NAMES.entries()) {
          const got = await call(b.port, `/services/Get/?${qs({ name })}`);
          expect(got.json, name).toMatchObject({ success: true, data: { n: i + 1 } });
        }
        expect((await call(b.port, `/services/Get/?${qs({ name: 'existing' })}`)).json.data).toEqual({ n: 0 });
      } finally {
        expect(await b.stop()).toBe(0);
      }
    } finally {
      removeDir(home);
    }
  }, 120_000);

  it('validates a section named like a known one only by its own members', async () => {
    const home = tempDir();
    try {
      // `constructor` is not a known section: its members are free; its _access_key must still be text.
      const ok = await runCli(BPBROKER, ['configure'], { env: { BPBROKER_HOME: home }, input: '{"constructor": {"listen_port": "any"}}' });
      expect(ok.code, ok.stderr).toBe(0);
      const bad = await runCli(BPBROKER, ['configure'], { env: { BPBROKER_HOME: home }, input: '{"hasOwnProperty": {"_access_key": 5}}' });
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain('hasOwnProperty._access_key: expected a string, got 5');
    } finally {
      removeDir(home);
    }
  }, 120_000);
});
