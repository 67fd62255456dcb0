import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BPBROKER, removeDir, runCli, startBroker, tempDir } from '../helpers/broker.js';
import { call, qs } from '../helpers/https.js';
import { waitFor } from '../extensions/harness.js';

/** Issue 10, case 9: a configuration file reached through a symlink is the same file as its target. */
describe('a symlinked --config', () => {
  it('a link to the file and the file are one broker: the second is refused, the link stays a link', async () => {
    const dir = tempDir('bpbroker-symlink-');
    const env = { BPBROKER_HOME: join(dir, 'home') };
    try {
      mkdirSync(join(dir, 'real'));
      mkdirSync(join(dir, 'link'));
      const real = join(dir, 'real', 'bpbroker.json');
      const link = join(dir, 'link', 'bpbroker.json');
      writeFileSync(real, JSON.stringify({ services: { before: { n: 1 } } }));
      symlinkSync(join('..', 'real', 'bpbroker.json'), link);

      const first = await startBroker({ home: env.BPBROKER_HOME, args: ['--config', link] });
      try {
        const second = await startBroker({ home: env.BPBROKER_HOME, args: ['--config', real] }).then(
          async (b) => {
            await b.stop();
            return 'started';
          },
          (err: Error) => err.message,
        );
        expect(second).toContain(`Another broker (pid ${first.proc.pid}) is running with ${real}`);
        expect((await call(first.port, `/services/Register/?${qs({ name: 'after', data: '{"n": 2}' })}`)).json.success).toBe(true);
        // The snapshot lands in the real file, read here through the link.
        await waitFor(() => JSON.parse(readFileSync(link, 'utf8')).services.after !== undefined, 10_000);
        expect(lstatSync(link).isSymbolicLink()).toBe(true);
      } finally {
        expect(await first.stop()).toBe(0);
      }
      expect(lstatSync(link).isSymbolicLink()).toBe(true);
      // Journal, lock, status and backups live beside the real file; nothing was made beside the link.
      expect(readdirSync(join(dir, 'link'))).toEqual(['bpbroker.json']);
      expect(existsSync(join(dir, 'real', 'bpbroker.journal'))).toBe(true);
      const services = JSON.parse(readFileSync(real, 'utf8')).services;
      expect(services.before).toEqual({ n: 1 });
      expect(services.after).toMatchObject({ n: 2 });

      // Started on the real path, the broker has what was written through the link.
      const again = await startBroker({ home: env.BPBROKER_HOME, args: ['--config', real] });
      try {
        expect((await call(again.port, `/services/Get/?${qs({ name: 'after' })}`)).json.data).toMatchObject({ n: 2 });
      } finally {
        await again.stop();
      }
    } finally {
      removeDir(dir);
    }
  }, 120_000);

  it('a symlinked folder on the way and a file that does not exist yet resolve to the real folder', async () => {
    const dir = tempDir('bpbroker-symlink-');
    const env = { BPBROKER_HOME: join(dir, 'home') };
    try {
      mkdirSync(join(dir, 'realdir'));
      symlinkSync('realdir', join(dir, 'linkdir'));
      const viaLink = join(dir, 'linkdir', 'new.json');
      const real = join(dir, 'realdir', 'new.json');

      const b = await startBroker({ home: env.BPBROKER_HOME, args: ['--config', viaLink] });
      try {
        // A registry entry: a running broker takes settings only, so this one is refused, naming the real file.
        const refused = await runCli(BPBROKER, ['--config', real, 'configure'], { env, input: '{"services": {"extra": {"a": 1}}}' });
        expect(refused.code).toBe(1);
        expect(refused.stderr).toContain(`A broker (pid ${b.proc.pid}) is running with ${real}`);
        expect((await call(b.port, `/services/Register/?${qs({ name: 'x', data: '{}' })}`)).json.success).toBe(true);
      } finally {
        expect(await b.stop()).toBe(0);
      }
      expect(lstatSync(join(dir, 'linkdir')).isSymbolicLink()).toBe(true);
      expect(JSON.parse(readFileSync(real, 'utf8')).services.x).toBeDefined();

      // A dangling link to a file not yet made: configure creates the target, and the link stays.
      const dangling = join(dir, 'dangling.json');
      symlinkSync(join('realdir', 'target.json'), dangling);
      const made = await runCli(BPBROKER, ['--config', dangling, 'configure'], { env, input: '{"extra": {"_access_key": ""}}' });
      expect(made.code, made.stderr).toBe(0);
      expect(lstatSync(dangling).isSymbolicLink()).toBe(true);
      expect(JSON.parse(readFileSync(join(dir, 'realdir', 'target.json'), 'utf8')).extra).toEqual({ _access_key: '' });
      expect(readdirSync(dir).sort()).toEqual(['dangling.json', 'home', 'linkdir', 'realdir']);
    } finally {
      removeDir(dir);
    }
  }, 120_000);
});
