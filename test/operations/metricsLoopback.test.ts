/**
 * With api.admin_key empty (the default), /_metrics and the dashboard (/_ui/) answer loopback clients only. A
 * client that is not on loopback needs an address of its own: the broker runs in a network namespace of its
 * own whose lo also holds a TEST-NET address, and one client process there asks from 127.0.0.1 and from that
 * address. Needs root and iproute2 (CI has both): without them it fails, saying why.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BPBROKER, removeDir, tempDir } from '../helpers/broker.js';
import { track } from '../helpers/children.js';

const NS = `bpops${process.pid % 100000}`;
const OTHER_IP = '192.0.2.77';
let made = false;
let broker: ChildProcess | undefined;
let home = '';

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function inNs(args: string[]): ChildProcess {
  return track(spawn('ip', ['netns', 'exec', NS, process.execPath, ...args], { env: { ...process.env, BPBROKER_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] }));
}

beforeAll(async () => {
  try {
    ip('netns', 'add', NS);
    made = true;
    ip('-n', NS, 'link', 'set', 'lo', 'up');
    // Not a loopback address (127.0.0.0/8, ::1), though on the lo device: what the broker judges by.
    ip('-n', NS, 'addr', 'add', `${OTHER_IP}/32`, 'dev', 'lo');
  } catch (err) {
    const why = (err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message;
    throw new Error(`The loopback rule of /_metrics needs a network namespace (root and iproute2, as CI has): ${why}`);
  }
  home = tempDir();
  broker = inNs([BPBROKER, 'start', '--port', '20443', '--listen-ip', '0.0.0.0', '--log-level', 'warn']);
  let out = '';
  let err = '';
  broker.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    broker!.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready on port')) resolve();
    });
    broker!.once('exit', (code) => reject(new Error(`broker exited with ${code}: ${err}`)));
  });
}, 60_000);

afterAll(async () => {
  if (broker && broker.exitCode === null) {
    const exited = new Promise((r) => broker!.once('exit', r));
    broker.kill('SIGTERM');
    await exited;
  }
  if (made) ip('netns', 'del', NS);
  if (home) removeDir(home);
});

/** GETs from inside the namespace, each from the given source address; the replies' status and body. */
async function getFrom(requests: Array<{ from: string; path: string }>): Promise<Array<{ status: number; body: string }>> {
  const script = `
    const https = require('node:https');
    const get = ({ from, path }) => new Promise((resolve, reject) => {
      https.get({ host: from, localAddress: from, port: 20443, path, rejectUnauthorized: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      }).on('error', reject);
    });
    (async () => {
      const out = [];
      for (const r of ${JSON.stringify(requests)}) out.push(await get(r));
      process.stdout.write(JSON.stringify(out));
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const p = inNs(['-e', script]);
  let out = '';
  let err = '';
  p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((r) => p.once('exit', r));
  expect(code, err).toBe(0);
  return JSON.parse(out) as Array<{ status: number; body: string }>;
}

it('answers /_metrics on loopback only while api.admin_key is empty; /_health and /_ready are open to all', { timeout: 60_000 }, async () => {
  const [loopMetrics, otherMetrics, otherHealth, otherReady] = await getFrom([
    { from: '127.0.0.1', path: '/_metrics' },
    { from: OTHER_IP, path: '/_metrics' },
    { from: OTHER_IP, path: '/_health' },
    { from: OTHER_IP, path: '/_ready' },
  ]);
  expect(loopMetrics!.status).toBe(200);
  expect(loopMetrics!.body).toMatch(/^# TYPE bpbroker_requests_total counter$/m);
  expect(otherMetrics!.status).toBe(403);
  expect(JSON.parse(otherMetrics!.body).message).toMatch(/^Metrics are served only to loopback clients while api\.admin_key is empty/);
  expect(otherHealth).toEqual({ status: 200, body: '{"status":"ok"}' });
  expect(otherReady).toEqual({ status: 200, body: '{"status":"ready"}' });
});

it('serves the dashboard, its page and its JSON, to loopback clients only while api.admin_key is empty', { timeout: 60_000 }, async () => {
  const [loopPage, loopStatus, otherPage, otherStatus, otherEntries] = await getFrom([
    { from: '127.0.0.1', path: '/_ui/' },
    { from: '127.0.0.1', path: '/_ui/api/status' },
    { from: OTHER_IP, path: '/_ui/' },
    { from: OTHER_IP, path: '/_ui/api/status' },
    { from: OTHER_IP, path: '/_ui/api/entries?prefix=' },
  ]);
  expect(loopPage!.status).toBe(200);
  expect(loopPage!.body).toContain('<title>bpbroker dashboard</title>');
  expect(loopStatus!.status).toBe(200);
  expect(JSON.parse(loopStatus!.body)).toMatchObject({ port: 20443, entries: 0, notReady: [] });
  for (const refused of [otherPage, otherStatus, otherEntries]) {
    expect(refused!.status).toBe(403);
    expect(JSON.parse(refused!.body).message).toMatch(/^The dashboard is served only to loopback clients while api\.admin_key is empty/);
  }
});
