import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BPBROKER, BPCLIENT, ROOT, removeDir, runCli, tempDir } from '../helpers/broker.js';

// oclif's plugin system, exercised with a local plugin: installed, run, uninstalled, in a private data folder.
describe.each([
  ['bpbroker', BPBROKER],
  ['bpclient', BPCLIENT],
])('%s plugins', (_name, bin) => {
  it('installs a local plugin whose command then runs, and uninstalls it', async () => {
    const dir = tempDir();
    const env = { XDG_DATA_HOME: join(dir, 'data'), XDG_CACHE_HOME: join(dir, 'cache'), XDG_CONFIG_HOME: join(dir, 'config') };
    try {
      const plugin = `file:${join(ROOT, 'test/fixtures/plugin')}`;
      const install = await runCli(bin, ['plugins', 'install', plugin], { env });
      expect(install.code, install.stderr).toBe(0);
      const hello = await runCli(bin, ['hello'], { env });
      expect(hello.stdout).toContain('hello from a plugin');
      expect((await runCli(bin, ['plugins'], { env })).stdout).toContain('bpbroker-plugin-hello');
      expect((await runCli(bin, ['plugins', 'uninstall', 'bpbroker-plugin-hello'], { env })).code).toBe(0);
      expect((await runCli(bin, ['hello'], { env })).code).not.toBe(0);
    } finally {
      removeDir(dir);
    }
  });
});
