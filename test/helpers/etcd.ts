import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { track } from './children.js';

/** Debian's etcd-server package (3.4); `.ci/run` installs it. */
export const ETCD_BIN = '/usr/bin/etcd';

export interface EtcdTls {
  /** etcd's server certificate and key (PEM files). */
  certFile: string;
  keyFile: string;
  /**
   * When set, etcd requires client certificates signed by `caFile`; the harness's own health probes present
   * `certFile`/`keyFile`.
   */
  clientAuth?: { caFile: string; certFile: string; keyFile: string };
}

export interface EtcdMember {
  readonly name: string;
  /** `http://127.0.0.1:PORT`, or https with TLS. */
  readonly clientUrl: string;
  readonly running: boolean;
  /** SIGKILL, and wait until the process is gone. */
  kill(): Promise<void>;
  /** Start again on the same ports and data; resolves once the member serves clients (needs a quorum running). */
  start(): Promise<void>;
  /** SIGSTOP: the member keeps its connections but answers nothing, as behind a network partition. */
  freeze(): void;
  /** SIGCONT after freeze(). */
  thaw(): void;
}

export interface EtcdCluster {
  readonly members: EtcdMember[];
  readonly endpoints: string[];
  /** The member that is raft leader now (from its /metrics). */
  leader(): Promise<EtcdMember>;
  /** Kills every member and removes their data. */
  stop(): Promise<void>;
}

/**
 * Real etcd processes on free loopback ports, data in a temporary folder: one member, or a cluster of three.
 * Fails (never skips) when etcd is not installed.
 */
export async function startEtcd(opts: { members?: 1 | 3; tls?: EtcdTls } = {}): Promise<EtcdCluster> {
  try {
    accessSync(ETCD_BIN, constants.X_OK);
  } catch {
    throw new Error(`${ETCD_BIN} is missing: install Debian's etcd-server package (.ci/run does)`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'bpbroker-etcd-'));
  const count = opts.members ?? 1;
  const scheme = opts.tls ? 'https' : 'http';
  const ports = await Promise.all(Array.from({ length: count * 2 }, freePort));
  const specs = Array.from({ length: count }, (_, i) => ({
    name: `m${i}`,
    client: `${scheme}://127.0.0.1:${ports[2 * i]}`,
    peer: `http://127.0.0.1:${ports[2 * i + 1]}`,
  }));
  const initialCluster = specs.map((s) => `${s.name}=${s.peer}`).join(',');
  const members = specs.map((s) => new Member(s.name, s.client, s.peer, join(dir, s.name), initialCluster, opts.tls));
  try {
    await Promise.all(members.map((m) => m.start()));
  } catch (err) {
    await Promise.all(members.map((m) => m.kill()));
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    members,
    endpoints: members.map((m) => m.clientUrl),
    async leader() {
      for (const m of members) {
        if (m.running && (await m.isLeader())) return m;
      }
      throw new Error('no etcd member is leader');
    },
    async stop() {
      await Promise.all(members.map((m) => m.kill()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

class Member implements EtcdMember {
  private proc: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    readonly clientUrl: string,
    private readonly peerUrl: string,
    private readonly dataDir: string,
    private readonly initialCluster: string,
    private readonly tls: EtcdTls | undefined,
  ) {}

  get running(): boolean {
    return this.proc !== undefined;
  }

  start(): Promise<void> {
    if (this.proc) throw new Error(`etcd ${this.name} is running`);
    const tlsArgs = this.tls
      ? ['--cert-file', this.tls.certFile, '--key-file', this.tls.keyFile, ...(this.tls.clientAuth ? ['--client-cert-auth', '--trusted-ca-file', this.tls.clientAuth.caFile] : [])]
      : [];
    const args = [
      '--name', this.name,
      '--data-dir', this.dataDir,
      '--listen-client-urls', this.clientUrl,
      '--advertise-client-urls', this.clientUrl,
      '--listen-peer-urls', this.peerUrl,
      '--initial-advertise-peer-urls', this.peerUrl,
      '--initial-cluster', this.initialCluster,
      '--initial-cluster-state', 'new',
      '--logger', 'zap',
      '--log-level', 'warn',
      ...tlsArgs,
    ];
    const proc = track(spawn(ETCD_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] }));
    this.proc = proc;
    let log = '';
    proc.stderr!.on('data', (d: Buffer) => {
      log = (log + d.toString()).slice(-4000);
    });
    this.exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    void this.exited.then(() => {
      if (this.proc === proc) this.proc = undefined;
    });
    return this.waitReady(proc, () => log);
  }

  async kill(): Promise<void> {
    this.proc?.kill('SIGKILL');
    await this.exited;
  }

  freeze(): void {
    const pid = this.proc?.pid;
    if (pid === undefined || !this.proc?.kill('SIGSTOP')) throw new Error(`etcd ${this.name} is not running`);
    // kill() returns before every thread has stopped: one running on another core could still answer a call
    // sent right after. Wait until all of them are stopped (state T).
    const stopped = (): boolean =>
      readdirSync(`/proc/${pid}/task`).every((t) => {
        try {
          return readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8').replace(/^.*\) /s, '').startsWith('T');
        } catch {
          return true; // the thread has exited
        }
      });
    const until = Date.now() + 5_000;
    while (!stopped()) if (Date.now() > until) throw new Error(`etcd ${this.name} did not stop on SIGSTOP`);
  }

  thaw(): void {
    if (!this.proc?.kill('SIGCONT')) throw new Error(`etcd ${this.name} is not running`);
  }

  /** etcd_server_is_leader from /metrics (served on the client URL, over TLS too). */
  async isLeader(): Promise<boolean> {
    const text = await this.httpGet('/metrics');
    return /^etcd_server_is_leader 1$/m.test(text);
  }

  /** Ready when /health says so: the member has joined a cluster with a leader. */
  private async waitReady(proc: ChildProcess, log: () => string): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (this.proc !== proc) throw new Error(`etcd ${this.name} exited while starting:\n${log()}`);
      const health = await this.httpGet('/health').catch(() => '');
      if (/"health":\s*"true"/.test(health)) return;
      if (Date.now() > deadline) throw new Error(`etcd ${this.name} not healthy within 30 s:\n${log()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private httpGet(path: string): Promise<string> {
    const url = new URL(path, this.clientUrl);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const client = this.tls?.clientAuth;
    const cert = client ? { cert: readFileSync(client.certFile), key: readFileSync(client.keyFile) } : {};
    return new Promise<string>((resolve, reject) => {
      // A probe, not a test of TLS: any certificate will do.
      const req = request(url, { rejectUnauthorized: false, timeout: 2_000, ...cert }, (res: IncomingMessage) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(body));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end();
    });
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}
