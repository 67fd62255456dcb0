import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BPBROKER, removeDir, runCli, startBroker, tempDir } from '../helpers/broker.js';
import { call } from '../helpers/https.js';

// SIGTERM and SIGINT: stop accepting, finish what is in flight, write the file, exit 0.
describe.each(['SIGTERM', 'SIGINT'] as const)('graceful stop on %s', (signal) => {
  it('lets a request in flight finish, then refuses new connections and exits 0', async () => {
    const home = tempDir();
    try {
      const env = { BPBROKER_HOME: home };
      writeFileSync(join(home, 'slow.mjs'), 'export async function Wait(rh) { await new Promise((r) => setTimeout(r, 1500)); rh.data = "done"; }\n');
      expect((await runCli(BPBROKER, ['install-extension', '--script', join(home, 'slow.mjs')], { env })).code).toBe(0);
      expect((await runCli(BPBROKER, ['configure'], { env, input: '{"slow": {}}' })).code).toBe(0);
      const b = await startBroker({ home });
      const inFlight = call(b.port, '/slow/Wait/', { agent: false });
      await new Promise((r) => setTimeout(r, 300));
      const exited = b.stop(signal);
      await new Promise((r) => setTimeout(r, 200));
      await expect(call(b.port, '/ping/Ping/', { agent: false })).rejects.toThrow();
      const r = await inFlight;
      expect(r.status).toBe(200);
      expect(r.text).toBe('done');
      expect(await exited).toBe(0);
    } finally {
      removeDir(home);
    }
  });
});
