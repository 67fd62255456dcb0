import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BPBROKER, removeDir, runCli, startBroker, tempDir } from '../helpers/broker.js';
import { call } from '../helpers/https.js';
import { waitFor } from '../helpers/wait.js';

// Marks that a call arrived, then holds it until the test releases it.
const HOLD = `import { existsSync, writeFileSync } from 'node:fs';
export async function Wait(rh) {
  writeFileSync(rh.qs.dir + '/started', '');
  while (!existsSync(rh.qs.dir + '/release')) await new Promise((r) => setTimeout(r, 10));
  rh.data = 'done';
}
`;

// SIGTERM and SIGINT: stop accepting, finish what is in flight, write the file, exit 0.
describe.each(['SIGTERM', 'SIGINT'] as const)('graceful stop on %s', (signal) => {
  it('lets a request in flight finish, then refuses new connections and exits 0', async () => {
    const home = tempDir();
    try {
      const env = { BPBROKER_HOME: home };
      writeFileSync(join(home, 'slow.mjs'), HOLD);
      expect((await runCli(BPBROKER, ['install-extension', '--script', join(home, 'slow.mjs')], { env })).code).toBe(0);
      expect((await runCli(BPBROKER, ['configure'], { env, input: '{"slow": {}}' })).code).toBe(0);
      const b = await startBroker({ home });
      const inFlight = call(b.port, `/slow/Wait/?dir=${encodeURIComponent(home)}`, { agent: false });
      await waitFor(() => existsSync(join(home, 'started')), 20_000, 10, 'the call to reach the extension');
      const exited = b.stop(signal);
      // New connections are refused while the call is still held.
      await waitFor(() => call(b.port, '/ping/Ping/', { agent: false }).then(() => false, () => true), 8000, 20, 'new connections to be refused');
      writeFileSync(join(home, 'release'), '');
      const r = await inFlight;
      expect(r.status).toBe(200);
      expect(r.text).toBe('done');
      expect(await exited).toBe(0);
    } finally {
      removeDir(home);
    }
  });
});
