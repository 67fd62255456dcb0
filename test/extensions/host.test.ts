import { existsSync, mkdirSync, rmSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { inProcessBroker, outcome, type InProcessBroker } from './harness.js';

const ECHO = `export function Test(rh) { rh.data = { qs: rh.qs, src: rh.requestingHost(), v: 1 }; }
export function _secret() { return 'hidden'; }
export function Boom() { throw new Error('the disk is on fire'); }
export async function Slow(rh) { await new Promise((r) => setTimeout(r, 5000)); rh.data = 'late'; } // outlasts its limit on purpose
export function Loop() { for (;;) {} }
export function Hog() { const a = []; for (let i = 0; ; i++) a.push({ i, s: 'x'.repeat(64) + i }); }
export function Status(rh) { rh.status = 409; rh.status_message = 'Already there'; }
export function Text(rh) { rh.contentType = 'text/plain'; return 'plain text'; }
export async function Reg(rh) {
  await rh.registry.update('ext-' + rh.qs.data, { by: 'ext' });
  const e = await rh.registry.get('ext-' + rh.qs.data);
  const missing = await rh.registry.get('nope');
  let dup = '';
  try { await rh.registry.register('ext-' + rh.qs.data, { again: true }); } catch (err) { dup = err.code + ' ' + err.message; }
  rh.data = { e, missing: missing === undefined, dup, deleted: await rh.registry.delete('ext-' + rh.qs.data) };
}
`;

/** `Call` makes one rh.call with the arguments the test sends and answers what it resolved or rejected with. */
const CALLER = `export async function Call(rh) {
  const [target, params, options] = JSON.parse(rh.qs.args);
  try {
    const r = await rh.call(target, params, options);
    return { ok: { status: r.status, statusMessage: r.statusMessage, data: r.data ?? null, body: r.body } };
  } catch (e) {
    return { err: { code: e.code, message: e.message } };
  }
}
export function Who(rh) { return { calledBy: rh.calledBy ?? null, src: rh.requestingHost(), method: rh.httpMethod }; }
export async function Recurse(rh) { return (await rh.call('caller.Recurse')).body; }
`;

let b: InProcessBroker | undefined;
afterEach(async () => {
  await b?.close();
  b = undefined;
});

describe('extension host (in process, compiled code)', () => {
  it('calls methods: echo, status, text, registry access, private and unknown methods', async () => {
    b = await inProcessBroker({ 'echo.mjs': ECHO }, { echo: {} });
    expect(b.host.list()).toEqual([
      {
        namespace: 'echo',
        file: join(b.lib, 'echo.mjs'),
        methods: ['Boom', 'Hog', 'Loop', 'Reg', 'Slow', 'Status', 'Test', 'Text'],
        version: 1,
        codeHash: expect.stringMatching(/^[0-9a-f]{12}$/),
        loadedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      },
    ]);
    const r = await b.call('echo', 'Test', { data: 'hello' });
    expect(r).toEqual({ status: 200, statusMessage: '', contentType: 'Application/json', body: JSON.stringify({ qs: { data: 'hello' }, src: '127.0.0.1', v: 1 }) });
    expect(await b.call('echo', 'Status')).toMatchObject({ status: 409, statusMessage: 'Already there' });
    expect(await b.call('echo', 'Text')).toMatchObject({ status: 200, contentType: 'text/plain', body: 'plain text' });
    const reg = JSON.parse((await b.call('echo', 'Reg', { data: 'a' })).body);
    expect(reg).toMatchObject({ e: { by: 'ext', last_write_ip: '127.0.0.1' }, missing: true, dup: "ALREADY_EXISTS Entry 'ext-a' already exists", deleted: true });
    expect(await outcome(b.call('echo', '_secret'))).toEqual({ code: 'PERMISSION_DENIED', message: 'Unauthorized method' });
    expect(await outcome(b.call('echo', 'Nope'))).toEqual({ code: 'PERMISSION_DENIED', message: 'Unauthorized method' });
  });

  it('checks the whitelist and the access key before the method', async () => {
    b = await inProcessBroker({ 'echo.mjs': ECHO, 'other.mjs': ECHO }, { echo: { _access_key: 'k' } });
    expect(await outcome(b.call('other', 'Test'))).toEqual({ code: 'PERMISSION_DENIED', message: 'Unauthorized package' });
    expect(await outcome(b.call('echo', 'Test'))).toEqual({ code: 'UNAUTHENTICATED', message: 'Incorrect access key' });
    expect(await outcome(b.call('echo', '_secret', { access_key: 'wrong' }))).toEqual({ code: 'UNAUTHENTICATED', message: 'Incorrect access key' });
    expect((await b.call('echo', 'Test', { access_key: 'k' })).status).toBe(200);
  });

  it('rh.call reaches another extension through the broker: its whitelist, access key and method checks apply', async () => {
    b = await inProcessBroker({ 'echo.mjs': ECHO, 'other.mjs': ECHO, 'caller.mjs': CALLER }, { echo: { _access_key: 'k' }, caller: {} });
    const broker = b.broker;
    // The caller's client is at 10.1.2.3: the called method sees that address, as its registry writes do.
    const call = async (...args: unknown[]): Promise<{ ok?: Record<string, unknown>; err?: { code: string; message: string } }> => {
      const r = await broker.dispatch({ clientIp: '10.1.2.3' }, 'caller', 'Call', { args: JSON.stringify(args) });
      return JSON.parse((r as { response: { body: string } }).response.body);
    };
    expect(await call('echo.Test', { data: 'x' })).toEqual({ err: { code: 'UNAUTHENTICATED', message: 'Incorrect access key' } });
    expect(await call('echo.Test', { data: { x: 1 } }, { accessKey: 'k' })).toEqual({
      ok: { status: 200, statusMessage: '', data: { qs: { data: '{"x":1}' }, src: '10.1.2.3', v: 1 }, body: '{"qs":{"data":"{\\"x\\":1}"},"src":"10.1.2.3","v":1}' },
    });
    expect(await call('echo._secret', {}, { accessKey: 'k' })).toEqual({ err: { code: 'PERMISSION_DENIED', message: 'Unauthorized method' } });
    expect(await call('other.Test')).toEqual({ err: { code: 'PERMISSION_DENIED', message: 'Unauthorized package' } });
    expect(await call('echo.Boom', {}, { accessKey: 'k' })).toEqual({ err: { code: 'INTERNAL', message: 'the disk is on fire' } });
    // A status the method set is its answer, not a failure.
    expect(await call('echo.Status', {}, { accessKey: 'k' })).toMatchObject({ ok: { status: 409, statusMessage: 'Already there' } });
    expect(await call('caller.Who')).toEqual({ ok: { status: 200, statusMessage: '', data: { calledBy: 'caller', src: '10.1.2.3', method: 'POST' }, body: expect.any(String) } });
    expect((await call('nodot')).err).toMatchObject({ code: 'INVALID_ARGUMENT' });
    // A loop of calls ends at the depth limit, not at the time limit of every call in it.
    const deep = await call('caller.Recurse');
    expect(deep.err).toMatchObject({ code: 'INTERNAL', message: 'Too many nested rh.call calls: at most 8 deep' });
  });

  it('a throwing method answers INTERNAL (500) with its message; the broker keeps serving', async () => {
    b = await inProcessBroker({ 'echo.mjs': ECHO }, { echo: {} });
    expect(await outcome(b.call('echo', 'Boom'))).toEqual({ code: 'INTERNAL', message: 'the disk is on fire' });
    expect((await b.call('echo', 'Test')).status).toBe(200);
    // The namespace's last failure stays for the dashboard after later calls succeed.
    expect(b.host.list()[0]?.lastError).toEqual({ message: 'Boom: the disk is on fire', at: expect.any(String) });
  });

  it('a slow method answers DEADLINE_EXCEEDED (504) at its time limit; per-namespace override wins', async () => {
    b = await inProcessBroker({ 'echo.mjs': ECHO }, { echo: { _timeout_secs: 0.5 } }, { defaultTimeoutMs: 30_000 });
    const t = Date.now();
    expect(await outcome(b.call('echo', 'Slow'))).toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    expect(Date.now() - t).toBeGreaterThanOrEqual(450);
    // Far below the 30 s default, whatever the machine's load: the namespace's own limit applied.
    expect(Date.now() - t).toBeLessThan(15_000);
    expect((await b.call('echo', 'Test')).status).toBe(200);
  });

  it('an infinite loop is stopped at the limit; the broker answers ping and other extensions meanwhile', async () => {
    const loop = `import { writeFileSync } from 'node:fs';
export function Loop(rh) { writeFileSync(rh.qs.mark, ''); for (;;) {} }
export function Ok() { return 'ok'; }`;
    b = await inProcessBroker({ 'loop.mjs': loop, 'other.mjs': ECHO }, { loop: { _timeout_secs: 3 }, other: {} });
    const mark = join(b.dir, 'loop-started');
    let spinning = true;
    const looping = outcome(b.call('loop', 'Loop', { mark })).finally(() => (spinning = false));
    await waitFor(() => existsSync(mark), 10_000, 10, 'the looping call to start');
    // Liveness, not speed: ping and another namespace answer while the loop spins, before its limit ends it.
    let answered = 0;
    for (let i = 0; i < 10 && spinning; i++) {
      const ping = await b.broker.dispatch({ clientIp: '127.0.0.1' }, 'ping', 'Ping', { data: String(i) });
      expect(ping).toMatchObject({ kind: 'ping', ping: { dataJson: String(i) } });
      expect((await b.call('other', 'Test')).status).toBe(200);
      if (spinning) answered++;
    }
    expect(answered).toBeGreaterThanOrEqual(3);
    expect(await looping).toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    // A fresh worker serves the namespace again.
    expect((await b.call('loop', 'Ok')).body).toBe('ok');
  });

  it('a memory-hungry method hits the worker heap limit; the worker is replaced', async () => {
    b = await inProcessBroker({ 'echo.mjs': ECHO }, { echo: {} }, { memoryMb: 48 });
    const before = process.memoryUsage().heapUsed;
    const res = await outcome(b.call('echo', 'Hog'));
    expect(res).toMatchObject({ code: 'INTERNAL', message: expect.stringContaining('ran out of memory') });
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(32 * 1024 * 1024);
    expect((await b.call('echo', 'Test')).status).toBe(200);
    expect(b.logs.join('')).toContain('ran out of memory');
  });

  it('calls run concurrently within one namespace', async () => {
    // Each call checks in, then waits until all 20 have: calls run one at a time would never get there.
    const wait = `import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
export async function Wait(rh) {
  writeFileSync(join(rh.qs.dir, rh.qs.data), '');
  const until = Date.now() + 20000;
  while (readdirSync(rh.qs.dir).length < 20) {
    if (Date.now() > until) throw new Error('only ' + readdirSync(rh.qs.dir).length + ' of 20 calls arrived');
    await new Promise((r) => setTimeout(r, 10));
  }
  return rh.qs.data;
}`;
    b = await inProcessBroker({ 'w.mjs': wait }, { w: { _timeout_secs: 30 } });
    const dir = join(b.dir, 'arrived');
    mkdirSync(dir);
    const all = await Promise.all(Array.from({ length: 20 }, (_, i) => b!.call('w', 'Wait', { data: String(i), dir })));
    expect(all.map((r) => r.body)).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
  });

  it('loads TypeScript, CommonJS and package folders with relative imports', async () => {
    b = await inProcessBroker(
      {
        'typed.ts': `import type { RequestHandler } from 'bpbroker/extension';
          interface Out { n: number; who: string }
          export function Add(rh: RequestHandler): Out { return { n: Number(rh.qs.a) + Number(rh.qs.b), who: rh.RequestingHost() }; }
          export function Fail(): never { throw new Error('typed failure'); }`,
        'legacy.cjs': `const os = require('os'); module.exports = { Platform(rh) { rh.data = typeof os.platform(); } };`,
        'pkg/package.json': JSON.stringify({ main: 'main.mjs' }),
        'pkg/main.mjs': `import { twice } from './lib/util.js'; export function Twice(rh) { return twice(Number(rh.qs.data)); }`,
        'pkg/lib/util.js': `export const twice = (n) => n * 2;`,
      },
      { typed: {}, legacy: {}, pkg: {} },
    );
    expect(JSON.parse((await b.call('typed', 'Add', { a: '2', b: '3' })).body)).toEqual({ n: 5, who: '127.0.0.1' });
    // The logged stack names the author's file and line (4), not the bundle's.
    expect(await outcome(b.call('typed', 'Fail'))).toEqual({ code: 'INTERNAL', message: 'typed failure' });
    const failed = b.logs
      .join('')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string; stack?: string })
      .find((l) => l.msg === 'extension call failed');
    expect(failed?.stack).toMatch(new RegExp(`${join(b.lib, 'typed.ts').replace(/[.]/g, '\\.')}:4:\\d+`));
    expect((await b.call('legacy', 'Platform')).body).toBe('string');
    expect((await b.call('pkg', 'Twice', { data: '21' })).body).toBe('42');
  });

  it('hot reload: edit (new behaviour without a restart), break (old keeps serving, log says why), delete (Unauthorized package)', async () => {
    b = await inProcessBroker({ 'echo.mjs': ECHO }, { echo: {}, fresh: {} });
    const v = async () => JSON.parse((await b!.call('echo', 'Test')).body).v as number;
    expect(await v()).toBe(1);

    b.write('echo.mjs', ECHO.replace('v: 1', 'v: 2'));
    // The figures are printed, not asserted: how fast a reload lands depends on the machine's load.
    const tookEdit = await waitFor(async () => (await v()) === 2, 10_000);
    console.log(`edit picked up after ${tookEdit} ms`);

    b.write('echo.mjs', 'export function Test( {');
    await waitFor(() => b!.host.list()[0]?.error !== undefined, 10_000);
    expect(await v()).toBe(2);
    const failedLoad = b.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'extension failed to load; the last good version keeps serving');
    expect(failedLoad?.error).toMatch(/echo\.mjs:1/);

    // A module that throws on import is a failed load too.
    b.write('echo.mjs', `throw new Error('bad config at import');`);
    await waitFor(() => /bad config at import/.test(b!.host.list().find((e) => e.namespace === 'echo')?.error ?? ''), 10_000);
    expect(await v()).toBe(2);

    b.write('echo.mjs', ECHO.replace('v: 1', 'v: 3'));
    await waitFor(async () => (await v()) === 3, 10_000);
    const echo = b.host.list().find((e) => e.namespace === 'echo');
    expect(echo?.error).toBeUndefined();
    // The third version that loaded; the failed loads between are its last error.
    expect(echo).toMatchObject({ version: 3, lastError: { message: expect.stringMatching(/bad config at import/) } });

    rmSync(join(b.lib, 'echo.mjs'));
    const tookDelete = await waitFor(async () => (await outcome(b!.call('echo', 'Test')) as { message?: string }).message === 'Unauthorized package', 10_000);
    console.log(`delete picked up after ${tookDelete} ms`);

    // Adding a file makes a configured namespace callable.
    b.write('fresh.js', `exports.Hi = () => 'hi';`);
    await waitFor(async () => ((await outcome(b!.call('fresh', 'Hi'))) as { body?: string }).body === 'hi', 10_000);

    // Renaming it to a hidden name removes it.
    renameSync(join(b.lib, 'fresh.js'), join(b.lib, '.fresh.js.bak'));
    await waitFor(() => !b!.host.hasNamespace('fresh'), 10_000);
  });

  it('a call in flight finishes on the old version across a reload', async () => {
    // The old version, asked to hold, marks that it started, then holds the call until the test releases it.
    const old = `import { existsSync, writeFileSync } from 'node:fs';
export async function S(rh) {
  if (!rh.qs.hold) return 'old';
  writeFileSync(rh.qs.dir + '/started', '');
  while (!existsSync(rh.qs.dir + '/release')) await new Promise((r) => setTimeout(r, 10));
  return 'old';
}`;
    b = await inProcessBroker({ 's.mjs': old }, { s: { _timeout_secs: 30 } });
    const dir = b.dir;
    const inflight = b.call('s', 'S', { dir, hold: '1' });
    await waitFor(() => existsSync(join(dir, 'started')), 10_000, 10, 'the call to start');
    b.write('s.mjs', `export async function S() { return 'new'; }`);
    await waitFor(async () => (await b!.call('s', 'S', { dir })).body === 'new', 10_000);
    writeFileSync(join(dir, 'release'), '');
    expect((await inflight).body).toBe('old');
  });

  it('an extensions folder missing at start, or removed and created again, is followed: its files are served', async () => {
    b = await inProcessBroker(null, { late: {} });
    const hi = async () => ((await outcome(b!.call('late', 'Hi'))) as { body?: string }).body;
    expect(existsSync(b.lib)).toBe(false);
    b.write('late.mjs', `export const Hi = () => 'hi';`);
    await waitFor(async () => (await hi()) === 'hi', 10_000, 20, 'a file in the folder created after start to be served');
    rmSync(b.lib, { recursive: true });
    await waitFor(() => !b!.host.hasNamespace('late'), 10_000, 20, 'the removed folder to be noticed');
    b.write('late.mjs', `export const Hi = () => 'again';`);
    await waitFor(async () => (await hi()) === 'again', 10_000, 20, 'a file in the folder created again to be served');
  });
});
