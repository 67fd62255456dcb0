/**
 * The README's coordination examples, run as written (only the broker's address changes) in real shells with
 * the real bpclient on PATH: the leader election elects exactly one master and, once it is killed, exactly one
 * other takes over when its lease runs out; the "wait until the manager registers" one-liner waits, then ends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BPCLIENT, ROOT, removeDir, startBroker, tempDir, type RunningBroker } from '../helpers/broker.js';
import { call } from '../helpers/https.js';
import { waitFor } from '../helpers/wait.js';
import { metricValue } from '../operations/metricsText.js';

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The first ```sh block after `marker` in the README. */
function example(marker: string): string {
  const at = README.indexOf(marker);
  if (at < 0) throw new Error(`README has no "${marker}"`);
  const m = /```sh\n([\s\S]*?)```/.exec(README.slice(at));
  if (!m) throw new Error(`README has no sh block after "${marker}"`);
  return m[1]!;
}

let broker: RunningBroker;
let address: string;
const bin = tempDir('bpbroker-path-');
const shells: Shell[] = [];

interface Shell {
  proc: ChildProcess;
  out(): string;
  /** Kills the shell and every bpclient it started. */
  kill(): void;
}

/** bash running `script` in a process group of its own, with bpclient on PATH. */
function shell(script: string, env: NodeJS.ProcessEnv = {}): Shell {
  const proc = spawn('bash', ['-c', script], {
    env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, BPBROKER: undefined, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const s: Shell = {
    proc,
    out: () => out,
    kill: () => {
      try {
        process.kill(-proc.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    },
  };
  shells.push(s);
  return s;
}

beforeAll(async () => {
  mkdirSync(bin, { recursive: true });
  symlinkSync(BPCLIENT, join(bin, 'bpclient'));
  broker = await startBroker();
  address = `127.0.0.1:${broker.port}`;
});

afterAll(async () => {
  for (const s of shells) s.kill();
  await broker?.stop();
  if (broker) removeDir(broker.home);
  removeDir(bin);
});

const masters = (s: Shell): number => s.out().split('\n').filter((l) => l.endsWith(' is master')).length;
const masterNode = async (): Promise<string | undefined> => {
  const r = (await call(broker.port, '/services/Get/?name=master')).json as { success: boolean; data: { node?: string } };
  return r.success ? r.data.node : undefined;
};
/** Watches waiting in the broker now: a shell blocked in `bpclient service watch` is one. */
const watchers = async (): Promise<number> => metricValue((await call(broker.port, '/_metrics', { method: 'GET' })).text, 'bpbroker_watchers');

it('the leader election elects exactly one master; killed, exactly one other takes over when its lease runs out', { timeout: 120_000 }, async () => {
  const script = example('**Leader election with bpclient alone.**');
  expect(script).toContain('export BPBROKER=10.0.0.5:20443 NODE=node-1\n');
  const nodes = [1, 2, 3].map((n) => shell(script.replace('BPBROKER=10.0.0.5:20443 NODE=node-1', `BPBROKER=${address} NODE=node-${n}`)));

  await waitFor(() => nodes.some((s) => masters(s) > 0), 30_000, 20, 'a master');
  // Every node has tried once both others wait in `service watch` (which returns only once master changes);
  // nobody else may have won.
  await waitFor(async () => (await watchers()) === 2, 30_000, 50, 'both other nodes to watch master');
  expect(nodes.map(masters).sort()).toEqual([0, 0, 1]);
  const first = nodes.findIndex((s) => masters(s) === 1);
  expect(await masterNode()).toBe(`node-${first + 1}`);

  const { revision } = (await call(broker.port, '/services/Get/?name=master')).json as { revision: number };
  nodes[first]!.kill();
  const killedAt = Date.now();
  // The broker's side: the lease (10 s, renewed every 2 s) runs out 8 to 10 s after the kill, never earlier.
  const watched = (await call(broker.port, `/services/Watch/?name=master&revision=${revision}&wait=60`)).json as { events: Array<{ type: string }> };
  const expiredAfter = Date.now() - killedAt;
  expect(watched.events.map((e) => e.type)).toEqual(['expire']);
  expect(expiredAfter).toBeGreaterThanOrEqual(7000);
  expect(expiredAfter).toBeLessThan(11_000);
  // The nodes' side: their watches wake with the expire event and one of them takes over, in the time it takes
  // to start bpclient (a second or two here; the bound is for a machine under heavy load).
  const others = nodes.filter((_, i) => i !== first);
  const tookOver = await waitFor(() => others.some((s) => masters(s) > 0), 15_000, 20, 'a new master');
  console.log(`leader election: lease expired ${expiredAfter} ms after the kill; a new master ${tookOver} ms later`);
  // The loser has tried once it waits in `service watch` again.
  await waitFor(async () => (await watchers()) === 1, 30_000, 50, 'the other node to watch master');
  expect(others.map(masters).sort()).toEqual([0, 1]);
  const second = nodes.findIndex((s, i) => i !== first && masters(s) === 1);
  expect(await masterNode()).toBe(`node-${second + 1}`);
  for (const s of others) s.kill();
});

it('the "wait until the manager registers" one-liner waits while it is absent and ends once it registers', { timeout: 60_000 }, async () => {
  const line = example('Wait until the manager has registered');
  const env = { BPBROKER: address };
  // The watches of the shells killed before are gone, so that the one this shell makes is the only one.
  await waitFor(async () => (await watchers()) === 0, 30_000, 50, 'no watcher left');
  const waiting = shell(line, env);
  const exited = new Promise<number | null>((resolve) => waiting.proc.once('exit', (code) => resolve(code)));
  // Its `service get --wait` found it absent and waits on its watch: blocked, not looping.
  await waitFor(async () => (await watchers()) === 1, 30_000, 50, 'the one-liner to watch');
  expect(waiting.proc.exitCode).toBe(null);
  await call(broker.port, '/services/Register/?name=ossec-manager&data=%7B%22ip%22%3A%2210.0.0.9%22%7D');
  const registeredAt = Date.now();
  expect(await exited).toBe(0);
  // The watch wakes at once; the rest is one read.
  expect(Date.now() - registeredAt).toBeLessThan(5000);

  const already = shell(line, env);
  expect(await new Promise((resolve) => already.proc.once('exit', resolve))).toBe(0);
});
