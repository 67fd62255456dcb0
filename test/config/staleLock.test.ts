import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { BPBROKER, ROOT, removeDir, runCli, startBroker, tempDir, type RunningBroker } from '../helpers/broker.js';

/** Issue 10, case 10: only a live bpbroker holding the same file holds its lock; stale locks are taken over race-free. */

const sleepers: ChildProcess[] = [];
afterAll(() => {
  for (const s of sleepers) s.kill();
});

/** The pid of an unrelated live process, as a reboot may hand a leftover lock's pid to any program. */
async function unrelatedPid(): Promise<number> {
  const s = spawn('sleep', ['100'], { stdio: 'ignore' });
  sleepers.push(s);
  await new Promise((r) => s.once('spawn', r));
  return s.pid!;
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const p = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((r) => p.once('exit', r));
  return p.pid!;
}

function home(): { home: string; config: string; lock: string } {
  const h = tempDir('bpbroker-lock-');
  mkdirSync(join(h, 'etc'));
  return { home: h, config: join(h, 'etc', 'bpbroker.json'), lock: join(h, 'etc', 'bpbroker.lock') };
}

const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

/** Stale locks of every kind: the pid alone (what earlier brokers wrote), and a record whose process is gone. */
const staleLocks: Array<[string, () => Promise<string>]> = [
  ['the pid of a live unrelated process', async () => `${await unrelatedPid()}\n`],
  ['the pid of a process that exited', async () => `${await deadPid()}\n`],
  ['a record whose pid now runs something else', async () => `${JSON.stringify({ pid: await unrelatedPid(), start: '1', boot: bootId, token: 't', purpose: 'broker' })}\n`],
  ['a record from before a reboot', async () => `${JSON.stringify({ pid: process.pid, start: '1', boot: '00000000-0000-0000-0000-000000000000', token: 't', purpose: 'broker' })}\n`],
];

/** A process that takes the lock through the broker's own code when told to, and holds it until its stdin closes. */
const LOCK_MODULE = pathToFileURL(join(ROOT, 'dist/src/config/lockFile.js')).href;
const CONTENDER = `
const { acquireLock } = await import(${JSON.stringify(LOCK_MODULE)});
const { writeFileSync } = await import('node:fs');
const [config, purpose, seedOwnPid] = process.argv.slice(2);
process.stdout.write('ready\\n');
process.stdin.once('data', async () => {
  try {
    // What a broker finds after a reboot that gave it the pid its predecessor wrote in the lock.
    if (seedOwnPid) writeFileSync(seedOwnPid, process.pid + '\\n');
    const held = await acquireLock(config, purpose);
    process.stdout.write('acquired\\n');
    process.stdin.once('end', () => { typeof held === 'function' ? held() : held.release(); process.exit(0); });
    process.stdin.resume();
  } catch (err) {
    process.stdout.write('refused ' + err.message + '\\n');
    process.exit(0);
  }
});`;

// Named like the broker's program, so /proc/PID/cmdline reads as a bpbroker process.
let scriptDir: string | undefined;
function contenderScript(): string {
  if (scriptDir === undefined) {
    scriptDir = tempDir('bpbroker-contender-');
    writeFileSync(join(scriptDir, 'bpbroker.mjs'), CONTENDER);
  }
  return join(scriptDir, 'bpbroker.mjs');
}
afterAll(() => {
  if (scriptDir) removeDir(scriptDir);
});

interface Contender {
  proc: ChildProcess;
  /** Resolves with 'acquired' or 'refused MESSAGE'. */
  outcome: Promise<string>;
}

async function contenders(n: number, config: string, purpose = 'broker', seedOwnPid?: string): Promise<Contender[]> {
  const all = Array.from({ length: n }, () => {
    const proc = spawn(process.execPath, [contenderScript(), config, purpose, ...(seedOwnPid ? [seedOwnPid] : [])], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    const ready = new Promise<void>((resolve, reject) => {
      proc.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.startsWith('ready\n')) resolve();
      });
      proc.once('exit', () => reject(new Error(`contender exited early: ${out}`)));
    });
    const outcome = new Promise<string>((resolve, reject) => {
      const check = (): void => {
        const line = out.split('\n')[1];
        if (line !== undefined && out.split('\n').length > 2) resolve(line);
      };
      proc.stdout!.on('data', check);
      proc.once('exit', () => reject(new Error(`contender exited: ${out}`)));
    });
    outcome.catch(() => undefined);
    return { proc, ready, outcome };
  });
  await Promise.all(all.map((c) => c.ready));
  return all;
}

describe('the lock on a configuration file', () => {
  it.each(staleLocks)('start takes over a lock holding %s; status reads the new holder', async (_what, stale) => {
    const { home: h, lock } = home();
    const env = { BPBROKER_HOME: h };
    try {
      writeFileSync(lock, await stale());
      const idle = await runCli(BPBROKER, ['status', '--json'], { env });
      expect(JSON.parse(idle.stdout)).toMatchObject({ running: false });
      const b = await startBroker({ home: h });
      try {
        const status = await runCli(BPBROKER, ['status', '--json'], { env });
        expect(JSON.parse(status.stdout)).toMatchObject({ running: true, pid: b.proc.pid });
      } finally {
        expect(await b.stop()).toBe(0);
      }
    } finally {
      removeDir(h);
    }
  }, 180_000);

  it('many takers at the same instant on a stale lock: exactly one wins, every round', async () => {
    const { home: h, config, lock } = home();
    try {
      for (let round = 0; round < 12; round++) {
        const [, stale] = staleLocks[round % staleLocks.length]!;
        writeFileSync(lock, await stale());
        const cs = await contenders(6, config);
        for (const c of cs) c.proc.stdin!.write('go\n'); // all at once: each is waiting on this line
        const outcomes = await Promise.all(cs.map((c) => c.outcome));
        const winners = cs.filter((_, i) => outcomes[i] === 'acquired');
        expect(winners.length, `round ${round}: ${outcomes.join(' | ')}`).toBe(1);
        for (const o of outcomes.filter((x) => x !== 'acquired')) expect(o).toContain(`(pid ${winners[0]!.proc.pid})`);
        expect(JSON.parse(readFileSync(lock, 'utf8')).pid).toBe(winners[0]!.proc.pid);
        const exited = cs.map((c) => new Promise((r) => (c.proc.exitCode !== null ? r(0) : c.proc.once('exit', r))));
        for (const c of cs) c.proc.stdin!.end();
        await Promise.all(exited);
      }
    } finally {
      removeDir(h);
    }
  }, 180_000);

  it("a lock naming the taker's own pid, left before a reboot, is stale", async () => {
    const { home: h, config, lock } = home();
    try {
      const [taker] = await contenders(1, config, 'broker', lock);
      taker!.proc.stdin!.write('go\n');
      expect(await taker!.outcome).toBe('acquired');
      expect(JSON.parse(readFileSync(lock, 'utf8'))).toMatchObject({ pid: taker!.proc.pid, purpose: 'broker' });
      const exited = new Promise((r) => taker!.proc.once('exit', r));
      taker!.proc.stdin!.end();
      await exited;
    } finally {
      removeDir(h);
    }
  }, 180_000);

  it('two brokers started at the same instant: exactly one runs, every round', async () => {
    const { home: h, lock } = home();
    try {
      for (let round = 0; round < 4; round++) {
        if (round % 2 === 1) writeFileSync(lock, `${await unrelatedPid()}\n`);
        const started = await Promise.allSettled([startBroker({ home: h }), startBroker({ home: h })]);
        const running: RunningBroker[] = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
        const refused = started.flatMap((s) => (s.status === 'rejected' ? [String((s.reason as Error).message)] : []));
        const stopped: Array<{ code: number | null; stderr: string }> = [];
        for (const b of running) stopped.push({ code: await b.stop(), stderr: b.stderr() });
        expect(running.length, `round ${round}: ${refused.join(' | ')}`).toBe(1);
        expect(refused[0]).toContain(`Another broker (pid ${running[0]!.proc.pid}) is running`);
        expect(stopped[0]!.code, stopped[0]!.stderr).toBe(0);
      }
    } finally {
      removeDir(h);
    }
  }, 180_000);

  it('configure and restore take the lock themselves, and a broker start is refused while they hold it', async () => {
    const { home: h, config, lock } = home();
    const env = { BPBROKER_HOME: h };
    try {
      // Enough entries that configure and restore work for a while, holding the lock.
      const services: Record<string, unknown> = {};
      for (let i = 0; i < 60_000; i++) services[`entry-${i}`] = { i, text: 'x'.repeat(40) };
      writeFileSync(config, JSON.stringify({ services }));
      const backup = join(h, 'backup.json');
      writeFileSync(backup, JSON.stringify({ services }));

      for (const [purpose, args, input] of [
        ['configure', ['configure'], '{"extra": {"_access_key": ""}}'],
        ['restore', ['backup', 'restore', '--from', backup], ''],
      ] as const) {
        const proc = spawn(process.execPath, [BPBROKER, ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'ignore', 'pipe'] });
        proc.stdin!.end(input);
        const exited = new Promise<number | null>((r) => proc.once('exit', r));
        let seen: unknown;
        let done = false;
        void exited.then(() => (done = true));
        // Watch the lock file while the command runs: it must hold it under its own pid.
        while (!done && seen === undefined) {
          try {
            const rec = JSON.parse(readFileSync(lock, 'utf8'));
            if (rec.pid === proc.pid) seen = rec;
          } catch {
            /* not there (yet) */
          }
          await new Promise((r) => setImmediate(r));
        }
        expect(await exited, purpose).toBe(0);
        expect(seen, `${purpose} never held ${lock}`).toMatchObject({ pid: proc.pid, purpose });
      }

      // While a configure holds the lock, a broker start is refused with who holds it.
      const [holder] = await contenders(1, config, 'configure');
      holder!.proc.stdin!.write('go\n');
      expect(await holder!.outcome).toBe('acquired');
      const refused = await startBroker({ home: h }).then(
        async (b) => {
          await b.stop();
          return 'started';
        },
        (err: Error) => err.message,
      );
      expect(refused).toContain(`bpbroker configure (pid ${holder!.proc.pid}) is working on ${config}`);
      const conf = await runCli(BPBROKER, ['configure'], { env, input: '{}' });
      expect(conf.code).toBe(1);
      expect(conf.stderr).toContain(`bpbroker configure (pid ${holder!.proc.pid}) is working on ${config}`);
      const exited = new Promise((r) => holder!.proc.once('exit', r));
      holder!.proc.stdin!.end();
      await exited;
    } finally {
      removeDir(h);
    }
  }, 180_000);
});
