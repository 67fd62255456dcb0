import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/broker.js';

interface Side {
  label: string;
  rps?: number;
  p99?: number;
  errors?: number;
  readyMs?: number;
  rssMb?: number;
  rounds?: { unreadBytes?: number }[];
  cpuMsPerCall?: Record<string, number>;
}
interface Result {
  id: string;
  skipped?: string;
  ratio?: number;
  sides?: Side[];
}

/**
 * The bench is not a test (no timed assertions): this runs its quick mode, about a second per scenario, so that
 * it cannot rot. Every scenario must produce numbers. The one skip allowed is the comparison with etcd, a
 * program this project does not ship (the broker's own figures are still measured without it); the scenarios of
 * brokers on etcd need it (CI installs it), as the etcd store's tests do.
 */
describe('npm run bench -- --quick', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bpbroker-bench-smoke-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs every scenario and reports a number for each', async () => {
    const out = join(dir, 'latest.json');
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const proc = spawn(process.execPath, [join(ROOT, 'bench/run.mjs'), '--quick', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
      let o = '';
      let e = '';
      proc.stdout.on('data', (d: Buffer) => (o += d.toString()));
      proc.stderr.on('data', (d: Buffer) => (e += d.toString()));
      proc.on('close', (c) => resolve({ code: c, stdout: o, stderr: e }));
    });
    expect(code, stderr).toBe(0);
    expect(stderr).toContain('share');
    const report = JSON.parse(readFileSync(out, 'utf8')) as { results: Result[] };
    const ids = report.results.map((r) => r.id);
    const expected = ['https-get', 'grpc-get', 'register-1', 'update-1', 'register-64', 'update-64', 'discovery', 'extension', 'startup', 'big-writes'];
    expected.push('watch-delivery-grpc', 'watch-delivery-https', 'watch-writes', 'leases', 'slow-watcher');
    expected.push('etcd-backed-get', 'etcd-backed-register-1', 'etcd-backed-update-1', 'etcd-backed-register-64', 'etcd-backed-update-64', 'etcd-fleet');
    for (const id of expected) {
      expect(ids, id).toContain(id);
    }
    for (const r of report.results) {
      expect(stdout).toContain(r.id);
      if (r.skipped) {
        expect(r.id, `scenario ${r.id} was skipped: ${r.skipped}`).toBe('etcd');
        expect(r.skipped).toMatch(/^etcd is not on PATH/);
        continue;
      }
      for (const s of r.sides ?? []) {
        const value = r.id === 'startup' ? s.readyMs! + s.rssMb! : s.rps!;
        expect(Number.isFinite(value) && value > 0, `${r.id} ${s.label}`).toBe(true);
      }
      if (r.ratio !== undefined) expect(Number.isFinite(r.ratio), r.id).toBe(true);
      // Rows of brokers on etcd say where the CPU went: the broker's (brokers') share of each call.
      if (r.id.startsWith('etcd-backed-') || r.id === 'etcd-fleet') {
        for (const s of r.sides ?? []) expect(Object.keys(s.cpuMsPerCall ?? {}), `${r.id} ${s.label}`).toEqual(expect.arrayContaining(['etcd', 'load generator']));
      }
      // Delivery rows: every write reached every watcher, and the delay has a figure.
      if (r.id.startsWith('watch-delivery-')) {
        for (const s of r.sides ?? []) {
          expect(Number.isFinite(s.p99) && s.p99! >= 0, `${r.id} p99`).toBe(true);
          expect(s.errors, `${r.id}: deliveries missing`).toBe(0);
        }
      }
      // The watcher that never reads was stopped with events sent to it: they sit unread in its socket.
      if (r.id === 'slow-watcher') {
        const rounds = r.sides?.[0]?.rounds ?? [];
        expect(rounds.length).toBeGreaterThan(0);
        for (const round of rounds) expect(round.unreadBytes, 'unread bytes of the stopped watcher').toBeGreaterThan(0);
      }
    }
  }, 240_000);
});
