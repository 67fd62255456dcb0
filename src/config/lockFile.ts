import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { ConfigError } from './ConfigError.js';
import { lockPathFor } from './paths.js';

/** The pid of the live broker holding this configuration file, if any. Stale locks are ignored. */
export function lockHolder(configPath: string): number | undefined {
  const lock = lockPathFor(configPath);
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(lock, 'utf8'), 10);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  if (pid === process.pid) return pid;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}

/** Takes the lock a broker holds on its configuration file while it runs; returns its release. */
export function acquireLock(configPath: string): () => void {
  const lock = lockPathFor(configPath);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lock, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return () => {
        try {
          if (readFileSync(lock, 'utf8').trim() === String(process.pid)) unlinkSync(lock);
        } catch {
          /* already gone */
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new ConfigError(`Cannot create lock file ${lock}: ${(err as Error).message}`);
      const holder = lockHolder(configPath);
      if (holder !== undefined) throw new ConfigError(`Another broker (pid ${holder}) is running with ${configPath}. Stop it first.`);
      unlinkSync(lock); // stale: its broker is gone
    }
  }
  throw new ConfigError(`Cannot take lock file ${lock}`);
}
