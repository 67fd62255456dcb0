/**
 * Discovery by real broadcast, isolated from this machine's network: a client namespace with a bridge, and
 * one namespace per broker joined to it by a veth pair. Needs root and iproute2 (CI has both): without them it
 * fails, saying why.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BPBROKER, BPCLIENT, removeDir, tempDir } from '../helpers/broker.js';
import { bpbroker } from './harness.js';

const tag = `bp${process.pid % 100000}`;
const CLIENT = `${tag}c`;
const SERVERS = [`${tag}s1`, `${tag}s2`];
const made: string[] = [];
const brokers: ChildProcess[] = [];
const homes: string[] = [];

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Throws, saying why, when this machine cannot create network namespaces with a bridge. */
function mustCreateNamespaces(): void {
  try {
    ip('netns', 'add', `${tag}probe`);
    try {
      ip('-n', `${tag}probe`, 'link', 'add', 'br0', 'type', 'bridge');
    } finally {
      ip('netns', 'del', `${tag}probe`);
    }
  } catch (err) {
    const why = (err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message;
    throw new Error(`Broadcast discovery across network namespaces needs root and iproute2 (\`ip netns add\`), as CI has: ${why}`);
  }
}

function inNs(ns: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('ip', ['netns', 'exec', ns, process.execPath, ...args], { env: { ...process.env, BPBROKER: undefined, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Starts a broker on `listenIp`:20443 inside `ns` whose registry holds `names`. */
async function brokerIn(ns: string, names: string[], listenIp = '0.0.0.0'): Promise<void> {
  const home = tempDir();
  homes.push(home);
  const services = Object.fromEntries(names.map((n) => [n, { role: ns }]));
  expect((await bpbroker(['configure'], { BPBROKER_HOME: home }, JSON.stringify({ services }))).code).toBe(0);
  const p = spawn('ip', ['netns', 'exec', ns, process.execPath, BPBROKER, 'start', '--port', '20443', '--listen-ip', listenIp, '--log-level', 'warn'], {
    env: { ...process.env, BPBROKER_HOME: home },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  brokers.push(p);
  let out = '';
  let err = '';
  p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`broker in ${ns} did not start: ${err}`)), 20_000);
    p.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready on port')) {
        clearTimeout(timer);
        resolve();
      }
    });
    p.once('exit', (code) => reject(new Error(`broker in ${ns} exited with ${code}: ${err}`)));
  });
}

describe('discover by broadcast across network namespaces', { timeout: 120_000 }, () => {
  beforeAll(() => {
    mustCreateNamespaces();
    for (const ns of [CLIENT, ...SERVERS]) {
      ip('netns', 'add', ns);
      made.push(ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    ip('-n', CLIENT, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', CLIENT, 'addr', 'add', '10.77.0.100/24', 'dev', 'br0');
    ip('-n', CLIENT, 'link', 'set', 'br0', 'up');
    // 255.255.255.255 goes out through the default route, as on a real host.
    ip('-n', CLIENT, 'route', 'add', 'default', 'dev', 'br0');
    SERVERS.forEach((ns, i) => {
      const [inner, outer] = [`${tag}v${i}`, `${tag}p${i}`];
      ip('link', 'add', inner, 'type', 'veth', 'peer', 'name', outer);
      ip('link', 'set', inner, 'netns', ns);
      ip('link', 'set', outer, 'netns', CLIENT);
      ip('-n', CLIENT, 'link', 'set', outer, 'master', 'br0');
      ip('-n', CLIENT, 'link', 'set', outer, 'up');
      ip('-n', ns, 'addr', 'add', `10.77.0.${i + 1}/24`, 'dev', inner);
      ip('-n', ns, 'link', 'set', inner, 'up');
    });
  });

  afterAll(async () => {
    for (const p of brokers) {
      if (p.exitCode === null) {
        const exited = new Promise((r) => p.once('exit', r));
        p.kill('SIGTERM');
        await exited;
      }
    }
    for (const ns of made) {
      try {
        ip('netns', 'del', ns); // takes its veth ends with it
      } catch {
        /* already gone */
      }
    }
    for (const h of homes) removeDir(h);
  });

  it('finds the broker holding the name by broadcast, then talks to it', async () => {
    await brokerIn(SERVERS[0]!, ['app-cluster1', 'shared']);
    const found = await inNs(CLIENT, [BPCLIENT, 'discover', '--name', 'app-cluster1']);
    expect(found).toEqual({ code: 0, stdout: '10.77.0.1\n', stderr: '' });
    const get = await inNs(CLIENT, [BPCLIENT, '--bpbroker', `${found.stdout.trim()}:20443`, 'service', 'get', '--name', 'app-cluster1']);
    expect(get.stdout).toBe(`{"role": "${SERVERS[0]}"}\n`);
    expect(await inNs(CLIENT, [BPCLIENT, 'discover', '--name', 'app-absent', '--timeout', '0.5'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'Fatal error: No results\n',
    });
  });

  it('--all lists every broker that answers and warns about a split brain', async () => {
    // Bound to its own address, this broker must still hear broadcasts.
    await brokerIn(SERVERS[1]!, ['app-cluster2', 'shared'], '10.77.0.2');
    const one = await inNs(CLIENT, [BPCLIENT, 'discover', '--name', 'app-cluster2', '--all', '--timeout', '1']);
    expect(one).toEqual({ code: 0, stdout: '10.77.0.2\n', stderr: '' });
    const both = await inNs(CLIENT, [BPCLIENT, 'discover', '--name', 'shared', '--all', '--timeout', '1']);
    expect(both.code).toBe(0);
    expect(both.stdout.split('\n').filter(Boolean).sort()).toEqual(['10.77.0.1', '10.77.0.2']);
    expect(both.stderr).toMatch(/^Warning: 2 brokers answer for 'shared' \(split brain\)/);
    // Without --all the first answer wins.
    expect((await inNs(CLIENT, [BPCLIENT, 'discover', '--name', 'shared'])).stdout).toMatch(/^10\.77\.0\.[12]\n$/);
  });
});
