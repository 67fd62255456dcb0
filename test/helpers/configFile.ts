import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** True once the bpbroker.json under `home` holds the entry `name`: the broker has folded that write into it. */
export function configHolds(home: string, name: string): boolean {
  try {
    const file = JSON.parse(readFileSync(join(home, 'etc', 'bpbroker.json'), 'utf8')) as { services?: Record<string, unknown> };
    return file.services?.[name] !== undefined;
  } catch {
    return false; // not written yet
  }
}
