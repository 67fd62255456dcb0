import { execFile } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { BPBROKER, ROOT, removeDir, runCli, tempDir } from '../helpers/broker.js';

const run = promisify(execFile);

/** `npm test` in a generated folder, as its author runs it: the exit code and what node --test printed. */
async function npmTest(dir: string): Promise<{ code: number; out: string }> {
  try {
    const r = await run('npm', ['test'], { cwd: dir, env: { ...process.env, NODE_OPTIONS: '' } });
    return { code: 0, out: r.stdout };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

// `bpbroker extension new`: what an author gets must pass its own test with only this installation present.
describe('bpbroker extension new', () => {
  const work = tempDir('bpbroker-scaffold-');
  afterAll(() => removeDir(work));

  it('writes a typed TypeScript extension whose test passes and which type-checks', async () => {
    const dir = join(work, 'inventory');
    const r = await runCli(BPBROKER, ['extension', 'new', 'inventory', '--dir', dir]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const f of ['inventory.ts', 'tsconfig.json', 'package.json', 'test/inventory.test.mjs']) expect(existsSync(join(dir, f)), f).toBe(true);
    expect(realpathSync(join(dir, 'node_modules/bpbroker'))).toBe(realpathSync(ROOT));
    expect(readFileSync(join(dir, 'inventory.ts'), 'utf8')).toContain("from 'bpbroker/extension'");
    const t = await npmTest(dir);
    expect(t.out).toMatch(/# pass 3\n# fail 0/);
    expect(t.code).toBe(0);
    // Deployed as the walkthrough says: it loads from lib/, where node_modules/bpbroker is not.
    const lib = join(work, 'lib');
    const inst = await runCli(BPBROKER, ['install-extension', '--script', join(dir, 'inventory.ts'), '--lib', lib, '--home', join(work, 'home')]);
    expect(inst.stdout).toContain('Methods: inventory.Add, inventory.List');
    expect(inst.code).toBe(0);
    // The tsconfig resolves bpbroker/extension: a wrong type is reported, the generated code has none.
    const tsc = join(ROOT, 'node_modules/.bin/tsc');
    await run(tsc, ['-p', dir]);
    writeFileSync(join(dir, 'inventory.ts'), `${readFileSync(join(dir, 'inventory.ts'), 'utf8')}\nexport function Bad(rh: RequestHandler): void { rh.status = 'ok'; }\n`);
    await expect(run(tsc, ['-p', dir])).rejects.toMatchObject({ stdout: expect.stringMatching(/inventory\.ts\(\d+,\d+\): error TS2322/) });
  });

  it('writes a Python module whose test passes', async () => {
    const dir = join(work, 'inventory-py');
    const r = await runCli(BPBROKER, ['extension', 'new', 'inventory', '--python', '--dir', dir]);
    expect(r.code).toBe(0);
    expect(readFileSync(join(dir, 'inventory.py'), 'utf8')).toContain('def Add(rh):');
    const t = await npmTest(dir);
    expect(t.out).toMatch(/# pass 3\n# fail 0/);
    expect(t.code).toBe(0);
  });

  it('refuses to overwrite, and writes nothing then', async () => {
    const dir = join(work, 'taken');
    await runCli(BPBROKER, ['extension', 'new', 'taken', '--dir', dir]);
    writeFileSync(join(dir, 'taken.ts'), '// mine\n');
    const r = await runCli(BPBROKER, ['extension', 'new', 'taken', '--dir', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Fatal error: .*taken\.ts, .* already exist; nothing written/);
    expect(readFileSync(join(dir, 'taken.ts'), 'utf8')).toBe('// mine\n');
  });
});
