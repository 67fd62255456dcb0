import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BPBROKER, removeDir, runCli, startBroker, tempDir } from '../helpers/broker.js';
import { call, qs } from '../helpers/https.js';

function homeWith(config: unknown): string {
  const home = tempDir();
  mkdirSync(join(home, 'etc'));
  writeFileSync(join(home, 'etc', 'bpbroker.json'), typeof config === 'string' ? config : JSON.stringify(config, null, 2));
  return home;
}
const configFile = (home: string) => join(home, 'etc', 'bpbroker.json');
const readConfig = (home: string) => JSON.parse(readFileSync(configFile(home), 'utf8'));

describe('bpbroker configure', () => {
  it('is strictly additive: the documented access-key example keeps every entry (fixed)', async () => {
    const home = homeWith({ services: { web: { ip: '10.0.0.1', last_write_ip: '10.0.0.1', last_write_ts: 1 } }, api: { listen_port: 30000 } });
    try {
      const r = await runCli(BPBROKER, ['configure'], { env: { BPBROKER_HOME: home }, input: '{"services": {"_access_key": "secret"}, "api": {"listen_port": 1}, "ossec": {"_access_key": ""}}' });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('services._access_key');
      expect(r.stdout).toMatch(/untouched.*api\.listen_port/);
      const file = readConfig(home);
      expect(file.services._access_key).toBe('secret');
      expect(file.services.web).toEqual({ ip: '10.0.0.1', last_write_ip: '10.0.0.1', last_write_ts: 1 });
      expect(file.api.listen_port).toBe(30000);
      expect(file.ossec).toEqual({ _access_key: '' });
      expect(file._global.healthcheck_freq_sec).toBe(10); // every default written
      // Running it again changes nothing.
      const again = await runCli(BPBROKER, ['configure'], { env: { BPBROKER_HOME: home }, input: '{"services": {"_access_key": "other"}}' });
      expect(again.code).toBe(0);
      expect(readConfig(home).services._access_key).toBe('secret');
    } finally {
      removeDir(home);
    }
  });

  it('reads --config-file, with --config before the command as old scripts write it', async () => {
    const dir = tempDir();
    try {
      const target = join(dir, 'local.json');
      const input = join(dir, 'in.json');
      writeFileSync(input, '{"ossec": {"_access_key": "k"}}');
      const r = await runCli(BPBROKER, ['--config', target, 'configure', '--config-file', input], { env: { BPBROKER_HOME: join(dir, 'home') } });
      expect(r.code).toBe(0);
      expect(JSON.parse(readFileSync(target, 'utf8')).ossec._access_key).toBe('k');
    } finally {
      removeDir(dir);
    }
  });

  it('refuses bad input with "Fatal error:" and exit 1, leaving the file byte-identical', async () => {
    const home = homeWith({ services: { keep: { a: 1 } } });
    try {
      const before = readFileSync(configFile(home));
      for (const input of ['{not json', '[1, 2]', '"text"', '{"api": "not an object"}', '{"newsection": {"_access_key": 5}}']) {
        const r = await runCli(BPBROKER, ['configure'], { env: { BPBROKER_HOME: home }, input });
        expect(r.code, input).toBe(1);
        expect(r.stderr, input).toMatch(/^Fatal error: /);
        expect(r.stderr).not.toMatch(/\n\s+at /);
        expect(readFileSync(configFile(home)).equals(before), input).toBe(true);
      }
    } finally {
      removeDir(home);
    }
    // On etcd, entries in bpbroker.json would not be served: refused, saying where they belong.
    const onEtcd = homeWith({ registry: { backend: 'etcd' } });
    try {
      const before = readFileSync(configFile(onEtcd));
      const r = await runCli(BPBROKER, ['configure'], { env: { BPBROKER_HOME: onEtcd }, input: '{"services": {"web-1": {"ip": "10.0.0.7"}}}' });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^Fatal error: standard input holds registry entries \(services\.web-1\), but this registry is on etcd \(registry\.backend\).*bpclient service register.*bpbroker registry import/s);
      expect(readFileSync(configFile(onEtcd)).equals(before)).toBe(true);
    } finally {
      removeDir(onEtcd);
    }
  });

  it('hands settings to a running broker, which uses them on the next call and saves them; entries and bad values are refused', async () => {
    const home = tempDir();
    mkdirSync(join(home, 'lib'));
    writeFileSync(
      join(home, 'lib', 'newns.mjs'),
      'export function Hi(rh) { rh.data = { hi: 1 }; }\nexport async function Slow(rh) { await new Promise((r) => setTimeout(r, 1500)); rh.data = { slow: 1 }; }\n',
    );
    const b = await startBroker({ home });
    const configure = (input: string) => runCli(BPBROKER, ['configure'], { env: { BPBROKER_HOME: home }, input });
    try {
      expect((await call(b.port, '/newns/Hi')).text).toContain('Unauthorized package'); // not enabled yet

      const enabled = await configure('{"newns": {"_access_key": "k"}}');
      expect(enabled.stderr).toBe('');
      expect(enabled.code).toBe(0);
      expect(enabled.stdout).toMatch(/^Applied \(1\): newns$/m);
      expect(enabled.stdout).toMatch(/running broker \(pid \d+\) applied it/);
      expect((await call(b.port, `/newns/Hi?${qs({ access_key: 'k' })}`)).json).toEqual({ hi: 1 });
      const noKey = await call(b.port, '/newns/Hi');
      expect(noKey.status).not.toBe(200);
      expect(noKey.text).toContain('Incorrect access key');

      expect((await call(b.port, `/newns/Slow?${qs({ access_key: 'k' })}`)).json).toEqual({ slow: 1 }); // 30 s by default
      expect((await configure('{"newns": {"_timeout_secs": 0.5}}')).code).toBe(0);
      expect((await call(b.port, `/newns/Slow?${qs({ access_key: 'k' })}`)).status).toBe(504);
      expect(readConfig(home).newns).toEqual({ _access_key: 'k', _timeout_secs: 0.5 }); // saved by the broker

      const before = readFileSync(configFile(home));
      const entries = await configure('{"other": {}, "services": {"web": {"ip": "10.0.0.1"}}}');
      expect(entries.code).toBe(1);
      expect(entries.stderr).toMatch(/^Fatal error: A broker \(pid \d+\) is running .* holds registry entries \(services\.web\)/);
      // The endpoint itself refuses entries, whoever calls it (here a client on loopback, not configure).
      const direct = await call(b.port, '/_config', {
        body: JSON.stringify({ input: { services: { web: { ip: '10.0.0.1' } } }, input_name: 'a direct call' }),
        headers: { 'Content-Type': 'application/json' },
      });
      expect(direct.status).toBe(400);
      expect(direct.text).toContain('a direct call holds registry entries (services.web)');
      const bad = await configure('{"other": {"_timeout_secs": "soon"}}');
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain('Fatal error: standard input: other._timeout_secs: expected a number above 0, got "soon"');
      const atStart = await configure('{"other": {}, "api": {"listen_prot": 1}}');
      expect(atStart.code).toBe(1);
      expect(atStart.stderr).toMatch(/only at its start: api\.listen_prot\. Nothing was applied/);
      expect(readFileSync(configFile(home)).equals(before)).toBe(true);
      expect((await call(b.port, '/other/Hi')).text).toContain('Unauthorized package');
    } finally {
      await b.stop();
    }
    try {
      const file = readConfig(home);
      expect(file.newns).toEqual({ _access_key: 'k', _timeout_secs: 0.5 });
      expect(file.other).toBeUndefined();
    } finally {
      removeDir(home);
    }
  });

  it('hands settings to a running broker whose api.admin_key is set: configure sends it, other callers need it', async () => {
    const home = homeWith({ api: { admin_key: 'adm-secret' } });
    const b = await startBroker({ home });
    try {
      const r = await runCli(BPBROKER, ['configure'], { env: { BPBROKER_HOME: home }, input: '{"newns": {"_access_key": "k"}}' });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/running broker \(pid \d+\) applied it/);
      expect(readConfig(home).newns).toEqual({ _access_key: 'k' });
      // Loopback is not enough once the key is set: a direct call needs it as a Bearer token.
      const body = JSON.stringify({ input: { other: { _access_key: 'x' } } });
      const json = { 'Content-Type': 'application/json' };
      const none = await call(b.port, '/_config', { body, headers: json });
      expect(none.status).toBe(401);
      expect(none.headers['www-authenticate']).toMatch(/^Bearer /);
      const wrong = await call(b.port, '/_config', { body, headers: { ...json, Authorization: 'Bearer nope' } });
      expect(wrong.status).toBe(403);
      expect(readConfig(home).other).toBeUndefined();
      const right = await call(b.port, '/_config', { body, headers: { ...json, Authorization: 'Bearer adm-secret' } });
      expect(right.status, right.text).toBe(200);
      expect(readConfig(home).other).toEqual({ _access_key: 'x' });
    } finally {
      await b.stop();
      removeDir(home);
    }
  });

  it('starts from an old file as it is: unknown settings are kept and warned about, $schema is allowed', async () => {
    // The original's defaults as its files hold them, a typo, a setting of a newer version, and an editor's $schema.
    const old = {
      $schema: '../bpbroker.schema.json',
      api: { listen_port: 20443, listen_ip: '', ssl_cert: '/usr/lib/bpbroker/dummy_api.crt', ssl_key: '/usr/lib/bpbroker/dummy_api.key', listen_prot: 1 },
      worker: { threads: 4 },
      _global: { healthcheck_freq_sec: 10 },
      _config: { backup_freq_secs: 3600, backup_retain_n: 24 },
      ping: {},
      services: { _access_key: '', web: { ip: '10.0.0.1' } },
      ossec: { _access_key: '', agents_dir: '/var/ossec' },
    };
    const home = homeWith(old);
    try {
      const b = await startBroker({ home });
      const log = b.stdout() + b.stderr();
      expect(log).toContain(`${configFile(home)}: api.listen_prot: unknown setting, kept as it is`);
      expect(log).toContain(`${configFile(home)}: worker.threads: unknown setting, kept as it is`);
      expect(log).not.toContain('ossec.agents_dir'); // a namespace's section is its extension's: open
      expect((await call(b.port, `/services/Get/?${qs({ name: 'web' })}`)).json.data.ip).toBe('10.0.0.1');
      expect(await b.stop()).toBe(0);
      const file = readConfig(home);
      expect(file.$schema).toBe(old.$schema);
      expect(file.api.listen_prot).toBe(1);
      expect(file.worker).toEqual({ threads: 4, timeout_secs: 30, memory_mb: 256, extension_dirs: [] });
      expect(file.ossec).toEqual(old.ossec);
    } finally {
      removeDir(home);
    }
  });

  it('folds the journal of a crashed broker before merging, losing nothing', async () => {
    const home = tempDir();
    try {
      const b = await startBroker({ home });
      await call(b.port, `/services/Register/?${qs({ name: 'journaled', data: '{"v": 1}' })}`);
      await b.stop('SIGKILL');
      const r = await runCli(BPBROKER, ['configure'], { env: { BPBROKER_HOME: home }, input: '{"services": {"added": {"w": 2}}}' });
      expect(r.code).toBe(0);
      const file = readConfig(home);
      expect(file.services.journaled.v).toBe(1);
      expect(file.services.added).toEqual({ w: 2 });
      const again = await startBroker({ home });
      expect((await call(again.port, `/services/Get/?${qs({ name: 'journaled' })}`)).json.data.v).toBe(1);
      expect((await call(again.port, `/services/Get/?${qs({ name: 'added' })}`)).json.data.w).toBe(2);
      await again.stop();
    } finally {
      removeDir(home);
    }
  });
});

describe('bpbroker start with a bad configuration', () => {
  it('names the file, the key and the bad value in one line, exit 1, no stack trace', async () => {
    for (const [config, message] of [
      [{ api: { listen_port: 'abc' } }, 'api.listen_port: expected an integer from 0 to 65535, got "abc"'],
      [{ services: [] }, 'services: expected an object, got a list'],
      [{ _config: { backup_retain_n: -1 } }, '_config.backup_retain_n: expected an integer from 0 to 100000, got -1'],
    ] as const) {
      const home = homeWith(config);
      try {
        const r = await runCli(BPBROKER, ['start'], { env: { BPBROKER_HOME: home } });
        expect(r.code).toBe(1);
        expect(r.stderr).toBe(`Fatal error: ${configFile(home)}: ${message}\n`);
      } finally {
        removeDir(home);
      }
    }
    const corrupt = homeWith('{"services": {"a": ');
    try {
      const r = await runCli(BPBROKER, ['start'], { env: { BPBROKER_HOME: corrupt } });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/Fatal error: .*bpbroker\.json is not valid JSON.*backup/);
    } finally {
      removeDir(corrupt);
    }
  });
});
