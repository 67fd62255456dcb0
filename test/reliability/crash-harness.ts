import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { connect, type BrokerGrpcClient } from '../../src/client/grpcClient.js';
import { BPBROKER, startBroker, type RunningBroker } from '../helpers/broker.js';
import { track } from '../helpers/children.js';
import { call, qs } from '../helpers/https.js';

/**
 * Crash consistency: 64 writers (half legacy HTTPS, half gRPC) change their own keys until the broker is
 * killed with SIGKILL at a random moment; after a restart every key must hold the last acknowledged state
 * of its writer, or the state of the one write that writer still had in flight. Every stored value carries
 * a checksum over all its fields, so a value assembled from two writes (half-applied) is caught as well.
 */

export interface CrashStats {
  cycles: number;
  /** Writes answered with success. */
  acknowledged: number;
  /** Keys whose state after a restart was neither the acknowledged one nor the one write in flight. */
  lost: number;
  /** Values whose checksum, writer or key did not match: a mix of writes or a corrupted value. */
  halfApplied: number;
  /** Writes answered with an error while the broker was up (there should be none). */
  unexpectedErrors: number;
  /** bpbroker.json not parseable right after a kill (it must never be torn). */
  tornConfigFiles: number;
  /** Restarts killed before they were ready (during journal replay and the fold into bpbroker.json). */
  startupKills: number;
  failures: string[];
}

interface KeyState {
  present: boolean;
  seq: number;
}

interface Writer {
  id: number;
  protocol: 'legacy' | 'grpc';
  keys: string[];
  /** What each key holds according to the acknowledged writes. */
  acked: Map<string, KeyState>;
  /** The write sent but not answered when the broker died: its key and the state it would leave. */
  inFlight: { key: string; state: KeyState } | undefined;
  seq: number;
}

const KEYS_PER_WRITER = 3;
const PREFIX = 'crash-';

export function valueFor(writer: number, key: string, seq: number, pad: string): Record<string, unknown> {
  return { w: writer, k: key, seq, pad, sum: crc32(`${writer}|${key}|${seq}|${pad}`) };
}

function checkValue(data: Record<string, unknown>, writer: number, key: string): boolean {
  return (
    data.w === writer &&
    data.k === key &&
    typeof data.seq === 'number' &&
    typeof data.pad === 'string' &&
    data.sum === crc32(`${writer}|${key}|${data.seq}|${data.pad}`)
  );
}

function randomPad(rand: () => number): string {
  // Sizes vary so records straddle write and page boundaries differently from cycle to cycle.
  const n = Math.floor(rand() * 400);
  return 'x'.repeat(n) + rand().toString(36).slice(2);
}

type Op = 'Register' | 'Replace' | 'Update' | 'Delete';

/** One write over the writer's protocol; resolves to 'ok', 'error' (an answer other than success) or 'dead'. */
async function send(w: Writer, port: number, grpc: BrokerGrpcClient | undefined, agent: Agent | undefined, op: Op, key: string, data: string): Promise<'ok' | 'error' | 'dead'> {
  try {
    if (w.protocol === 'legacy') {
      const params: Record<string, string> = { name: key };
      if (op !== 'Delete') params.data = data;
      const r = await call(port, `/services/${op}/?${qs(params)}`, { agent });
      return r.status === 200 && r.json?.success === true ? 'ok' : 'error';
    }
    const g = grpc!;
    if (op === 'Register') await g.register(key, data);
    else if (op === 'Replace') await g.replace(key, data);
    else if (op === 'Update') await g.update(key, data);
    else await g.delete(key);
    return 'ok';
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    // A transport failure (connection reset or refused, UNAVAILABLE, CANCELLED): the broker went away.
    if (typeof code === 'string' || code === 14 || code === 1 || code === 4) return 'dead';
    return 'error';
  }
}

/** Writes until `stop()` says so or the broker dies; at most one write in flight per writer. */
async function runWriter(w: Writer, port: number, stopped: () => boolean, rand: () => number, stats: CrashStats): Promise<void> {
  const grpc = w.protocol === 'grpc' ? connect(`127.0.0.1:${port}`, { insecureSkipVerify: true, deadlineMs: 5000 }) : undefined;
  const agent = w.protocol === 'legacy' ? new Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false }) : undefined;
  try {
    while (!stopped()) {
      const key = w.keys[Math.floor(rand() * w.keys.length)]!;
      const cur = w.acked.get(key)!;
      const r = rand();
      const op: Op = !cur.present ? (r < 0.5 ? 'Register' : 'Update') : r < 0.45 ? 'Replace' : r < 0.9 ? 'Update' : 'Delete';
      const seq = ++w.seq;
      const next: KeyState = op === 'Delete' ? { present: false, seq: 0 } : { present: true, seq };
      const data = op === 'Delete' ? '' : JSON.stringify(valueFor(w.id, key, seq, randomPad(rand)));
      w.inFlight = { key, state: next };
      const outcome = await send(w, port, grpc, agent, op, key, data);
      if (outcome === 'ok') {
        w.acked.set(key, next);
        w.inFlight = undefined;
        stats.acknowledged++;
      } else if (outcome === 'dead' || stopped()) {
        return; // unanswered: the write stays in flight, either outcome is allowed
      } else {
        stats.unexpectedErrors++;
        stats.failures.push(`writer ${w.id}: ${op} ${key} answered an error while the broker was up`);
        w.inFlight = undefined;
        return;
      }
    }
  } finally {
    grpc?.close();
    agent?.destroy();
  }
}

/** Reads every key back and checks it against the writers' models; then the models adopt what was found. */
async function verify(broker: RunningBroker, writers: Writer[], stats: CrashStats): Promise<void> {
  const client = connect(`127.0.0.1:${broker.port}`, { insecureSkipVerify: true, deadlineMs: 10_000 });
  const found = new Map<string, Record<string, unknown>>();
  try {
    for await (const e of client.listAll(PREFIX, { pageSize: 1000 })) found.set(e.name, JSON.parse(e.json) as Record<string, unknown>);
  } finally {
    client.close();
  }
  const known = new Set<string>();
  for (const w of writers) {
    for (const key of w.keys) {
      known.add(key);
      const data = found.get(key);
      const seen: KeyState = data ? { present: true, seq: data.seq as number } : { present: false, seq: 0 };
      if (data && !checkValue(data, w.id, key)) {
        stats.halfApplied++;
        stats.failures.push(`${key}: value does not match its checksum: ${JSON.stringify(data).slice(0, 200)}`);
      }
      const acked = w.acked.get(key)!;
      const same = (a: KeyState, b: KeyState) => a.present === b.present && (!a.present || a.seq === b.seq);
      const ok = same(seen, acked) || (w.inFlight?.key === key && same(seen, w.inFlight.state));
      if (!ok) {
        stats.lost++;
        stats.failures.push(`${key}: expected ${JSON.stringify(acked)}${w.inFlight?.key === key ? ` or ${JSON.stringify(w.inFlight.state)}` : ''}, found ${JSON.stringify(seen)}`);
      }
      w.acked.set(key, seen);
    }
    w.inFlight = undefined;
  }
  for (const name of found.keys()) {
    if (!known.has(name)) {
      stats.halfApplied++;
      stats.failures.push(`${name}: an entry no writer wrote`);
    }
  }
}

/** A small deterministic PRNG (mulberry32), so a failing run can be repeated from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Starts the broker and kills it after `ms`, ready or not. */
async function killDuringStartup(home: string, ms: number): Promise<void> {
  const proc = track(
    spawn(process.execPath, [BPBROKER, 'start', '--port', '0', '--listen-ip', '127.0.0.1', '--log-level', 'warn'], {
      env: { ...process.env, BPBROKER_HOME: home },
      stdio: 'ignore',
    }),
  );
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  await new Promise((r) => setTimeout(r, ms)); // the random moment of the kill is what is under test, not a wait
  proc.kill('SIGKILL');
  await exited;
}

export interface CrashOptions {
  /** The broker's home; its bpbroker.json may put the registry on etcd (the checks are the same). */
  home: string;
  cycles: number;
  writers?: number;
  /** The kill comes this long after the writers start: a random time in [min, max] ms. */
  killAfterMs?: [number, number];
  seed?: number;
  onCycle?: (cycle: number, stats: CrashStats) => void;
}

export async function runCrashCycles(opts: CrashOptions): Promise<CrashStats> {
  const rand = prng(opts.seed ?? Date.now());
  const [minKill, maxKill] = opts.killAfterMs ?? [50, 1200];
  const stats: CrashStats = { cycles: 0, acknowledged: 0, lost: 0, halfApplied: 0, unexpectedErrors: 0, tornConfigFiles: 0, startupKills: 0, failures: [] };
  const writers: Writer[] = Array.from({ length: opts.writers ?? 64 }, (_, id) => ({
    id,
    protocol: id % 2 === 0 ? 'legacy' : 'grpc',
    keys: Array.from({ length: KEYS_PER_WRITER }, (_, k) => `${PREFIX}${id}-${k}`),
    acked: new Map(Array.from({ length: KEYS_PER_WRITER }, (_, k) => [`${PREFIX}${id}-${k}`, { present: false, seq: 0 }])),
    inFlight: undefined,
    seq: 0,
  }));
  for (let cycle = 1; cycle <= opts.cycles; cycle++) {
    const broker = await startBroker({ home: opts.home });
    let killed = false;
    const running = writers.map((w) => runWriter(w, broker.port, () => killed, rand, stats));
    // The writers run for a random time: the kill lands at an arbitrary point of their writes (what is tested).
    await new Promise((r) => setTimeout(r, minKill + rand() * (maxKill - minKill)));
    killed = true;
    await broker.stop('SIGKILL');
    await Promise.all(running);
    try {
      JSON.parse(readFileSync(join(opts.home, 'etc', 'bpbroker.json'), 'utf8'));
    } catch (err) {
      // Absent is fine only before the first snapshot; start writes the file before it is ready.
      stats.tornConfigFiles++;
      stats.failures.push(`cycle ${cycle}: bpbroker.json unreadable after SIGKILL: ${(err as Error).message}`);
    }
    // Now and then the recovery itself is interrupted: killed while it replays and folds the journal.
    if (rand() < 0.3) {
      await killDuringStartup(opts.home, 20 + rand() * 400);
      stats.startupKills++;
    }
    const restarted = await startBroker({ home: opts.home });
    try {
      await verify(restarted, writers, stats);
    } finally {
      await restarted.stop('SIGKILL');
    }
    stats.cycles = cycle;
    opts.onCycle?.(cycle, stats);
  }
  return stats;
}
