import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KitAnswer } from './loadExtension.js';

/** The package's CLI, beside dist/ (this file is dist/src/testing/startBroker.js). */
const BPBROKER = fileURLToPath(new URL('../../../bin/bpbroker.js', import.meta.url));

export interface TestBrokerOptions {
  /** Extensions folders served and reloaded on change (`start --watch`). */
  extensions?: string | string[];
  /**
   * Configuration sections written to bpbroker.json before the start: one per extension to enable
   * (`{ inventory: {} }`, with `_access_key` or `_timeout_secs` if wanted), and any broker settings.
   */
  config?: Record<string, Record<string, unknown>>;
  /** Log level of the broker's output (default warn). */
  logLevel?: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  /** How long the start may take (default 20 s). */
  readyTimeoutMs?: number;
}

export interface CallOptions {
  /** The namespace's access key, sent as the `access_key` parameter. */
  accessKey?: string;
  /** GET, POST (default) or DELETE. */
  httpMethod?: string;
  headers?: Record<string, string>;
}

export interface TestBroker {
  port: number;
  /** `https://127.0.0.1:PORT` (a self-signed certificate: clients must not verify it). */
  url: string;
  /** Its BPBROKER_HOME, a temporary folder removed by stop(). */
  home: string;
  /** Calls `ns.Method` over HTTPS with the parameters in the query string, as the old clients do. */
  call(target: string, params?: Record<string, string>, opts?: CallOptions): Promise<KitAnswer>;
  stdout(): string;
  stderr(): string;
  /** Stops it (SIGTERM: it saves its registry), waits for its exit and removes its home. Resolves to its exit code. */
  stop(): Promise<number | null>;
}

/** Starts a real broker (a child process) on 127.0.0.1 and a free port, in a fresh home; resolves once it is ready. */
export async function startBroker(opts: TestBrokerOptions = {}): Promise<TestBroker> {
  const home = mkdtempSync(join(tmpdir(), 'bpbroker-kit-home-'));
  mkdirSync(join(home, 'etc'), { recursive: true });
  writeFileSync(join(home, 'etc', 'bpbroker.json'), `${JSON.stringify(opts.config ?? {}, null, 2)}\n`);
  const dirs = opts.extensions === undefined ? [] : Array.isArray(opts.extensions) ? opts.extensions : [opts.extensions];
  const args = [BPBROKER, 'start', '--port', '0', '--listen-ip', '127.0.0.1', '--log-level', opts.logLevel ?? 'warn'];
  for (const d of dirs) args.push('--watch', resolve(d));
  const proc = spawn(process.execPath, args, { env: { ...process.env, BPBROKER_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  let port: number;
  try {
    port = await new Promise<number>((resolvePort, reject) => {
      const timer = setTimeout(() => reject(new Error(`the broker did not start within ${opts.readyTimeoutMs ?? 20_000} ms: ${err}`)), opts.readyTimeoutMs ?? 20_000);
      proc.stdout.on('data', () => {
        const m = /ready on port (\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolvePort(Number(m[1]));
        }
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`the broker exited with ${code}: ${err}`));
      });
    });
  } catch (e) {
    proc.kill('SIGKILL');
    await exited;
    rmSync(home, { recursive: true, force: true });
    throw e;
  }
  const agent = new Agent({ keepAlive: true, rejectUnauthorized: false });
  return {
    port,
    url: `https://127.0.0.1:${port}`,
    home,
    call: (target, params = {}, o = {}) => httpsCall(agent, port, target, params, o),
    stdout: () => out,
    stderr: () => err,
    async stop() {
      agent.destroy();
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const code = await exited;
      rmSync(home, { recursive: true, force: true });
      return code;
    },
  };
}

function httpsCall(agent: Agent, port: number, target: string, params: Record<string, string>, o: CallOptions): Promise<KitAnswer> {
  const dot = target.indexOf('.');
  if (dot <= 0) return Promise.reject(new Error(`name the method as namespace.Method, not ${target}`));
  const query = new URLSearchParams({ ...params, ...(o.accessKey !== undefined ? { access_key: o.accessKey } : {}) }).toString();
  const path = `/${target.slice(0, dot)}/${target.slice(dot + 1)}/${query ? `?${query}` : ''}`;
  return new Promise((resolveAnswer, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: o.httpMethod ?? 'POST', headers: o.headers, agent, rejectUnauthorized: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const bytes = Buffer.concat(chunks);
        const body = bytes.toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(body);
        } catch {
          json = undefined;
        }
        const headers: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = v;
        resolveAnswer({ status: res.statusCode ?? 0, reason: Buffer.from(res.statusMessage ?? '', 'latin1').toString('utf8'), headers, body, bytes, json });
      });
    });
    req.on('error', reject);
    req.end();
  });
}
