import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Two groups, run one after the other by `vitest run` (and so by `npm test`):
 *
 * - light: every test file outside the heavy folders, two files at a time (the machine has two cores, and each
 *   file starts real brokers of its own), and the few files of those folders listed in LIGHT_IN_HEAVY.
 * - heavy: every other file under test/reliability/ and test/bench/ (crash cycles, floods, slow clients, timed
 *   pings and leases, the 1 GiB registry, the bench's quick run), one file at a time, after the light group, so
 *   that they starve neither each other nor the rest. The rule is the folder: a new file placed there is heavy
 *   without editing this file.
 *
 * `vitest run test/reliability` (scripts/soak.mjs) selects the heavy folders' files as before.
 */
const HEAVY_DIRS = ['test/reliability', 'test/bench'];

/**
 * Files of the heavy folders that neither time anything nor flood the machine: short fuzzing, key handling,
 * storage loss and disk full (each waits for a condition), and the extension reloads (one core, memory of its
 * own process only). Run one at a time after the rest, they only add to the suite's time. The soak
 * (BPBROKER_SOAK=1) runs them at length, so there they stay one at a time with the others.
 */
const LIGHT_IN_HEAVY =
  process.env.BPBROKER_SOAK === '1'
    ? []
    : [
        'test/reliability/extension-reloads.test.ts',
        'test/reliability/fuzz-grpc-udp.test.ts',
        'test/reliability/fuzz-legacy.test.ts',
        'test/reliability/secrets.test.ts',
        'test/reliability/storage-loss.test.ts',
        'test/reliability/storage.test.ts',
      ];

const root = fileURLToPath(new URL('.', import.meta.url));
const HEAVY = HEAVY_DIRS.flatMap((dir) =>
  readdirSync(`${root}${dir}`, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => `${dir}/${f}`),
).filter((f) => !LIGHT_IN_HEAVY.includes(f));

/**
 * With no timings from an earlier run (CI's fresh clone), vitest starts the largest files first. LIGHT_IN_HEAVY's
 * files are among the light group's longest, and one of them among its smallest: they start first, so that the
 * group does not end with one of them running alone.
 */
class LongFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const long = (f: TestSpecification): boolean => f.project.name === 'light' && LIGHT_IN_HEAVY.some((p) => f.moduleId.endsWith(p));
    return [...sorted.filter(long), ...sorted.filter((f) => !long(f))];
  }
}

const shared = {
  testTimeout: 30_000,
  hookTimeout: 60_000,
  pool: 'forks' as const,
};

export default defineConfig({
  test: {
    sequence: { sequencer: LongFirst },
    projects: [
      {
        test: {
          ...shared,
          name: 'light',
          include: ['test/**/*.test.ts'],
          exclude: HEAVY,
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          ...shared,
          name: 'heavy',
          include: HEAVY,
          maxWorkers: 1,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
