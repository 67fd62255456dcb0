// The bench's side of bench/fleet.mjs: starts a fleet of clients in a child process and talks to it over IPC.
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, stateOf, unreadBytesOf } from './procs.mjs';

/** The monotonic clock the fleet reads too, in milliseconds. */
export const monotonicMs = () => Number(process.hrtime.bigint()) / 1e6;

/**
 * Starts a fleet (`config.mode`: watch-grpc, watch-https or keep; see bench/fleet.mjs) and resolves once it is
 * in place: every watch has its first message (gRPC) or its first poll sent (HTTPS), or the keeper is ready.
 */
export async function startFleet(config, { timeoutMs = 60_000 } = {}) {
  const proc = fork(join(ROOT, 'bench/fleet.mjs'), [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let err = '';
  proc.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal)));
  const waiting = new Map();
  let nextId = 0;
  let failure;
  proc.on('message', (msg) => {
    if (msg.type === 'reply') {
      waiting.get(msg.id)?.resolve(msg);
      waiting.delete(msg.id);
    } else if (msg.type === 'failed') failure = msg.message;
  });
  const failed = (why) => new Error(`fleet (${config.mode}) ${why}: ${failure ?? err.slice(-2000)}`);
  void exited.then((code) => {
    for (const w of waiting.values()) w.reject(failed(`exited with ${code}`));
    waiting.clear();
  });
  const ask = (msg) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { resolve, reject });
      proc.send({ ...msg, id });
    });

  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(failed(`not ready in ${timeoutMs} ms`)), timeoutMs);
    proc.on('message', (msg) => {
      if (msg.type === 'ready') {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(failed(`exited with ${code} before it was ready`));
    });
    proc.send({ type: 'start', config });
  });

  return {
    pid: proc.pid,
    /** Waits until every watcher has the event of `revision`: when each got it, in ms after `ack` (monotonicMs; < 0: before). */
    delivery: (revision, ack, timeoutMs = 10_000) => ask({ type: 'await', revision, ack, timeoutMs }),
    /** Counters so far, and the process's CPU time (cpuMs). */
    stats: () => ask({ type: 'stats' }),
    /** Keepers: renew (or stop renewing). */
    keep: (on) => ask({ type: 'keep', on }),
    /** The process stops dead: its connections stay open and nothing on them is read any more. */
    async freeze() {
      proc.kill('SIGSTOP');
      const t0 = performance.now();
      while (stateOf(proc.pid) !== 'T') {
        if (performance.now() - t0 > 5000) throw failed(`not stopped by SIGSTOP (state ${stateOf(proc.pid)})`);
        await new Promise((resolve) => setImmediate(resolve));
      }
    },
    /** Bytes that arrived on its sockets and were not read (of a stopped fleet: everything sent since it stopped, up to the buffers). */
    unreadBytes: () => unreadBytesOf(proc.pid),
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGCONT');
      if (proc.connected) proc.send({ type: 'stop' });
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
    async kill() {
      proc.kill('SIGKILL');
      await exited;
    },
  };
}
