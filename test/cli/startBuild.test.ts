/** `npm start` compiles only when a source changed: after the build `npm test` just ran, it starts at once. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/broker.js';

describe('npm start', () => {
  it('runs no compiler when nothing changed since the last build', () => {
    const prestart = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.prestart as string;
    const r = spawnSync('/bin/sh', ['-c', prestart], { cwd: ROOT, encoding: 'utf8' });
    // Silent: it says so whenever it compiles (and `npm run build` would echo its command line).
    expect({ status: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({ status: 0, stdout: '', stderr: '' });
  });
});
