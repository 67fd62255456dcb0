import { describe, expect, it } from 'vitest';
import { BPBROKER, removeDir, runCli, startBroker, tempDir } from '../helpers/broker.js';
import { call, qs } from '../helpers/https.js';
import { waitFor } from '../helpers/wait.js';

describe('bpbroker status', () => {
  it('reports a running broker with its port and entries, then a stopped one', async () => {
    const home = tempDir();
    try {
      const b = await startBroker({ home });
      await call(b.port, `/services/Register/?${qs({ name: 'one', data: '{}' })}`);
      // The status follows the registry's snapshots: wait for the one that holds the entry.
      let report: Record<string, unknown> = {};
      await waitFor(
        async () => {
          const running = await runCli(BPBROKER, ['status', '--json'], { env: { BPBROKER_HOME: home } });
          expect(running.code).toBe(0);
          report = JSON.parse(running.stdout) as Record<string, unknown>;
          return report.entries === 1;
        },
        20_000,
        100,
        'the status to count the entry',
      );
      expect(report).toMatchObject({ running: true, responding: true, port: b.port, grpcPort: b.port, entries: 1, pid: b.proc.pid, registry: { backend: 'embedded' } });
      const text = await runCli(BPBROKER, ['status'], { env: { BPBROKER_HOME: home } });
      expect(text.stdout).toContain(`127.0.0.1:${b.port}`);
      expect(text.stdout).toContain('registry:    embedded (bpbroker.json and its journal)');
      await b.stop();
      const stopped = await runCli(BPBROKER, ['status'], { env: { BPBROKER_HOME: home } });
      expect(stopped.code).toBe(1);
      expect(stopped.stdout).toContain('not running');
      expect(stopped.stdout).toContain('1 entries');
    } finally {
      removeDir(home);
    }
  });
});
