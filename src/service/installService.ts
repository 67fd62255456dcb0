/**
 * `bpbroker install-service` / `uninstall-service`: register the broker with the init system (systemd unit,
 * SysV /etc/init.d script enabled by update-rc.d or chkconfig, or nssm on Windows), or remove it. Both are
 * idempotent and report each step.
 *
 * `root` is the folder under which system paths (/etc/...) are written, for tests and image builds. Under any
 * root but `/` the init system's commands are only recorded, never run: they would act on this machine.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../config/ConfigError.js';
import { configure } from '../app/configure.js';
import { lockHolder } from '../config/lockFile.js';
import { etcDir, globalConfigPath, libDir, realPath } from '../config/paths.js';
import { createRunner, shellLine, type SystemRunner } from './systemRunner.js';
import { SERVICE_NAME, nssmInstall, systemdUnit, sysvScript, type Launch } from './templates.js';

export type InitSystem = 'systemd' | 'sysv' | 'nssm';

export interface ServiceOptions {
  home: string;
  /** `--config FILE`: the service runs with it (else with the global file). */
  configPath?: string | undefined;
  /** Where /etc/... is written (default `/`, or $BPBROKER_SYSTEM_ROOT). */
  root?: string | undefined;
  /** Force an init system instead of detecting it. */
  init?: InitSystem | undefined;
  /** Write nothing and run nothing: only say what would be done. */
  dryRun?: boolean | undefined;
  /** The nssm executable (Windows). */
  nssm?: string | undefined;
  /** Absolute node and bin/bpbroker.js paths written into the service (defaults: this process's). */
  node?: string | undefined;
  script?: string | undefined;
  /** Injected for tests. */
  runner?: SystemRunner;
}

export interface ServiceReport {
  init: InitSystem;
  /** Nothing was written or run (--dry-run): the steps say what would have been. */
  dryRun: boolean;
  /** Whether the init system's commands were run (false in a dry run and under a --root other than /). */
  commandsRun: boolean;
  /** One line per step taken, in order. */
  steps: string[];
  /** Command lines given to the init system (run, or only printed in a dry run). */
  commands: string[];
}

export function systemRoot(root?: string): string {
  return resolve(root ?? process.env.BPBROKER_SYSTEM_ROOT ?? '/');
}

/** Paths of the installed files, under `root`. */
export function servicePaths(root: string): { unit: string; initScript: string } {
  return { unit: join(root, 'etc/systemd/system/bpbroker.service'), initScript: join(root, 'etc/init.d/bpbroker') };
}

const SBIN_DIRS = ['usr/sbin', 'sbin', 'usr/bin', 'bin', 'usr/local/sbin', 'usr/local/bin'];

function findTool(root: string, name: string): boolean {
  return SBIN_DIRS.some((d) => existsSync(join(root, d, name)));
}

/** systemd when it runs (/run/systemd/system exists), else SysV; nssm on Windows. */
export function detectInit(root: string): InitSystem {
  if (process.platform === 'win32') return 'nssm';
  return existsSync(join(root, 'run/systemd/system')) ? 'systemd' : 'sysv';
}

/** bin/bpbroker.js of this package, found from this module's location (works from src/ and dist/src/). */
export function defaultScriptPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'bin', 'bpbroker.js');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error('Cannot find bin/bpbroker.js of this installation');
}

class Session {
  readonly root: string;
  readonly runner: SystemRunner;
  readonly steps: string[] = [];
  /** --dry-run: nothing is written or run; each step says what would be done. */
  readonly dryRun: boolean;

  constructor(opts: ServiceOptions) {
    this.root = systemRoot(opts.root);
    this.dryRun = opts.dryRun === true;
    // Commands act on this machine's init system, never on a folder: under another root they are recorded.
    this.runner = opts.runner ?? createRunner(this.dryRun || this.root !== resolve('/'));
  }

  /** Creates a folder (or in a dry run says it would). */
  mkdir(dir: string): void {
    if (existsSync(dir)) return;
    if (!this.dryRun) mkdirSync(dir, { recursive: true, mode: 0o755 });
    this.steps.push(`${this.dryRun ? 'Would create' : 'Created'} ${dir}`);
  }

  async run(cmd: string[], opts: { mayFail?: boolean } = {}): Promise<boolean> {
    const line = shellLine(cmd);
    if (this.runner.dryRun) {
      await this.runner.run(cmd);
      this.steps.push(`Would run: ${line}`);
      return true;
    }
    const r = await this.runner.run(cmd);
    if (r.code === 0) {
      this.steps.push(`Ran: ${line}`);
      return true;
    }
    const why = r.output.trim().split('\n')[0] ?? '';
    if (opts.mayFail) {
      this.steps.push(`Ran: ${line} (exit ${r.code}${why ? `: ${why}` : ''}; ignored)`);
      return false;
    }
    throw new ConfigError(`\`${line}\` failed (exit ${r.code})${why ? `: ${why}` : ''}`);
  }

  write(path: string, text: string, mode: number): void {
    const existed = existsSync(path);
    if (existed && readFileSync(path, 'utf8') === text && (statSync(path).mode & 0o777) === mode) {
      this.steps.push(`Unchanged ${path}`);
      return;
    }
    if (this.dryRun) {
      this.steps.push(`Would ${existed ? 'update' : 'write'} ${path}`);
      return;
    }
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text, { mode });
    chmodSync(path, mode);
    this.steps.push(`${existed ? 'Updated' : 'Wrote'} ${path}`);
  }

  remove(path: string): boolean {
    if (!existsSync(path)) return false;
    if (!this.dryRun) rmSync(path, { force: true });
    this.steps.push(`${this.dryRun ? 'Would remove' : 'Removed'} ${path}`);
    return true;
  }

  /** The last step: what was done, or in a dry run that nothing was. */
  done(message: string): void {
    this.steps.push(this.dryRun ? 'Dry run: nothing was written or run' : message);
  }

  report(init: InitSystem): ServiceReport {
    return { init, dryRun: this.dryRun, commandsRun: !this.runner.dryRun, steps: this.steps, commands: this.runner.commands.map(shellLine) };
  }
}

/** Registers the broker to start at boot; does not start it. */
export async function installService(opts: ServiceOptions): Promise<ServiceReport> {
  const s = new Session(opts);
  const init = opts.init ?? detectInit(s.root);
  const home = resolve(opts.home);
  const configPath = opts.configPath ? resolve(opts.configPath) : globalConfigPath(home);

  for (const dir of [etcDir(home), libDir(home)]) s.mkdir(dir);
  const holder = lockHolder(configPath);
  if (holder !== undefined) {
    s.steps.push(`Left ${configPath} as is: a broker (pid ${holder}) runs with it and writes it itself`);
  } else if (s.dryRun) {
    s.steps.push(`Would save the configuration to ${realPath(configPath)}`);
  } else {
    // configure with nothing new writes the file with every default and folds a leftover journal into it.
    const saved = await configure({ home, configPath: opts.configPath, input: { text: '{}' }, inputName: 'install-service' });
    s.steps.push(`Saved the configuration to ${saved.path}`);
  }

  const launch: Launch = {
    node: opts.node ?? process.execPath,
    script: opts.script ?? defaultScriptPath(),
    args: ['start', '--home', home, '--config', configPath],
    home,
  };
  const paths = servicePaths(s.root);
  switch (init) {
    case 'systemd':
      s.write(paths.unit, systemdUnit(launch), 0o644);
      await s.run(['systemctl', 'daemon-reload']);
      await s.run(['systemctl', 'enable', `${SERVICE_NAME}.service`]);
      s.done(`Installed; start it with: systemctl start ${SERVICE_NAME}`);
      break;
    case 'sysv': {
      s.write(paths.initScript, sysvScript(launch), 0o755);
      if (findTool(s.root, 'update-rc.d')) {
        await s.run(['update-rc.d', SERVICE_NAME, 'defaults']);
      } else if (findTool(s.root, 'chkconfig')) {
        await s.run(['chkconfig', '--add', SERVICE_NAME]);
        await s.run(['chkconfig', SERVICE_NAME, 'on']);
      } else {
        s.steps.push(`Neither update-rc.d nor chkconfig found: link ${paths.initScript} into your runlevels to start it at boot`);
      }
      s.done(`Installed; start it with: service ${SERVICE_NAME} start`);
      break;
    }
    case 'nssm': {
      const nssm = opts.nssm ?? process.env.BPBROKER_NSSM ?? 'nssm';
      // Already registered (a re-install): remove it first so its settings are replaced, not merged.
      if (!s.runner.dryRun && (await s.runner.run([nssm, 'status', SERVICE_NAME])).code === 0) {
        await s.run([nssm, 'remove', SERVICE_NAME, 'confirm']);
      }
      for (const cmd of nssmInstall(nssm, launch)) await s.run(cmd);
      s.done(`Installed; start it with: ${nssm} start ${SERVICE_NAME}`);
      break;
    }
  }
  return s.report(init);
}

/** Stops and removes the service. Nothing installed is not an error. */
export async function uninstallService(opts: ServiceOptions): Promise<ServiceReport> {
  const s = new Session(opts);
  const init = opts.init ?? detectInit(s.root);
  const paths = servicePaths(s.root);
  let found = false;
  if (init === 'nssm') {
    const nssm = opts.nssm ?? process.env.BPBROKER_NSSM ?? 'nssm';
    if (s.runner.dryRun || (await s.runner.run([nssm, 'status', SERVICE_NAME])).code === 0) {
      found = true;
      await s.run([nssm, 'stop', SERVICE_NAME], { mayFail: true });
      await s.run([nssm, 'remove', SERVICE_NAME, 'confirm']);
    }
  } else {
    // Whichever was installed, even if the machine changed init system since.
    if (existsSync(paths.unit)) {
      found = true;
      await s.run(['systemctl', 'stop', `${SERVICE_NAME}.service`], { mayFail: true });
      await s.run(['systemctl', 'disable', `${SERVICE_NAME}.service`], { mayFail: true });
      s.remove(paths.unit);
      await s.run(['systemctl', 'daemon-reload'], { mayFail: true });
    }
    if (existsSync(paths.initScript)) {
      found = true;
      await s.run(['service', SERVICE_NAME, 'stop'], { mayFail: true });
      if (findTool(s.root, 'update-rc.d')) await s.run(['update-rc.d', '-f', SERVICE_NAME, 'remove'], { mayFail: true });
      else if (findTool(s.root, 'chkconfig')) await s.run(['chkconfig', '--del', SERVICE_NAME], { mayFail: true });
      s.remove(paths.initScript);
    }
  }
  if (found) s.done('Service removed (configuration and registry kept)');
  else s.steps.push('The service is not installed: nothing to do');
  return s.report(init);
}
