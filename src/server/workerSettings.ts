import { resolve } from 'node:path';
import type { Sections } from '../config/defaults.js';

/** The `worker` section (extensions) as typed values; relative folders are relative to the config file. */
export function workerSettings(sections: Sections, configDir: string) {
  const w = sections.worker ?? {};
  const dirs = Array.isArray(w.extension_dirs) ? (w.extension_dirs as string[]) : [];
  return {
    extensionDirs: dirs.map((d) => resolve(configDir, d)),
    timeoutMs: (typeof w.timeout_secs === 'number' ? w.timeout_secs : 30) * 1000,
    memoryMb: typeof w.memory_mb === 'number' ? w.memory_mb : 256,
  };
}
