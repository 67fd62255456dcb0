import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { track } from './children.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BPBROKER = join(ROOT, 'bin/bpbroker.js');
export const BPCLIENT = join(ROOT, 'bin/bpclient.js');

export function tempDir(prefix = 'bpbroker-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface RunningBroker {
  port: number;
  home: string;
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Sends a signal and resolves to the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts the real broker as a child process on 127.0.0.1 and a free port; resolves once it is ready. */
export async function startBroker(
  opts: { home?: string; args?: string[]; env?: NodeJS.ProcessEnv; listenIp?: string; readyTimeoutMs?: number; /** Default: a free one. */ port?: number } = {},
): Promise<RunningBroker> {
  const home = opts.home ?? tempDir();
  const proc = spawn(process.execPath, [BPBROKER, 'start', '--port', String(opts.port ?? 0), '--listen-ip', opts.listenIp ?? '127.0.0.1', ...(opts.args?.includes('--log-level') ? [] : ['--log-level', 'warn']), ...(opts.args ?? [])], {
    env: { ...process.env, BPBROKER_HOME: home, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(proc);
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL'); // not left running after the test gave up on it
      reject(new Error(`broker did not start: ${err}`));
    }, opts.readyTimeoutMs ?? 20_000);
    const check = (): void => {
      const m = /ready on port (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    proc.stdout!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`broker exited with ${code}: ${err}`));
    });
  });
  return {
    port,
    home,
    proc,
    stdout: () => out,
    stderr: () => err,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

/** Runs a CLI to completion. */
export function runCli(
  bin: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; /** Run as this user and group (the test must run as root). */ uid?: number; gid?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const ids = opts.uid === undefined ? {} : { uid: opts.uid, gid: opts.gid ?? opts.uid };
    const proc = track(spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'], ...ids }));
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.on('error', reject);
    proc.on('close', (code) => resolve({ code, stdout, stderr }));
    proc.stdin.end(opts.input ?? '');
  });
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** One line of the broker's log (JSON lines on stderr when it is not a terminal). */
export type LogLine = Record<string, unknown> & { level: string; time: string; msg: string };

/** The log lines in a broker's stderr; other lines (an extension's console output, `Fatal error:`) are skipped. */
export function logLines(stderr: string): LogLine[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}
