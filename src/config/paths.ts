import { readlinkSync, realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { ApiSection } from './schema.js';

/** The system-wide installation folder: root's default home, and where install-service puts the broker. */
export const SYSTEM_HOME = '/usr/local/bpbroker';

/**
 * The installation folder (etc/ and lib/), one rule for every command and `npm start`: `--home DIR`, else
 * `$BPBROKER_HOME`, else `%ProgramFiles%\bpbroker` on Windows, /usr/local/bpbroker for root, and `~/.bpbroker`
 * for any other user (who cannot write /usr/local), as rootless tools keep per-user state in the home folder.
 */
export function brokerHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BPBROKER_HOME) return resolve(env.BPBROKER_HOME);
  if (process.platform === 'win32') return join(env.ProgramFiles ?? 'C:\\Program Files', 'bpbroker');
  return process.getuid?.() === 0 ? SYSTEM_HOME : join(homedir(), '.bpbroker');
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

/**
 * The configuration file a command works on (`--config FILE`, else the global one), as its real path. Every
 * file beside it (journal, lock, status, backups) and its atomic replace go through this path, so a symlinked
 * file or folder is one file for all brokers and tools, and a symlink stays a symlink when the file is written.
 */
export function configPathFrom(home: string, configPath?: string | undefined): string {
  return realPath(configPath ? resolve(configPath) : globalConfigPath(home));
}

/** Links followed at most, as the kernel does (ELOOP), so a cycle of dangling links ends. */
const MAX_LINKS = 40;

/**
 * `path` with every symlink resolved. Parts that do not exist yet are kept as they are, under the real path of
 * the part that exists; a dangling link resolves to where it points, so the file is created there.
 */
export function realPath(path: string, links = 0): string {
  const abs = resolve(path);
  try {
    return realpathSync.native(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
  }
  let target: string | undefined;
  try {
    target = readlinkSync(abs);
  } catch {
    target = undefined; // not a link: it does not exist
  }
  if (target !== undefined) {
    if (links >= MAX_LINKS) throw Object.assign(new Error(`Too many levels of symbolic links: ${abs}`), { code: 'ELOOP' });
    return realPath(resolve(dirname(abs), target), links + 1);
  }
  const parent = dirname(abs);
  return parent === abs ? abs : join(realPath(parent, links), basename(abs));
}

/** The journal folder that belongs to a configuration file: `etc/bpbroker.json` -> `etc/bpbroker.journal/`. */
export function journalDirFor(configPath: string): string {
  return join(dirname(configPath), `${baseWithoutJson(configPath)}.journal`);
}

/** The watch history that belongs to a configuration file: `etc/bpbroker.json` -> `etc/bpbroker.history/`. */
export function historyDirFor(configPath: string): string {
  return join(dirname(configPath), `${baseWithoutJson(configPath)}.history`);
}

/** The lock file a running broker holds on its configuration file. */
export function lockPathFor(configPath: string): string {
  return join(dirname(configPath), `${baseWithoutJson(configPath)}.lock`);
}

/** What a running broker says about itself (ports, uptime, entries), for `bpbroker status`. */
export function statusPathFor(configPath: string): string {
  return join(dirname(configPath), `${baseWithoutJson(configPath)}.status.json`);
}

/** The certificate file a broker with these settings serves (what `bpbroker configure` expects it to present). */
export function certificatePathFor(home: string, api: Pick<ApiSection, 'ssl_cert' | 'ssl_key'>): string {
  const legacyDummy = basename(api.ssl_cert).startsWith('dummy_api.') || basename(api.ssl_key).startsWith('dummy_api.');
  return api.ssl_cert && api.ssl_key && !legacyDummy ? api.ssl_cert : join(etcDir(home), 'bpbroker.crt');
}

function baseWithoutJson(p: string): string {
  const base = p.split(/[\\/]/).pop() ?? p;
  return base.endsWith('.json') ? base.slice(0, -5) : base;
}
