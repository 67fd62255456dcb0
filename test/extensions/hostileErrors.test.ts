import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BPBROKER, logLines, removeDir, runCli, startBroker, tempDir, type RunningBroker } from '../helpers/broker.js';
import { call } from '../helpers/https.js';
import { waitFor } from './harness.js';

/**
 * Issue 10, case 11: whatever an extension throws or rejects with answers 500 at once with a safe message,
 * leaves every other call alone, and reaches the broker's log with the call's details and the stack.
 */
const HOSTILE = `
let release;
const gate = new Promise((r) => (release = r));
export async function Wait(rh) { await gate; rh.data = 'released'; }
export function Release() { release(); return 'ok'; }
export function Ok() { return 'ok'; }

function withMessage(message) { const e = new Error('replaced'); e.message = message; return e; }
function withThrowingGetter() {
  const e = new Error('replaced');
  Object.defineProperty(e, 'message', { get() { throw Object.create(null); } });
  return e;
}
const hostileProxy = () => new Proxy({}, {
  get() { throw new Error('get trap'); }, getPrototypeOf() { throw new Error('prototype trap'); },
  has() { throw new Error('has trap'); }, ownKeys() { throw new Error('keys trap'); },
});

export function NullPrototype() { throw Object.create(null); }
export function SymbolMessage() { throw withMessage(Symbol('not text')); }
export function FunctionMessage() { throw withMessage(function secret() {}); }
export function ThrowingGetter() { throw withThrowingGetter(); }
export function ThrowsProxy() { throw hostileProxy(); }
export function ThrowsSymbol() { throw Symbol('thrown'); }
export function ThrowsFunction() { throw function thrown() {}; }
export function ThrowsUndefined() { throw undefined; }
export async function AsyncNullPrototype() { await null; throw Object.create(null); }
export async function AsyncSymbolMessage() { await null; throw withMessage(Symbol('not text')); }
export async function AsyncThrowingGetter() { await null; throw withThrowingGetter(); }
export function RejectsProxy() { return Promise.reject(hostileProxy()); }
export function PlainError() { throw new Error('plain failure'); }
export function Unhandled(rh) { Promise.reject(Object.create(null)); rh.data = 'answered'; }
export function UnhandledError(rh) { Promise.reject(new Error('nobody awaited me')); rh.data = 'answered'; }
export function TimerThrows(rh) { setTimeout(() => { throw Object.create(null); }, 0); rh.data = 'answered'; }
`;

const THROWERS = [
  'NullPrototype',
  'SymbolMessage',
  'FunctionMessage',
  'ThrowingGetter',
  'ThrowsProxy',
  'ThrowsSymbol',
  'ThrowsFunction',
  'ThrowsUndefined',
  'AsyncNullPrototype',
  'AsyncSymbolMessage',
  'AsyncThrowingGetter',
  'RejectsProxy',
  'PlainError',
];
const TIME_LIMIT_SECS = 30;

describe('hostile values thrown by an extension (real broker, HTTPS)', () => {
  const home = tempDir('bpbroker-hostile-');
  let broker: RunningBroker;

  beforeAll(async () => {
    mkdirSync(join(home, 'lib'));
    writeFileSync(join(home, 'lib', 'hostile.mjs'), HOSTILE);
    const configured = await runCli(BPBROKER, ['configure'], { env: { BPBROKER_HOME: home }, input: JSON.stringify({ hostile: { _timeout_secs: TIME_LIMIT_SECS } }) });
    expect(configured.code, configured.stderr).toBe(0);
    broker = await startBroker({ home });
  });
  afterAll(async () => {
    await broker?.stop();
    removeDir(home);
  });

  it('each answers 500 at once with a safe message, while a call in flight on the same worker goes on', async () => {
    const inFlight = call(broker.port, '/hostile/Wait/');
    for (const method of THROWERS) {
      const started = Date.now();
      const r = await call(broker.port, `/hostile/${method}/`);
      const took = Date.now() - started;
      expect(r.status, method).toBe(500);
      expect(r.json, method).toMatchObject({ success: false, data: {} });
      expect(typeof r.json.message, method).toBe('string');
      expect(r.json.message.length, method).toBeGreaterThan(0);
      expect(r.reason, method).toBe(r.json.message);
      // Liveness, not speed: far below the time limit, which a lost answer would wait out.
      expect(took, method).toBeLessThan((TIME_LIMIT_SECS * 1000) / 3);
    }
    expect((await call(broker.port, '/hostile/PlainError/')).reason).toBe('plain failure');
    expect((await call(broker.port, '/hostile/Release/')).text).toBe('ok');
    expect(await inFlight).toMatchObject({ status: 200, text: 'released' });
  }, 120_000);

  it('an unhandled rejection or a throw from a timer kills nothing: calls in flight and later calls succeed', async () => {
    const inFlight = call(broker.port, '/hostile/Wait/');
    for (const method of ['Unhandled', 'UnhandledError', 'TimerThrows']) {
      expect(await call(broker.port, `/hostile/${method}/`), method).toMatchObject({ status: 200, text: 'answered' });
    }
    await waitFor(() => broker.stderr().includes('uncaught exception in extension hostile'), 10_000);
    expect((await call(broker.port, '/hostile/Ok/')).text).toBe('ok');
    expect((await call(broker.port, '/hostile/Release/')).text).toBe('ok');
    expect(await inFlight).toMatchObject({ status: 200, text: 'released' });
    expect(broker.stderr()).not.toContain('extension worker stopped unexpectedly');
    const lines = broker.stderr().split('\n');
    expect(lines.find((l) => l.includes('unhandled rejection in extension hostile') && l.includes('nobody awaited me'))).toMatch(/hostile\.mjs:\d+/);
  }, 120_000);

  it('the broker logs each failed call with namespace, method, caller, duration and the stack', async () => {
    const failures = logLines(broker.stderr()).filter((l) => l.level === 'error' && l.msg === 'extension call failed');
    for (const method of THROWERS) {
      const logged = failures.find((f) => f.method === method);
      expect(logged, method).toMatchObject({ namespace: 'hostile', method, caller: '127.0.0.1', durationMs: expect.any(Number), error: expect.any(String) });
    }
    // Where the value carries a stack, the log has it, pointing into the extension's own file.
    for (const method of ['PlainError', 'FunctionMessage']) {
      expect(failures.find((f) => f.method === method)?.stack, method).toMatch(new RegExp(`at ${method} \\(.*hostile\\.mjs:\\d+`));
    }
  });
});
