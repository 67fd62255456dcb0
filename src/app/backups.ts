/**
 * Timestamped copies of bpbroker.json, taken by the running broker every `_config.backup_freq_secs` and
 * pruned to the newest `_config.backup_retain_n`, and brought back by `bpbroker backup restore`.
 * They live beside the file: `etc/backups/bpbroker-YYYYMMDDTHHMMSSZ.json` (mode 0600: they hold access keys).
 */
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { open, readdir, stat, unlink, mkdir } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { ConfigError } from '../config/ConfigError.js';
import { readConfigFile } from '../config/ConfigFile.js';
import { configure } from './configure.js';
import { acquireLock, type HeldLock } from '../config/lockFile.js';
import { configPathFrom, journalDirFor } from '../config/paths.js';
import { noProgress, type Progress } from '../core/progress.js';
import { silentLogger, type Logger } from '../log/Logger.js';
import { atomicCopyFile } from '../fs/atomicWrite.js';

/** The folder of a configuration file's backups. */
export function backupDirFor(configPath: string): string {
  return join(dirname(configPath), 'backups');
}

function baseName(configPath: string): string {
  const b = basename(configPath);
  return b.endsWith('.json') ? b.slice(0, -5) : b;
}

/** `20250102T030405Z`: sorts as time does, and is safe in file names on every platform. */
export function backupStamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}/, '').replace(/[-:]/g, '');
}

function backupPattern(configPath: string): RegExp {
  const base = baseName(configPath).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${base}-(\\d{8}T\\d{6}Z)\\.json$`);
}

export interface BackupInfo {
  name: string;
  path: string;
  /** When it was taken (from its name). */
  time: Date;
  bytes: number;
}

/** The backups of a configuration file, newest first. */
export function listBackups(configPath: string): BackupInfo[] {
  const dir = backupDirFor(configPath);
  const pattern = backupPattern(configPath);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .flatMap((name) => {
      const m = pattern.exec(name);
      if (!m) return [];
      const s = m[1]!;
      const time = new Date(`${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(9, 11)}:${s.slice(11, 13)}:${s.slice(13, 15)}Z`);
      const path = join(dir, name);
      return [{ name, path, time, bytes: statSync(path).size }];
    })
    .sort((a, b) => (a.name < b.name ? 1 : a.name > b.name ? -1 : 0));
}

export interface BackupsOptions {
  configPath: string;
  /** Seconds between backups; 0 or less disables them. */
  freqSecs: number;
  /** How many to keep (at least 1). */
  retain: number;
  log: Logger;
  /** Skip a backup when the file has not changed since the newest one (default true), so an idle
   * registry does not push older, different versions out of the window. */
  skipUnchanged?: boolean;
  now?: () => Date;
}

export class Backups {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private readonly retain: number;

  constructor(private readonly opts: BackupsOptions) {
    this.retain = Math.max(1, Math.floor(opts.retain));
  }

  /** Starts the periodic backups (the timer does not keep the process alive). */
  start(): void {
    if (this.timer || !(this.opts.freqSecs > 0)) return;
    this.timer = setInterval(() => {
      if (this.running) return; // a slow disk: skip a tick rather than pile up
      this.running = this.backupNow()
        .catch((err: unknown) => this.opts.log.warn('backup failed', { err: (err as Error).message }))
        .finally(() => (this.running = undefined));
    }, this.opts.freqSecs * 1000);
    this.timer.unref();
  }

  /** Stops the timer; a backup in progress finishes on its own. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Copies the configuration file now and prunes old copies; resolves with the copy's path (undefined if none was made). */
  async backupNow(opts: { force?: boolean } = {}): Promise<string | undefined> {
    const { configPath, log } = this.opts;
    if (!existsSync(configPath)) return undefined; // nothing written yet
    const newest = listBackups(configPath)[0];
    if (!opts.force && (this.opts.skipUnchanged ?? true) && newest && (await sameBytes(configPath, newest.path))) {
      await this.prune();
      return undefined;
    }
    const dir = backupDirFor(configPath);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, `${baseName(configPath)}-${backupStamp(this.opts.now?.() ?? new Date())}.json`);
    try {
      // The kernel copies (a registry may be gigabytes): no copy of it in memory.
      await atomicCopyFile(configPath, path, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !existsSync(configPath)) return undefined;
      throw err;
    }
    log.debug('configuration backed up', { path });
    await this.prune();
    return path;
  }

  /** Removes all but the newest `retain` backups; resolves with the removed paths. */
  async prune(): Promise<string[]> {
    const old = listBackups(this.opts.configPath).slice(this.retain);
    for (const b of old) await unlink(b.path).catch(() => {});
    return old.map((b) => b.path);
  }
}

/** What BrokerServer calls on start: backups every `freqSecs`, keeping `retain`. */
export function startBackups(opts: { configPath: string; freqSecs: number; retain: number; log: Logger }): { stop(): void } {
  const backups = new Backups(opts);
  backups.start();
  return { stop: () => backups.stop() };
}

export interface RestoreResult {
  /** The backup restored. */
  from: string;
  /** The configuration file replaced. */
  path: string;
  /** Where the configuration as it was before the restore was saved, if there was one. */
  savedCurrent?: string;
  journalRemoved: boolean;
}

/**
 * Replaces the configuration file with a backup. Refused while a broker holds the file. The backup is
 * validated first; the current state (journal folded in) is saved as one more backup, so a restore can be
 * undone; then the file is replaced atomically and the journal removed, since the restored file supersedes it.
 */
export async function restoreBackup(opts: RestoreOptions): Promise<RestoreResult> {
  const configPath = configPathFrom(opts.home, opts.configPath);
  mkdirSync(dirname(configPath), { recursive: true, mode: 0o755 });
  // Held from the first read to the last write: no broker or configure may start halfway through.
  const lock = await acquireLock(configPath, 'restore');
  try {
    return await restoreLocked(opts, configPath, lock);
  } finally {
    lock.release();
  }
}

type RestoreOptions = { home: string; configPath?: string | undefined; from: string; progress?: Progress | undefined };

async function restoreLocked(opts: RestoreOptions, configPath: string, lock: HeldLock): Promise<RestoreResult> {
  // A bare backup name is looked up in the backups folder.
  let from = resolve(opts.from);
  if (!existsSync(from) && !isAbsolute(opts.from) && !opts.from.includes('/') && !opts.from.includes('\\')) {
    from = join(backupDirFor(configPath), opts.from);
  }
  const progress = opts.progress ?? noProgress;
  // Validated by reading it through, an entry at a time, keeping none of them.
  let valid: ReturnType<typeof readConfigFile>;
  try {
    progress.phase(`Checking ${from}`, existsSync(from) ? statSync(from).size : undefined);
    valid = readConfigFile(from, { onEntry: () => {}, onRead: (n) => progress.advance(n) });
  } catch (err) {
    if (err instanceof ConfigError && err.message.startsWith(`Cannot read ${from}`)) {
      throw new ConfigError(`Cannot read backup ${from}: ${err.message.slice(`Cannot read ${from}: `.length)}. See \`bpbroker backup list\`.`);
    }
    throw err; // a ConfigError naming the problem
  }
  if (!valid) throw new ConfigError(`Cannot read backup ${from}: no such file. See \`bpbroker backup list\`.`);

  let savedCurrent: string | undefined;
  const journal = journalDirFor(configPath);
  if (existsSync(configPath) || existsSync(journal)) {
    // Folds acknowledged writes still in the journal into the file, so the saved copy is complete (a journal
    // with no records has nothing to fold: a big registry is not read for nothing).
    if (journalHasRecords(journal)) {
      try {
        progress.phase('Folding the journal into the current configuration');
        await configure({ home: opts.home, configPath: opts.configPath, input: { text: '{}' }, inputName: 'restore', heldLock: lock });
      } catch (err) {
        // A damaged file is a common reason to restore: save it as it is.
        if (!(err instanceof ConfigError)) throw err;
      }
    }
    const saver = new Backups({ configPath, freqSecs: 0, retain: Number.MAX_SAFE_INTEGER, log: silentLogger });
    progress.phase('Saving the current configuration as a backup');
    savedCurrent = await saver.backupNow({ force: true });
  }

  progress.phase(`Restoring ${configPath}`);
  await atomicCopyFile(from, configPath, 0o600);
  const journalRemoved = existsSync(journal);
  rmSync(journal, { recursive: true, force: true });
  return { from, path: configPath, ...(savedCurrent ? { savedCurrent } : {}), journalRemoved };
}

/** For tests and tools: the backup files of a folder, oldest first. */
export async function backupNames(configPath: string): Promise<string[]> {
  const pattern = backupPattern(configPath);
  return (await readdir(backupDirFor(configPath)).catch(() => [] as string[])).filter((n) => pattern.test(n)).sort();
}

function journalHasRecords(dir: string): boolean {
  try {
    return readdirSync(dir).some((name) => name.endsWith('.journal') && statSync(join(dir, name)).size > 0);
  } catch {
    return false;
  }
}

/** Whether two files hold the same bytes, compared a chunk at a time. */
export async function sameBytes(a: string, b: string): Promise<boolean> {
  const [sa, sb] = await Promise.all([stat(a), stat(b)]).catch(() => [undefined, undefined]);
  if (!sa || !sb || sa.size !== sb.size) return false;
  const [fa, fb] = await Promise.all([open(a, 'r'), open(b, 'r')]);
  try {
    const size = Math.min(1 << 20, Math.max(1, sa.size));
    const ba = Buffer.allocUnsafe(size);
    const bb = Buffer.allocUnsafe(size);
    for (let pos = 0; pos < sa.size; ) {
      const [ra, rb] = await Promise.all([fa.read(ba, 0, size, pos), fb.read(bb, 0, size, pos)]);
      if (ra.bytesRead !== rb.bytesRead || ra.bytesRead === 0) return ra.bytesRead === rb.bytesRead && pos === sa.size;
      if (!ba.subarray(0, ra.bytesRead).equals(bb.subarray(0, rb.bytesRead))) return false;
      pos += ra.bytesRead;
    }
    return true;
  } finally {
    await Promise.all([fa.close(), fb.close()]);
  }
}
