/**
 * The README, run as written, top to bottom: `npm start` (the quick start), then every ```sh block in order in
 * bash from the clone, and the gRPC example as the module it says to save. They run in a network namespace of
 * their own, so the README's 127.0.0.1:20443 is free and private. A ```sh block that cannot run here carries
 * `<!-- doc-test: skip (WHY) -->` on the line before it. All of it as root and again as a plain user. Needs root,
 * iproute2 and util-linux's setpriv (CI has them).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, cpSync, lchownSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { track } from '../helpers/children.js';
import { ROOT, removeDir, tempDir } from '../helpers/broker.js';
import { waitFor } from '../helpers/wait.js';

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const SKIP = /^<!-- doc-test: skip \((.+)\) -->$/;

interface Block {
  lang: string;
  code: string;
  /** Where its opening fence is: offset and line, for messages. */
  offset: number;
  line: number;
  /** Why the test does not run it, from the marker before it. */
  skip?: string | undefined;
}

function readmeBlocks(): Block[] {
  const out: Block[] = [];
  for (const m of README.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)) {
    const before = README.slice(0, m.index);
    const previous = before.trimEnd().split('\n').at(-1) ?? '';
    out.push({ lang: m[1]!, code: m[2]!, offset: m.index, line: before.split('\n').length, skip: SKIP.exec(previous)?.[1] });
  }
  return out;
}

/** The gRPC example: the block after this sentence, which says to save it as a module in the clone. */
const GRPC_EXAMPLE = 'From Node, with the client this package exports';

/**
 * A clone of this one owned by `uid`, without copying what is big: its own package.json and CLI roots (bin/,
 * bpclient/, the oclif manifest), and links to the rest (dist/, node_modules/, the sources).
 */
function userClone(clone: string, uid: number): void {
  mkdirSync(clone);
  const own = new Set(['bin', 'bpclient', 'package.json', 'oclif.manifest.json']);
  for (const name of readdirSync(ROOT)) {
    if (name === '.git') continue;
    if (own.has(name)) cpSync(join(ROOT, name), join(clone, name), { recursive: true });
    else symlinkSync(join(ROOT, name), join(clone, name));
  }
  const chownAll = (path: string): void => {
    lchownSync(path, uid, uid);
    if (lstatSync(path).isDirectory()) for (const name of readdirSync(path)) chownAll(join(path, name));
  };
  chownAll(clone);
}

/** A process's command line, for messages. */
function commandOf(pid: string): string {
  try {
    return `${pid}: ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim()}`;
  } catch {
    return `${pid}: gone`;
  }
}

/** Sends `signal` to a process group; false once none of it is left. */
function signalGroup(group: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-group, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Who runs the README: root (in a home of its own, not this machine's /usr/local/bpbroker), and a plain user.
 * Both at once: each has its own network namespace, home (and so npm cache) and scratch folder, the user a clone
 * of their own; the three-broker block works in a `mktemp -d` folder of its own and stops only what runs from it.
 */
interface User {
  name: string;
  uid?: number;
}
const USERS: User[] = [{ name: 'root' }, { name: 'a non-root user (uid 65534)', uid: 65534 }];

describe.concurrent.each(USERS)('README.md, as $name', (user) => {
  const ns = `bpdoc${process.pid % 100000}${user.uid === undefined ? 'r' : 'u'}`;
  const dir = tempDir('bpbroker-readme-');
  const userHome = join(dir, 'user');
  const scratch = join(dir, 'scratch');
  // A user works in a clone of their own: npx runs its bin by installing the clone, which must be the user's.
  const clone = user.uid === undefined ? ROOT : join(dir, 'clone');
  // The clone's commands as the user types them: no broker address chosen, and no home but the README's rule
  // (root gets one of its own so that the test leaves this machine's /usr/local/bpbroker alone).
  const env = {
    // A user's shell, not npm's: vitest may run under npm, whose npm_* settings (its cache, for one) are root's.
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'INIT_CWD')),
    HOME: userHome,
    BPBROKER_HOME: user.uid === undefined ? join(dir, 'root-home') : undefined,
    BPBROKER: undefined,
    npm_config_update_notifier: 'false',
  };
  // `ip netns exec` needs root; setpriv (util-linux) then drops to the user.
  const asUser = user.uid === undefined ? [] : ['setpriv', `--reuid=${user.uid}`, `--regid=${user.uid}`, '--clear-groups', '--'];
  let broker: ChildProcess | undefined;
  let brokerOut = '';
  let nsMade = false;

  /** Every process in the namespace now. */
  function pidsInNamespace(): Set<string> {
    return new Set(execFileSync('ip', ['netns', 'pids', ns]).toString().split('\n').filter(Boolean));
  }

  function run(cmd: string[], cwd: string): Promise<{ code: number | null; out: string }> {
    return new Promise((resolve, reject) => {
      const p = track(spawn('ip', ['netns', 'exec', ns, ...asUser, ...cmd], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] }));
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr.on('data', (d: Buffer) => (out += d.toString()));
      p.on('error', reject);
      p.on('close', (code) => resolve({ code, out }));
    });
  }

  beforeAll(async () => {
    chmodSync(dir, 0o755);
    for (const d of [userHome, scratch]) {
      mkdirSync(d);
      if (user.uid !== undefined) chownSync(d, user.uid, user.uid);
    }
    if (user.uid !== undefined) userClone(clone, user.uid);
    try {
      execFileSync('ip', ['netns', 'add', ns], { stdio: ['ignore', 'ignore', 'pipe'] });
      nsMade = true;
      execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up'], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      const why = (err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message;
      throw new Error(`The README test runs the quick start in a network namespace: it needs root and iproute2, as CI has: ${why}`);
    }
    // The quick start, as written but for `npm ci` (the suite runs in an installed clone). Its own process
    // group, so that npm, its shell and the broker stop together.
    broker = track(spawn('ip', ['netns', 'exec', ns, ...asUser, 'npm', 'start'], { cwd: clone, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true }));
    broker.stdout!.on('data', (d: Buffer) => (brokerOut += d.toString()));
    broker.stderr!.on('data', (d: Buffer) => (brokerOut += d.toString()));
    await waitFor(() => brokerOut.includes('bpbroker ready on port 20443') || broker!.exitCode !== null, 60_000, 20, '`npm start` to serve');
    expect(brokerOut).toContain('bpbroker ready on port 20443');
  });

  afterAll(async () => {
    if (broker?.pid !== undefined) {
      const group = broker.pid;
      signalGroup(group, 'SIGTERM');
      // npm exits at once; the broker it started stops gracefully (saving its registry) a moment later.
      await waitFor(() => !signalGroup(group, 0), 30_000, 20, '`npm start` and its broker to exit');
    }
    if (nsMade) execFileSync('ip', ['netns', 'del', ns]);
    removeDir(dir);
  });

  it('says why of every shell block it does not run here', () => {
    // A marker that is misspelt or gives no reason would silently run, or silently not: it must be exact.
    for (const line of README.split('\n').filter((l) => l.includes('doc-test'))) expect(line).toMatch(SKIP);
    const sh = readmeBlocks().filter((b) => b.lang === 'sh');
    expect(sh.filter((b) => b.skip === undefined).length).toBeGreaterThanOrEqual(2);
    // The quick start is the one block the test runs itself (beforeAll), so it is marked.
    expect(sh.find((b) => b.code.includes('npm start'))?.skip).toMatch(/quick start/);
  });

  it('runs every shell block in order, and the gRPC example, against `npm start`', { timeout: 180_000 }, async () => {
    const blocks = readmeBlocks();
    const grpcAt = README.indexOf(GRPC_EXAMPLE);
    expect(grpcAt).toBeGreaterThan(0);
    const grpcExample = blocks.find((b) => b.offset > grpcAt);
    expect(grpcExample?.lang).toBe('js');
    let ran = 0;
    for (const b of blocks) {
      const where = `README.md line ${b.line}`;
      if (b.lang === 'sh' && b.skip === undefined) {
        const before = pidsInNamespace();
        const r = await run(['bash', '-e', '-o', 'pipefail', '-c', b.code], clone);
        expect(r.code, `${where}:\n${b.code}\n${r.out}`).toBe(0);
        // A block that starts processes (brokers, etcd members) also stops them, as a reader's shell would need.
        const left = (): string[] => [...pidsInNamespace()].filter((p) => !before.has(p));
        await waitFor(() => left().length === 0, 20_000, 100, `${where}: the processes it started to exit`).catch((err: Error) => {
          throw new Error(`${err.message}; left running: ${left().map(commandOf).join('; ')}`);
        });
        expect(r.out, where).not.toContain('Fatal error');
        expect(r.out, where).not.toContain('"success": false');
        ran++;
      } else if (b === grpcExample) {
        // Saved as the README says, in a folder where `bpbroker` resolves to this clone, as it does in the clone.
        mkdirSync(join(scratch, 'node_modules'));
        symlinkSync(ROOT, join(scratch, 'node_modules', 'bpbroker'));
        writeFileSync(join(scratch, 'grpc-example.mjs'), b.code);
        const r = await run([process.execPath, 'grpc-example.mjs'], scratch);
        expect(r, where).toEqual({ code: 0, out: '{"ip":"10.0.0.7","port":8080}\n' });
        ran++;
      }
    }
    expect(ran).toBe(blocks.filter((b) => b.lang === 'sh' && b.skip === undefined).length + 1);
    // The blocks wrote through the broker `npm start` serves, in the home the README names.
    expect(brokerOut).not.toContain('ERROR');
    expect(brokerOut).toContain(`creating a new configuration at ${join(env.BPBROKER_HOME ?? join(userHome, '.bpbroker'), 'etc', 'bpbroker.json')}`);
  });
});
