import { describe, expect, it } from 'vitest';
import { removeDir, tempDir } from '../helpers/broker.js';
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
});
