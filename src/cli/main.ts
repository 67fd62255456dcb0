import { Errors, flush, run } from '@oclif/core';
import { userMessage } from './fatal.js';

/**
 * Runs an oclif CLI (bin/bpbroker.js, bin/bpclient.js) with one error report for every failure, oclif's own
 * included: `Fatal error: MESSAGE` on stderr, never a stack (set DEBUG=1 to see one). Exit status 2 for a
 * command line that cannot be parsed (unknown command or flag, missing or invalid value), as oclif exits;
 * 1 for every other failure; whatever a command chose with `exit(N)`.
 */
export async function main(dir: string, args: string[]): Promise<void> {
  try {
    await run(args, dir);
    // As oclif's execute does: not awaited, since a reader that is slow to drain stdout is no failure.
    flush().catch(() => undefined);
  } catch (err) {
    process.exit(report(err));
  }
}

/** Prints `err` as the CLIs print failures and returns the exit status. */
export function report(err: unknown): number {
  if (err instanceof Errors.ExitError) return err.oclif.exit ?? 1;
  const e = err as (Error & { oclif?: { exit?: number } }) | undefined;
  const message = userMessage(err) ?? oneLine(e?.message || String(err));
  process.stderr.write(`Fatal error: ${message}\n`);
  if (process.env.DEBUG && e?.stack) process.stderr.write(`${e.stack}\n`);
  // oclif's own errors carry their exit status (2 for the command line); anything else is a failure.
  return e instanceof Errors.CLIError ? (e.oclif?.exit ?? 1) : 1;
}

/** oclif's messages span lines (`Parsing --port \n\tExpected an integer...\nSee more help with --help`): one line. */
function oneLine(message: string): string {
  const unknownOption = /^command (-\S*) not found$/.exec(message);
  if (unknownOption) return `Unknown option ${unknownOption[1]} (see --help)`; // a flag before the command
  const lines = message
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^The following errors? occurred:$/.test(l));
  const help = lines.findIndex((l) => /^See more help with --help$/.test(l));
  if (help >= 0) lines.splice(help, 1);
  // `Missing 1 required arg:` is followed by `name  Its description`: read as `...arg: name (Its description)`.
  const joined = lines
    .map((l, i) => (i > 0 && lines[i - 1]!.endsWith(':') ? l.replace(/^(\S+)\s{2,}(.+)$/, '$1 ($2)') : l))
    .reduce((text, l) => (text === '' ? l : `${text}${text.endsWith(':') ? ' ' : ': '}${l}`), '');
  return joined + (help >= 0 ? ' (see --help)' : '');
}
