import { createHash, randomUUID } from 'node:crypto';
import { linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ConfigError } from './ConfigError.js';
import { lockPathFor } from './paths.js';
import { heldTokens, isLive, parseLockRecord, thisProcess, type LockRecord } from './processIdentity.js';

/** Who holds a configuration file: the broker while it runs, or a command that rewrites the file. */
export type LockPurpose = 'broker' | 'configure' | 'restore' | 'registry export' | 'registry import';

/** A lock this process holds; `release` removes the file unless it is no longer ours. */
export interface HeldLock {
  /** The configuration file it guards. */
  readonly configPath: string;
  release(): void;
}

/** Refused because a live process holds the file. */
export class LockHeldError extends ConfigError {
  constructor(
    readonly holder: LockRecord,
    configPath: string,
    purpose: LockPurpose,
  ) {
    super(
      holder.purpose === undefined || holder.purpose === 'broker'
        ? `${purpose === 'broker' ? 'Another broker' : 'A broker'} (pid ${holder.pid}) is running with ${configPath}. Stop it first${purpose === 'broker' ? '' : ' (e.g. systemctl stop bpbroker), then try again'}.`
        : `bpbroker ${holder.purpose} (pid ${holder.pid}) is working on ${configPath}. Try again once it has finished.`,
    );
  }
}

/** The pid of the live process holding this configuration file, if any (a broker, or configure or restore). */
export function lockHolder(configPath: string): number | undefined {
  const rec = readRecord(lockPathFor(configPath))?.rec;
  return rec && isLive(rec) ? rec.pid : undefined;
}

/** How long a starter waits for another one that is taking a stale lock over (a few file operations). */
const TAKEOVER_WAIT_MS = 10_000;
/** Takeover files of takeover files, for a starter that died while taking a stale lock over. */
const MAX_TAKEOVER_DEPTH = 4;

/**
 * Takes the lock on a configuration file, or throws LockHeldError naming the live holder. A lock left by a
 * process that is gone (crash, reboot, a pid now used by another program) is taken over, race-free: exactly one
 * of the starters that find the same stale lock replaces it, and no starter ever removes a lock it did not judge.
 */
export async function acquireLock(configPath: string, purpose: LockPurpose): Promise<HeldLock> {
  const lock = lockPathFor(configPath);
  const token = randomUUID();
  const text = `${JSON.stringify({ ...thisProcess(), token, purpose })}\n`;
  const deadline = Date.now() + TAKEOVER_WAIT_MS;
  heldTokens.add(token); // while taking it too: a takeover file of ours is held, not stale
  try {
    for (;;) {
      const outcome = claim(lock, text, 0);
      if (outcome === 'acquired') break;
      if (outcome !== 'wait') throw new LockHeldError(outcome, configPath, purpose);
      if (Date.now() > deadline) throw new ConfigError(`Cannot take the lock ${lock}: another process keeps taking it over. Try again.`);
      await new Promise((r) => setTimeout(r, 10));
    }
  } catch (err) {
    heldTokens.delete(token);
    throw err;
  }
  return {
    configPath,
    release: () => {
      removeIfOurs(lock, text);
      heldTokens.delete(token);
    },
  };
}

/**
 * One attempt at `file`: 'acquired', the live holder, or 'wait' while another starter takes a stale lock over.
 * A stale lock is replaced only by the winner of its takeover file, named after the stale content: only that
 * winner can change the lock while it holds that content, so its check and its replace cannot be interleaved.
 */
function claim(file: string, text: string, depth: number): 'acquired' | 'wait' | LockRecord {
  for (;;) {
    if (createWhole(file, text)) return 'acquired';
    const current = readRecord(file);
    if (current === undefined) continue; // released just now: try again
    if (current.rec && isLive(current.rec)) return current.rec;
    if (depth >= MAX_TAKEOVER_DEPTH) throw new ConfigError(`Cannot take the lock ${file}: remove it and its .takeover files if no bpbroker runs.`);
    const guard = `${file}.takeover-${createHash('sha256').update(current.text).digest('hex').slice(0, 16)}`;
    const guarded = claim(guard, text, depth + 1);
    if (guarded !== 'acquired') return 'wait';
    try {
      if (readRecord(file)?.text !== current.text) continue; // someone else finished the takeover
      replaceWhole(file, text);
      return 'acquired';
    } finally {
      removeIfOurs(guard, text);
    }
  }
}

function readRecord(file: string): { text: string; rec: LockRecord | undefined } | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`Cannot read lock file ${file}: ${(err as Error).message}`);
  }
  return { text, rec: parseLockRecord(text) };
}

let tmpSeq = 0;
function writeTemp(file: string, text: string): string {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${++tmpSeq}.tmp`);
  writeFileSync(tmp, text, { mode: 0o600 });
  return tmp;
}

/** Creates `file` holding `text`, appearing whole (never empty to a reader); false when it exists. */
function createWhole(file: string, text: string): boolean {
  let tmp: string;
  try {
    tmp = writeTemp(file, text);
  } catch (err) {
    throw new ConfigError(`Cannot create lock file ${file}: ${(err as Error).message}`);
  }
  try {
    linkSync(tmp, file);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS') throw new ConfigError(`Cannot create lock file ${file}: ${(err as Error).message}`);
    // A file system without hard links: one small exclusive write.
    try {
      writeFileSync(file, text, { flag: 'wx', mode: 0o600 });
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw new ConfigError(`Cannot create lock file ${file}: ${(e as Error).message}`);
    }
  } finally {
    unlinkQuietly(tmp);
  }
}

/** Puts `text` in place of a stale `file` in one rename: the lock never disappears on the way. */
function replaceWhole(file: string, text: string): void {
  const tmp = writeTemp(file, text);
  try {
    renameSync(tmp, file);
  } catch (err) {
    unlinkQuietly(tmp);
    throw new ConfigError(`Cannot replace stale lock file ${file}: ${(err as Error).message}`);
  }
}

function removeIfOurs(file: string, text: string): void {
  if (readRecord(file)?.text === text) unlinkQuietly(file);
}

function unlinkQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    /* already gone */
  }
}
