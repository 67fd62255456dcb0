import { defineConfig } from 'vitest/config';

/**
 * Two groups, run one after the other by `vitest run` (and so by `npm test`):
 *
 * - light: every test file outside the heavy folders, two files at a time (the machine has two cores, and each
 *   file starts real brokers of its own).
 * - heavy: every file under test/reliability/ and test/bench/ (crash cycles, fuzzing, floods, slow clients, the
 *   bench's quick run), one file at a time, after the light group, so that they starve neither each other nor
 *   the rest. The rule is the folder: a new file placed there is heavy without editing this file.
 *
 * `vitest run test/reliability` (scripts/soak.mjs) selects the heavy group's files as before.
 */
const HEAVY = ['test/reliability/**/*.test.ts', 'test/bench/**/*.test.ts'];

const shared = {
  testTimeout: 30_000,
  hookTimeout: 60_000,
  pool: 'forks' as const,
};

export default defineConfig({
  test: {
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
