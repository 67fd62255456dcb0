import { dirname, join, resolve } from 'node:path';

/** The installation folder: `$BPBROKER_HOME`, else /usr/local/bpbroker (%ProgramFiles%\bpbroker on Windows). */
export function brokerHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BPBROKER_HOME) return resolve(env.BPBROKER_HOME);
  if (process.platform === 'win32') return join(env.ProgramFiles ?? 'C:\\Program Files', 'bpbroker');
  return '/usr/local/bpbroker';
}

export function etcDir(home: string): string {
  return join(home, 'etc');
}

/** Where installed extensions live. */
export function libDir(home: string): string {
  return join(home, 'lib');
}

export function globalConfigPath(home: string): string {
  return join(etcDir(home), 'bpbroker.json');
}

/** The journal folder that belongs to a configuration file: `etc/bpbroker.json` -> `etc/bpbroker.journal/`. */
export function journalDirFor(configPath: string): string {
  return join(dirname(configPath), `${baseWithoutJson(configPath)}.journal`);
}

/** The lock file a running broker holds on its configuration file. */
export function lockPathFor(configPath: string): string {
  return join(dirname(configPath), `${baseWithoutJson(configPath)}.lock`);
}

/** What a running broker says about itself (ports, uptime, entries), for `bpbroker status`. */
export function statusPathFor(configPath: string): string {
  return join(dirname(configPath), `${baseWithoutJson(configPath)}.status.json`);
}

function baseWithoutJson(p: string): string {
  const base = p.split(/[\\/]/).pop() ?? p;
  return base.endsWith('.json') ? base.slice(0, -5) : base;
}
