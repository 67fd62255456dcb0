/**
 * The extension worker: loads one version of one extension and runs its methods. One module instance lives for
 * the worker's lifetime; reloading means a new worker, since ES modules cannot be unloaded in place.
 */
import { parentPort } from 'node:worker_threads';
import type { ExtensionLog, ExtensionRegistry, RegistryData, RequestHandler } from './api.js';
import { describeThrown, textOf } from './describeThrown.js';
import { LogLimiter } from './logLimiter.js';
import { isAnswerStatus, type CallMessage, type FromWorker, type RegistryOp, type RegistryReplyMessage, type ToWorker, type WireResponse, type WorkerInit } from './protocol.js';

type Method = (rh: RequestHandler) => unknown;

let init: WorkerInit = { namespace: '', file: '', code: '' };
const port = parentPort!;
/** Messages hold only text and numbers we made; a failure to send one must still not throw into a caller. */
const post = (msg: FromWorker): void => {
  try {
    port.postMessage(msg);
  } catch {
    /* the port is closing: the worker is being stopped */
  }
};

// Stack traces point at the author's files (the bundle carries an inline source map).
process.setSourceMapsEnabled(true);

const methods = new Map<string, Method>();
const pendingRegistry = new Map<number, { resolve: (v: string | undefined) => void; reject: (e: Error) => void }>();
let nextRegistryId = 1;

async function load(what: WorkerInit): Promise<void> {
  init = what;
  try {
    const mod = (await import(`data:text/javascript;base64,${Buffer.from(init.code).toString('base64')}`)) as Record<string, unknown>;
    for (const [name, value] of Object.entries(mod)) {
      if (name !== 'default' && typeof value === 'function') methods.set(name, value as Method);
    }
    // CommonJS (`module.exports = {...}` / `exports.X = ...`) arrives as the default export.
    const dflt = mod.default;
    if (dflt !== null && typeof dflt === 'object') {
      for (const [name, value] of Object.entries(dflt as Record<string, unknown>)) {
        if (typeof value === 'function' && !methods.has(name)) methods.set(name, value as Method);
      }
    }
    post({ type: 'ready', methods: [...methods.keys()].filter((m) => !m.startsWith('_')) });
  } catch (err) {
    const d = describeThrown(err);
    post({ type: 'loadError', message: d.stack ?? d.message });
  }
}

function registryCall(op: RegistryOp, name: string, requestingHost: string, data?: unknown): Promise<string | undefined> {
  if (typeof name !== 'string') return Promise.reject(new TypeError('registry: name must be a string'));
  const id = nextRegistryId++;
  const text = data === undefined || typeof data === 'string' ? data : JSON.stringify(data);
  return new Promise((resolve, reject) => {
    pendingRegistry.set(id, { resolve, reject });
    post({ type: 'registry', id, op, name, data: text as string | undefined, requestingHost });
  });
}

function makeRegistry(requestingHost: string): ExtensionRegistry {
  const parse = (text: string | undefined): RegistryData | undefined => (text === undefined ? undefined : (JSON.parse(text) as RegistryData));
  const write = (op: RegistryOp) => async (name: string, data: Record<string, unknown> | string) =>
    parse(await registryCall(op, name, requestingHost, data))!;
  return {
    get: async (name) => parse(await registryCall('get', name, requestingHost)),
    register: write('register'),
    replace: write('replace'),
    update: write('update'),
    delete: async (name) => (await registryCall('delete', name, requestingHost)) === 'true',
  };
}

type Level = 'debug' | 'info' | 'warn' | 'error';
const logAt = (level: Level) => (message: unknown, fields?: Record<string, unknown>) => {
  if (consoleLimiter.admit(0)) post({ type: 'log', level, message: textOf(message), fields: cloneable(fields) });
};
const log: ExtensionLog = { debug: logAt('debug'), info: logAt('info'), warn: logAt('warn'), error: logAt('error') };

function cloneable(fields: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (fields === undefined) return undefined;
  try {
    return JSON.parse(JSON.stringify(fields)) as Record<string, unknown>;
  } catch {
    return { unserializable: true };
  }
}

/**
 * Console output (console.*, process.stdout/stderr) still goes where it went, the broker's stdout and stderr,
 * within a budget; the broker logs how many lines were dropped beyond it.
 */
const consoleLimiter = new LogLimiter({
  linesPerSec: 1000,
  bytesPerSec: 1024 * 1024,
  reportMs: 1000,
  onDropped: (lines) =>
    post({ type: 'log', level: 'warn', message: `extension ${init.namespace}: ${lines.toLocaleString('en-US')} log lines dropped`, fields: { dropped: lines } }),
});
for (const stream of [process.stdout, process.stderr]) {
  const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
  stream.write = ((chunk: unknown, ...rest: unknown[]): boolean => {
    const size = typeof chunk === 'string' ? chunk.length : ((chunk as { byteLength?: number } | null)?.byteLength ?? 0);
    if (consoleLimiter.admit(size)) return write(chunk, ...rest);
    const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    if (done) queueMicrotask(done);
    return true;
  }) as typeof stream.write;
}

function makeHandler(msg: CallMessage): RequestHandler {
  const host = msg.requestingHost;
  const rh = {
    namespace: init.namespace,
    method: msg.method,
    qs: msg.qs,
    requestingHost: () => host,
    RequestingHost: () => host,
    status: 200,
    statusMessage: '',
    get status_message(): string {
      return this.statusMessage;
    },
    set status_message(v: string) {
      this.statusMessage = v;
    },
    data: undefined as unknown,
    contentType: 'Application/json',
    config: msg.config,
    registry: makeRegistry(host),
    log,
  };
  return rh;
}

function toWire(rh: RequestHandler, method: string, returned: unknown): WireResponse {
  const status: unknown = rh.status;
  if (!isAnswerStatus(status)) {
    const shown = typeof status === 'string' ? JSON.stringify(status) : textOf(status);
    throw new Error(`Extension ${init.namespace}.${method} set rh.status to ${shown}: it must be an integer from 200 to 599`);
  }
  const data = rh.data === undefined ? returned : rh.data;
  let body: string;
  if (data === undefined) body = '';
  else if (typeof data === 'string') body = data;
  else {
    const json = JSON.stringify(data) as string | undefined;
    body = json ?? '';
  }
  return { status, statusMessage: String(rh.statusMessage ?? ''), contentType: String(rh.contentType || 'Application/json'), body };
}

async function runCall(msg: CallMessage): Promise<void> {
  const fn = methods.get(msg.method);
  try {
    if (!fn || msg.method.startsWith('_')) throw new Error(`No method ${msg.method}`);
    const rh = makeHandler(msg);
    const returned = await fn(rh);
    post({ type: 'result', id: msg.id, response: toWire(rh, msg.method, returned) });
  } catch (err) {
    const { message, stack } = describeThrown(err);
    post({ type: 'failure', id: msg.id, message, stack });
  }
}

function onRegistryReply(msg: RegistryReplyMessage): void {
  const p = pendingRegistry.get(msg.id);
  if (!p) return;
  pendingRegistry.delete(msg.id);
  if (msg.ok) p.resolve(msg.value);
  else p.reject(Object.assign(new Error(msg.error?.message ?? 'Registry error'), { code: msg.error?.code ?? 'INTERNAL' }));
}

port.on('message', (msg: ToWorker) => {
  if (msg.type === 'init') void load(msg.init);
  else if (msg.type === 'call') void runCall(msg);
  else if (msg.type === 'registryReply') onRegistryReply(msg);
});

// A promise an extension forgot to await, or a throw from a timer, must not take down the calls of every other
// client on this worker: the broker logs it and the worker goes on.
const stray = (what: string) => (value: unknown) => {
  const { message, stack } = describeThrown(value);
  post({ type: 'log', level: 'error', message: `${what} in extension ${init.namespace}`, fields: { error: message, ...(stack ? { stack } : {}) } });
};
process.on('unhandledRejection', stray('unhandled rejection'));
process.on('uncaughtException', stray('uncaught exception'));

