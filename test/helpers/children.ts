import type { ChildProcess } from 'node:child_process';

/**
 * Child processes started by a test file and still running. A test that times out goes on running until vitest
 * stops its process (SIGTERM); these are killed then, so that no broker outlives the file that started it.
 */
const live = new Set<ChildProcess>();

function killAll(): void {
  for (const proc of live) proc.kill('SIGKILL');
  live.clear();
}
process.once('exit', killAll);
process.once('SIGTERM', () => {
  killAll();
  process.exit(143);
});

/** Kills `proc` with this test process if it is still running then. */
export function track<T extends ChildProcess>(proc: T): T {
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  return proc;
}
