import { isAbsolute, relative, resolve } from 'node:path';
import type { Command } from '@oclif/core';
import { ConfigError } from '../config/ConfigError.js';
import { BrokerError } from '../core/BrokerError.js';
import { JournalCorruptError } from '../store/embedded/Journal.js';

/** Known failures print as the old tools did, `Fatal error: MESSAGE` on stderr, exit 1; never a stack. */
export function fatal(cmd: Command, message: string): never {
  process.stderr.write(`Fatal error: ${message}\n`);
  return cmd.exit(1);
}

/** The message to show for an error, or undefined when it is a bug (then oclif shows it in full). */
export function userMessage(err: unknown): string | undefined {
  if (err instanceof ConfigError || err instanceof BrokerError || err instanceof JournalCorruptError) return err.message;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  if (code === 'EADDRINUSE') return `Port ${e.port ?? ''} is already in use on ${e.address || 'this host'} (is another broker running?)`;
  if (code === 'EACCES' || code === 'EPERM') return `Permission denied: ${e.message}`;
  if (code === 'EADDRNOTAVAIL') return `Address ${e.address ?? ''} is not an address of this host`;
  if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') return e.message;
  if (code === 'ENOSPC' || code === 'EDQUOT') return `Storage is full (${e.message}); free some space and start again`;
  return undefined;
}

/** File-system failures, which a different installation folder may avoid. */
const FILE_ERRORS = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOENT', 'ENOTDIR', 'EISDIR']);

/** `(home DIR: choose another with ...)` when `err` is a file-system failure under `home`, else ''. */
export function homeHint(err: unknown, home: string): string {
  const e = err as NodeJS.ErrnoException | undefined;
  if (!e?.code || !FILE_ERRORS.has(e.code) || typeof e.path !== 'string') return '';
  const rel = relative(home, resolve(e.path));
  if (rel.startsWith('..') || isAbsolute(rel)) return '';
  return ` (home ${home}: choose another with --home DIR or BPBROKER_HOME=DIR)`;
}

/**
 * A bpbroker command's known failure as `Fatal error: MESSAGE`, exit 1; a file-system failure in its
 * installation folder also says which folder that was and how to choose another. Anything else is rethrown.
 */
export function brokerFailure(cmd: Command, err: unknown, home: string): never {
  const message = userMessage(err);
  if (message === undefined) throw err;
  return fatal(cmd, message + homeHint(err, home));
}
