/** install-service / uninstall-service against a temporary root: files written, commands only recorded. */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BPBROKER, removeDir, runCli, tempDir } from '../helpers/broker.js';
import { installService, uninstallService } from '../../src/service/installService.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

function fixture(kind: 'systemd' | 'debian' | 'redhat' | 'bare'): { root: string; home: string } {
  const base = tempDir('bpbroker-service-');
  dirs.push(base);
  const root = join(base, 'root');
  const home = join(base, 'home');
  mkdirSync(root);
  if (kind === 'systemd') mkdirSync(join(root, 'run/systemd/system'), { recursive: true });
  const tool = kind === 'debian' ? 'usr/sbin/update-rc.d' : kind === 'redhat' ? 'sbin/chkconfig' : undefined;
  if (tool) {
    mkdirSync(join(root, tool, '..'), { recursive: true });
    writeFileSync(join(root, tool), '');
  }
  return { root, home };
}

const opts = (f: { root: string; home: string }) => ({ root: f.root, home: f.home, node: '/opt/node/bin/node', script: '/opt/bpbroker/bin/bpbroker.js' });

describe('install-service', () => {
  it('systemd: unit file with restart on failure and the installed config; enabled, not started', async () => {
    const f = fixture('systemd');
    const r = await installService(opts(f));
    const unitPath = join(f.root, 'etc/systemd/system/bpbroker.service');
    const unit = readFileSync(unitPath, 'utf8');
    const config = join(f.home, 'etc/bpbroker.json');
    expect(unit).toContain(`ExecStart=/opt/node/bin/node /opt/bpbroker/bin/bpbroker.js start --home ${f.home} --config ${config}\n`);
    expect(unit).toContain('Restart=on-failure\n');
    expect(unit).toContain('WantedBy=multi-user.target\n');
    expect(statSync(unitPath).mode & 0o777).toBe(0o644);
    expect(r).toMatchObject({ init: 'systemd', commandsRun: false, commands: ['systemctl daemon-reload', 'systemctl enable bpbroker.service'] });
    expect(r.commands.join('\n')).not.toContain('start');
    // etc/ and lib/ exist and the configuration was saved with its defaults.
    expect(existsSync(join(f.home, 'lib'))).toBe(true);
    expect(JSON.parse(readFileSync(config, 'utf8'))._config).toEqual({ backup_freq_secs: 3600, backup_retain_n: 24 });
    expect(r.steps).toContain(`Saved the configuration to ${config}`);
    expect(r.steps).toContain(`Wrote ${unitPath}`);

    // Idempotent: a second run changes nothing and succeeds.
    const again = await installService(opts(f));
    expect(again.steps).toContain(`Unchanged ${unitPath}`);
    expect(readFileSync(unitPath, 'utf8')).toBe(unit);
  });

  it('systemd: a --config file is the one the service runs with, and it keeps what configure put there', async () => {
    const f = fixture('systemd');
    const custom = join(f.home, 'custom.json');
    mkdirSync(f.home, { recursive: true });
    writeFileSync(custom, JSON.stringify({ services: { _access_key: 'k', web: { ip: '1.2.3.4' } } }));
    await installService({ ...opts(f), configPath: custom });
    const unit = readFileSync(join(f.root, 'etc/systemd/system/bpbroker.service'), 'utf8');
    expect(unit).toContain(`start --home ${f.home} --config ${custom}\n`);
    const saved = JSON.parse(readFileSync(custom, 'utf8'));
    expect(saved.services).toMatchObject({ _access_key: 'k', web: { ip: '1.2.3.4' } });
    expect(saved.api.listen_port).toBe(20443);
  });

  it('SysV on Debian: /etc/init.d/bpbroker enabled with update-rc.d', async () => {
    const f = fixture('debian');
    const r = await installService(opts(f));
    const script = join(f.root, 'etc/init.d/bpbroker');
    expect(statSync(script).mode & 0o777).toBe(0o755);
    const text = readFileSync(script, 'utf8');
    expect(text).toMatch(/^#!\/bin\/sh\n/);
    expect(text).toContain('### BEGIN INIT INFO');
    expect(text).toContain('# chkconfig: 2345 85 15');
    expect(text).toContain("NODE='/opt/node/bin/node'");
    expect(text).toContain(`"$NODE" "$SCRIPT" 'start' '--home' '${f.home}' '--config' '${join(f.home, 'etc/bpbroker.json')}'`);
    expect(r).toMatchObject({ init: 'sysv', commands: ['update-rc.d bpbroker defaults'] });
  });

  it('SysV on Red Hat: enabled with chkconfig', async () => {
    const f = fixture('redhat');
    const r = await installService(opts(f));
    expect(r.commands).toEqual(['chkconfig --add bpbroker', 'chkconfig bpbroker on']);
  });

  it('SysV without update-rc.d or chkconfig: writes the script and says how to enable it', async () => {
    const f = fixture('bare');
    const r = await installService(opts(f));
    expect(r.commands).toEqual([]);
    expect(r.steps.join('\n')).toMatch(/Neither update-rc.d nor chkconfig found/);
  });

  it('Windows: nssm commands', async () => {
    const f = fixture('bare');
    const r = await installService({ ...opts(f), init: 'nssm', nssm: 'C:\\bpbroker\\nssm.exe', node: 'C:\\node\\node.exe', script: 'C:\\bpbroker\\bin\\bpbroker.js' });
    expect(r.commands[0]).toBe(`'C:\\bpbroker\\nssm.exe' install bpbroker 'C:\\node\\node.exe' 'C:\\bpbroker\\bin\\bpbroker.js' start --home ${f.home} --config ${join(f.home, 'etc/bpbroker.json')}`);
    expect(r.commands).toContain("'C:\\bpbroker\\nssm.exe' set bpbroker Start SERVICE_AUTO_START");
    expect(r.commands).toContain("'C:\\bpbroker\\nssm.exe' set bpbroker AppExit Default Restart");
    const u = await uninstallService({ ...opts(f), init: 'nssm', nssm: 'nssm' });
    expect(u.commands).toEqual(['nssm stop bpbroker', 'nssm remove bpbroker confirm']);
  });
});

describe('uninstall-service', () => {
  it('systemd: stops, disables, removes; a second run has nothing to do', async () => {
    const f = fixture('systemd');
    await installService(opts(f));
    const r = await uninstallService(opts(f));
    expect(r.commands).toEqual(['systemctl stop bpbroker.service', 'systemctl disable bpbroker.service', 'systemctl daemon-reload']);
    expect(existsSync(join(f.root, 'etc/systemd/system/bpbroker.service'))).toBe(false);
    expect(existsSync(join(f.home, 'etc/bpbroker.json'))).toBe(true);
    const again = await uninstallService(opts(f));
    expect(again.commands).toEqual([]);
    expect(again.steps).toEqual(['The service is not installed: nothing to do']);
  });

  it('SysV: stops with service, removes the links and the script', async () => {
    const deb = fixture('debian');
    await installService(opts(deb));
    expect((await uninstallService(opts(deb))).commands).toEqual(['service bpbroker stop', 'update-rc.d -f bpbroker remove']);
    expect(existsSync(join(deb.root, 'etc/init.d/bpbroker'))).toBe(false);
    const rh = fixture('redhat');
    await installService(opts(rh));
    expect((await uninstallService(opts(rh))).commands).toEqual(['service bpbroker stop', 'chkconfig --del bpbroker']);
  });
});

describe('--dry-run', () => {
  it('install-service writes nothing, runs nothing and says what it would do', async () => {
    const f = fixture('systemd');
    const unit = join(f.root, 'etc/systemd/system/bpbroker.service');
    const r = await runCli(BPBROKER, ['install-service', '--dry-run', '--root', f.root, '--home', f.home]);
    expect(r).toEqual({
      code: 0,
      stderr: '',
      stdout: [
        `Would create ${join(f.home, 'etc')}`,
        `Would create ${join(f.home, 'lib')}`,
        `Would save the configuration to ${join(f.home, 'etc/bpbroker.json')}`,
        `Would write ${unit}`,
        'Would run: systemctl daemon-reload',
        'Would run: systemctl enable bpbroker.service',
        'Dry run: nothing was written or run',
        '',
      ].join('\n'),
    });
    expect(existsSync(f.home)).toBe(false);
    expect(existsSync(join(f.root, 'etc'))).toBe(false);
  });

  it('uninstall-service removes nothing', async () => {
    const f = fixture('systemd');
    await installService(opts(f));
    const unit = join(f.root, 'etc/systemd/system/bpbroker.service');
    const r = await uninstallService({ ...opts(f), dryRun: true });
    expect(r).toMatchObject({ dryRun: true, commandsRun: false });
    expect(r.steps).toContain(`Would remove ${unit}`);
    expect(r.steps.at(-1)).toBe('Dry run: nothing was written or run');
    expect(existsSync(unit)).toBe(true);
  });
});

describe('the commands', () => {
  it('print what they did, with --root from the environment', async () => {
    const f = fixture('systemd');
    const env = { BPBROKER_HOME: f.home, BPBROKER_SYSTEM_ROOT: f.root };
    const inst = await runCli(BPBROKER, ['install-service'], { env });
    expect(inst.code).toBe(0);
    expect(inst.stdout).toContain(`Wrote ${join(f.root, 'etc/systemd/system/bpbroker.service')}\n`);
    expect(inst.stdout).toContain('Would run: systemctl enable bpbroker.service\n');
    // The unit runs this installation's script with this node.
    const unit = readFileSync(join(f.root, 'etc/systemd/system/bpbroker.service'), 'utf8');
    expect(unit).toContain(`ExecStart=${process.execPath} ${BPBROKER} start`);
    const json = await runCli(BPBROKER, ['uninstall-service', '--json'], { env });
    expect(JSON.parse(json.stdout)).toMatchObject({ init: 'systemd', dryRun: false, commandsRun: false });
    const none = await runCli(BPBROKER, ['uninstall-service', '--root', f.root], { env: { BPBROKER_HOME: f.home } });
    expect(none.stdout).toBe('The service is not installed: nothing to do\n');
  });
});
