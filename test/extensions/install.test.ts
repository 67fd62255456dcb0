import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BPBROKER, ROOT, removeDir, runCli, tempDir } from '../helpers/broker.js';

const home = tempDir('bpbroker-install-');
const env = { BPBROKER_HOME: home };
const install = (script: string, ...more: string[]) => runCli(BPBROKER, ['install-extension', '--script', script, ...more], { env });
afterAll(() => removeDir(home));

describe('bpbroker install-extension', () => {
  it('checks, copies, lists methods and prints the config it needs; a second run says it is identical', async () => {
    const first = await install(join(ROOT, 'extensions/example.mjs'));
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`Installed: example -> ${join(home, 'lib', 'example.mjs')}`);
    expect(first.stdout).toContain('Methods: example.Test');
    expect(first.stdout).not.toContain('_helper');
    expect(first.stdout).toContain('"example": {\n    "_access_key": ""\n  }');
    expect(readFileSync(join(home, 'lib/example.mjs'), 'utf8')).toBe(readFileSync(join(ROOT, 'extensions/example.mjs'), 'utf8'));
    const again = await install(join(ROOT, 'extensions/example.mjs'));
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('Already installed (identical): example');
  });

  it('installs TypeScript and package folders; replaces a changed version', async () => {
    expect((await install(join(ROOT, 'extensions/hello.ts'))).stdout).toContain('Methods: hello.Greet');
    const src = tempDir('bpbroker-pkg-');
    try {
      mkdirSync(join(src, 'tools'));
      writeFileSync(join(src, 'tools/index.mjs'), `import { n } from './n.mjs'; export function N() { return n; }`);
      writeFileSync(join(src, 'tools/n.mjs'), `export const n = 1;`);
      const r = await install(join(src, 'tools'), '--json');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ namespace: 'tools', methods: ['N'], unchanged: false, replaced: false, enabled: false });
      writeFileSync(join(src, 'tools/n.mjs'), `export const n = 2;`);
      expect(JSON.parse((await install(join(src, 'tools'), '--json')).stdout)).toMatchObject({ replaced: true });
      expect(readFileSync(join(home, 'lib/tools/n.mjs'), 'utf8')).toContain('n = 2');
    } finally {
      removeDir(src);
    }
  });

  it('refuses what would not load, shadow a built-in namespace, or be private; installs nothing then', async () => {
    const src = tempDir('bpbroker-bad-');
    try {
      const cases: Array<[string, string, RegExp]> = [
        ['broken.mjs', 'export function X( {', /broken\.mjs does not load, nothing installed:[\s\S]*broken\.mjs:1/],
        ['throws.mjs', `throw new Error('needs OSSEC_DIR')`, /does not load[\s\S]*needs OSSEC_DIR/],
        // The stack names the author's TypeScript line (4), not the bundle's.
        ['typed.ts', `interface C { dir?: string }\nconst c: C = {};\n// the next line throws\nif (!c.dir) throw new Error('no dir');\nexport function X(): void {}`, /no dir\n\s+at \S*typed\.ts:4:\d+/],
        ['services.mjs', 'export function X() {}', /"services" is a built-in namespace/],
        ['ping.js', 'export function X() {}', /"ping" is a built-in namespace/],
        ['_hidden.mjs', 'export function X() {}', /names starting with "_"/],
        ['empty.mjs', 'export const x = 1;', /exports no public function/],
        ['notes.txt', 'hello', /is not an extension/],
      ];
      for (const [name, text] of cases) writeFileSync(join(src, name), text);
      // Independent refusals: run at once, they cost one CLI start of wall time, not nine.
      const results = await Promise.all(cases.map(([name]) => install(join(src, name))));
      cases.forEach(([name, , why], i) => {
        expect(results[i]?.code, name).toBe(1);
        expect(results[i]?.stderr, name).toMatch(why);
        expect(existsSync(join(home, 'lib', name)), name).toBe(false);
      });
      writeFileSync(join(src, 'example.ts'), 'export function Test() {}');
      expect((await install(join(src, 'example.ts'))).stderr).toMatch(/example\.mjs already provides namespace "example"/);
    } finally {
      removeDir(src);
    }
  });

  it('checks that packages resolve from lib/, where the extension will run, not from beside the source', async () => {
    const src = tempDir('bpbroker-deps-');
    try {
      // The package sits beside the source only: the source's folder resolves it, lib/ does not.
      const pkg = (root: string) => {
        mkdirSync(join(root, 'node_modules/fake-ms'), { recursive: true });
        writeFileSync(join(root, 'node_modules/fake-ms/package.json'), JSON.stringify({ name: 'fake-ms', type: 'module', main: 'index.js' }));
        writeFileSync(join(root, 'node_modules/fake-ms/index.js'), 'export default (n) => n + " ms";');
      };
      pkg(src);
      writeFileSync(join(src, 'timer.mjs'), `import ms from 'fake-ms';\nexport function T(rh) { return ms(rh.qs.n); }\n`);
      const refused = await install(join(src, 'timer.mjs'));
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`${join(src, 'timer.mjs')}:1:16: Could not resolve "fake-ms"`);
      expect(refused.stderr).toContain(`The package "fake-ms" cannot be found from ${join(home, 'lib')}, where the broker runs the extension`);
      expect(existsSync(join(home, 'lib/timer.mjs'))).toBe(false);
      // Installed where lib/ resolves it, the same file installs.
      pkg(join(home, 'lib'));
      expect((await install(join(src, 'timer.mjs'))).stdout).toContain('Methods: timer.T');
    } finally {
      removeDir(src);
    }
  });

  it('says when the namespace is already enabled in the configuration', async () => {
    const cfg = await runCli(BPBROKER, ['configure'], { env, input: readFileSync(join(ROOT, 'extensions/ossec.json'), 'utf8') });
    expect(cfg.code).toBe(0);
    const r = await install(join(ROOT, 'extensions/ossec.mjs'));
    expect(r.stdout).toContain('Methods: ossec.AddAgent');
    expect(r.stdout).toContain('The namespace "ossec" is enabled in the configuration.');
  });
});
