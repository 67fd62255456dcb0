import { spawn, type ChildProcess } from 'node:child_process';
import { BPBROKER, BPCLIENT, runCli } from '../helpers/broker.js';
import { track } from '../helpers/children.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs bpclient with a clean environment: no BPBROKER unless given. */
export function bpclient(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return runCli(BPCLIENT, args, { env: { BPBROKER: undefined, ...env } });
}

export function bpbroker(args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Promise<CliResult> {
  return runCli(BPBROKER, args, { env, ...(input !== undefined ? { input } : {}) });
}

/** `last_write_ts` changes with the clock: tests compare the rest. */
export function stampsAsTs(text: string): string {
  return text.replace(/"last_write_ts": \d+/g, '"last_write_ts": TS').replace(/(127\.0\.0\.1),\d{9,}/g, '$1,TS');
}

export interface LiveCli {
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Lines printed so far on stdout. */
  lines(): string[];
  /** Resolves to the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
}

/** Starts bpclient and leaves it running (for watch and keepalive --every); a clean environment, as bpclient(). */
export function spawnBpclient(args: string[], env: NodeJS.ProcessEnv = {}): LiveCli {
  const proc = track(spawn(process.execPath, [BPCLIENT, ...args], { env: { ...process.env, BPBROKER: undefined, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('close', (code) => resolve(code)));
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    lines: () => out.split('\n').filter((l) => l !== ''),
    exited,
  };
}

/** The revision a `--raw` entry answer reports. */
export function revisionOf(raw: string): number {
  const m = /"revision": (\d+)/.exec(raw);
  if (!m) throw new Error(`no revision in ${raw}`);
  return Number(m[1]);
}
