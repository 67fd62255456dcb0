// Child processes the bench drives: the real broker, the bare baselines and etcd. Each runs in its own
// process so that a server never shares an event loop with the load generator.
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BPBROKER = join(ROOT, 'bin/bpbroker.js');
const homes = [];

/** A fresh home folder under the system temp dir (same disk as any other temp data, e.g. etcd's). */
export function tempHome(prefix = 'bpbroker-bench-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  homes.push(dir);
  return dir;
}

export function cleanupHomes() {
  for (const dir of homes.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Copies a certificate pair into a home so the broker does not generate one (start-up measures the broker, not keygen). */
export function seedCertificate(home, cert) {
  mkdirSync(join(home, 'etc'), { recursive: true });
  copyFileSync(cert.certPath, join(home, 'etc/bpbroker.crt'));
  copyFileSync(cert.keyPath, join(home, 'etc/bpbroker.key'));
}

export function certificateOf(home) {
  const certPath = join(home, 'etc/bpbroker.crt');
  const keyPath = join(home, 'etc/bpbroker.key');
  return { certPath, keyPath, cert: readFileSync(certPath), key: readFileSync(keyPath) };
}

/** Resident and peak memory of a process in MB, from /proc (Linux). */
export function memoryOf(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
    return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
  } catch {
    return { rssMb: NaN, peakMb: NaN };
  }
}

/** CPU time (user + system) a process has used so far, in ms, from /proc (Linux; clock ticks of 10 ms). */
export function cpuOf(pid) {
  try {
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

/** The state letter of a process from /proc (R running, S sleeping, T stopped, ...). */
export function stateOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1][0];
  } catch {
    return undefined;
  }
}

/** Bytes received by a process's TCP sockets that it has not read yet (rx_queue in /proc/net/tcp{,6}). */
export function unreadBytesOf(pid) {
  const inodes = new Set();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`, { encoding: 'utf8' }));
    if (m) inodes.add(m[1]);
  }
  let bytes = 0;
  for (const table of ['tcp', 'tcp6']) {
    for (const row of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
      const f = row.trim().split(/\s+/);
      if (f.length > 9 && inodes.has(f[9])) bytes += Number.parseInt(f[4].split(':')[1], 16);
    }
  }
  return bytes;
}

/**
 * Spawns a process and resolves once `ready` matches its stdout (or stderr), with the match and the time
 * from spawn to ready. Rejects if it exits first or takes longer than `timeoutMs`.
 */
export function spawnReady(cmd, args, { env, ready, timeoutMs = 30_000, cwd } = {}) {
  const t0 = process.hrtime.bigint();
  const proc = spawn(cmd, args, { env: { ...process.env, ...env }, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal)));
  const started = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${cmd} did not get ready in ${timeoutMs} ms: ${err.slice(-2000)}`));
    }, timeoutMs);
    const check = () => {
      const m = ready.exec(out) ?? ready.exec(err);
      if (!m) return;
      clearTimeout(timer);
      resolve({ match: m, readyMs: Number(process.hrtime.bigint() - t0) / 1e6 });
    };
    proc.stdout.on('data', (d) => {
      out += d;
      check();
    });
    proc.stderr.on('data', (d) => {
      // etcd logs a lot: keep only the tail.
      err = (err + d).slice(-20_000);
      check();
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} exited with ${code} before it was ready: ${err.slice(-2000)}`));
    });
  });
  return started.then(({ match, readyMs }) => ({
    proc,
    match,
    readyMs,
    pid: proc.pid,
    stderr: () => err,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  }));
}

/** Starts the real broker (`bpbroker start`) on 127.0.0.1 and a free port. */
export async function startBroker(home, { nodeArgs = [], env = {} } = {}) {
  const p = await spawnReady(process.execPath, [...nodeArgs, BPBROKER, 'start', '--port', '0', '--listen-ip', '127.0.0.1', '--log-level', 'warn'], {
    env: { BPBROKER_HOME: home, ...env },
    ready: /bpbroker ready on port (\d+)/,
  });
  return { ...p, port: Number(p.match[1]), home };
}

/** Starts one of the bench's bare servers (bench/bare-*.mjs), which print `listening N`. */
export async function startBare(script, env) {
  const p = await spawnReady(process.execPath, [join(ROOT, 'bench', script)], { env, ready: /listening (\d+)/ });
  return { ...p, port: Number(p.match[1]) };
}
