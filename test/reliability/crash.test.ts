import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EtcdClient } from '../../src/store/etcd/EtcdClient.js';
import { removeDir, tempDir } from '../helpers/broker.js';
import { startEtcd } from '../helpers/etcd.js';
import { runCrashCycles } from './crash-harness.js';
import { report, runs, seedFor, SOAK } from './soak.js';

describe('crash consistency under SIGKILL', () => {
  const cycles = runs(5, Number(process.env.BPBROKER_SOAK_CYCLES ?? 50));
  const seed = seedFor('crash');
  it(`keeps every acknowledged write and never half-applies one, over ${cycles} kills (seed ${seed})`, { timeout: SOAK ? 1_200_000 : 120_000 }, async () => {
    const home = tempDir('bpbroker-crash-');
    try {
      const stats = await runCrashCycles({ home, cycles, seed, killAfterMs: [50, 1200] });
      report({ suite: 'crash', cycles: stats.cycles, acknowledged: stats.acknowledged, lost: stats.lost + stats.halfApplied, startupKills: stats.startupKills, crashes: 0 });
      expect(stats.failures, `seed ${seed}`).toEqual([]);
      expect(stats.cycles).toBe(cycles);
      // The writers did real work in each cycle, over both protocols.
      expect(stats.acknowledged).toBeGreaterThan(cycles * 64);
    } finally {
      removeDir(home);
    }
  });

  // The same cycles with the registry on etcd: an entry is in etcd once the broker acknowledged it, so the
  // restarted broker (reading etcd) must find every acknowledged write, whenever the broker was killed.
  const etcdCycles = runs(3, Number(process.env.BPBROKER_SOAK_CYCLES ?? 50));
  const etcdSeed = seedFor('crash-etcd');
  it(`on etcd: keeps every acknowledged write over ${etcdCycles} kills of the broker (seed ${etcdSeed})`, { timeout: SOAK ? 1_200_000 : 120_000 }, async () => {
    const etcd = await startEtcd();
    const home = tempDir('bpbroker-crash-etcd-');
    try {
      mkdirSync(join(home, 'etc'));
      writeFileSync(join(home, 'etc', 'bpbroker.json'), JSON.stringify({ registry: { backend: 'etcd', etcd_endpoints: etcd.endpoints, etcd_prefix: '/crash/' } }));
      const stats = await runCrashCycles({ home, cycles: etcdCycles, seed: etcdSeed, killAfterMs: [200, 1500] });
      report({ suite: 'crash-etcd', cycles: stats.cycles, acknowledged: stats.acknowledged, lost: stats.lost + stats.halfApplied, startupKills: stats.startupKills, crashes: 0 });
      expect(stats.failures, `seed ${etcdSeed}`).toEqual([]);
      expect(stats.cycles).toBe(etcdCycles);
      expect(stats.acknowledged).toBeGreaterThan(etcdCycles * 64);
      // They were in etcd, not in the broker's own files.
      const client = new EtcdClient({ endpoints: etcd.endpoints });
      try {
        expect((await client.range('/crash/crash-', { prefix: true, countOnly: true })).count).toBeGreaterThan(0);
      } finally {
        client.close();
      }
      const file = JSON.parse(readFileSync(join(home, 'etc', 'bpbroker.json'), 'utf8')) as { services?: Record<string, unknown> };
      expect(Object.keys(file.services ?? {}).filter((k) => k.startsWith('crash-'))).toEqual([]);
    } finally {
      removeDir(home);
      await etcd.stop();
    }
  });
});
