/**
 * One home rule for `npm start` and every bpbroker command: --home, else BPBROKER_HOME, else /usr/local/bpbroker
 * for root and ~/.bpbroker for anyone else. Run as a non-root user (uid 65534) the way a newcomer would, from
 * the README: install an extension, `npm start`'s own command line, then `bpbroker status`, all without a home.
 */
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { brokerHome } from '../../src/config/paths.js';
import { track } from '../helpers/children.js';
import { BPBROKER, ROOT, logLines, removeDir, runCli, tempDir } from '../helpers/broker.js';
import { waitFor } from '../helpers/wait.js';

const NOBODY = 65534;

describe('the home rule', () => {
  it('BPBROKER_HOME first (an empty one is no choice), else /usr/local/bpbroker for root', () => {
    expect(process.getuid?.(), 'CI runs the tests as root').toBe(0);
    expect(brokerHome({ BPBROKER_HOME: 'rel/home' })).toBe(resolve('rel/home'));
    expect(brokerHome({})).toBe('/usr/local/bpbroker');
    expect(brokerHome({ BPBROKER_HOME: '' })).toBe('/usr/local/bpbroker');
  });

  it('as a non-root user, install-extension, npm start and status share ~/.bpbroker; an unwritable home is named with how to choose another', async () => {
    expect(process.getuid?.(), 'this test runs the commands as uid 65534, which needs root (CI runs as root)').toBe(0);
    const dir = tempDir();
    chmodSync(dir, 0o755);
    const user = join(dir, 'user');
    mkdirSync(user);
    chownSync(user, NOBODY, NOBODY);
    const home = join(user, '.bpbroker');
    // No home chosen: neither BPBROKER_HOME nor --home.
    const env = { HOME: user, BPBROKER_HOME: undefined, XDG_DATA_HOME: join(user, 'data'), XDG_CACHE_HOME: join(user, 'cache') };
    try {
      const ext = join(user, 'hello.mjs');
      writeFileSync(ext, 'export function Hi(rh) { rh.data = { hi: rh.qs.data }; }\n');
      const installed = await runCli(BPBROKER, ['install-extension', '--script', ext], { env, uid: NOBODY });
      expect(installed.stderr).toBe('');
      expect(installed.stdout).toContain(`Installed: hello -> ${join(home, 'lib', 'hello.mjs')}\n`);

      // No broker yet: status says which home it looked in and how to choose another.
      const before = await runCli(BPBROKER, ['status'], { env, uid: NOBODY });
      expect(before.code).toBe(1);
      expect(before.stdout).toContain(`No configuration in home ${home}: for a broker started with another home, choose it with --home DIR or BPBROKER_HOME=DIR\n`);

      // `npm start` is `npm run prestart` (a build) and then this command line, with `npm start -- ARGS` appended.
      const start = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.start as string;
      const broker = track(
        spawn('/bin/sh', ['-c', `exec ${start} --port 0 --listen-ip 127.0.0.1`], { cwd: ROOT, env: { ...process.env, ...env }, uid: NOBODY, gid: NOBODY, stdio: ['ignore', 'pipe', 'pipe'] }),
      );
      let out = '';
      let err = '';
      broker.stdout.on('data', (d: Buffer) => (out += d.toString()));
      broker.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<number | null>((done) => broker.once('exit', (code) => done(code)));
      await waitFor(() => /ready on port \d+/.test(out) || broker.exitCode !== null, 30_000, 20, 'the broker to start');
      expect(out, err).toMatch(/ready on port \d+/);
      const port = Number(/ready on port (\d+)/.exec(out)![1]);
      // A first start says where the registry will live.
      expect(logLines(err).map((l) => l.msg)).toContain(`creating a new configuration at ${join(home, 'etc', 'bpbroker.json')}`);

      const status = await runCli(BPBROKER, ['status'], { env, uid: NOBODY });
      expect(status.code, status.stdout + status.stderr).toBe(0);
      expect(status.stdout).toContain(`config:      ${join(home, 'etc', 'bpbroker.json')}\n`);
      expect(status.stdout).toContain(`127.0.0.1:${port} TLS`);
      expect(status.stdout).toContain('hello: serving (Hi); not enabled: add its section to the configuration to call it');

      // A home this user cannot write: the error says which home and how to choose another.
      const locked = join(dir, 'locked');
      mkdirSync(locked, { mode: 0o755 });
      const denied = await runCli(BPBROKER, ['configure', '--home', join(locked, 'home')], { env, uid: NOBODY, input: '{}' });
      expect(denied.code).toBe(1);
      expect(denied.stderr).toMatch(/^Fatal error: Permission denied: EACCES: permission denied, mkdir '[^']+' \(home \S+\/locked\/home: choose another with --home DIR or BPBROKER_HOME=DIR\)\n$/);

      broker.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      removeDir(dir);
    }
  });
});
