/**
 * The extension worker: loads one version of one extension and runs its methods. One module instance lives for
 * the worker's lifetime; reloading means a new worker, since ES modules cannot be unloaded in place.
 */
import { parentPort } from 'node:worker_threads';
import type { ExtensionLog, ExtensionRegistry, RegistryData, RequestHandler } from './api.js';
import type { CallMessage, FromWorker, RegistryOp, RegistryReplyMessage, ToWorker, WireResponse, WorkerInit } from './protocol.js';

type Method = (rh: RequestHandler) => unknown;

let init: WorkerInit = { namespace: '', file: '', code: '' };
const port = parentPort!;
const post = (msg: FromWorker): void => port.postMessage(msg);

// Stack traces point at the author's files (the bundle carries an inline source map).
process.setSourceMapsEnabled(true);

const methods = new Map<string, Method>();
const pendingRegistry = new Map<number, { resolve: (v: string | undefined) => void; reject: (e: Error) => void }>();
let nextRegistryId = 1;

function describe(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return typeof err === 'string' ? err : String(err);
}

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
    post({ type: 'loadError', message: err instanceof Error && err.stack ? err.stack : describe(err) });
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

const log: ExtensionLog = {
  debug: (message, fields) => post({ type: 'log', level: 'debug', message: String(message), fields: cloneable(fields) }),
  info: (message, fields) => post({ type: 'log', level: 'info', message: String(message), fields: cloneable(fields) }),
  warn: (message, fields) => post({ type: 'log', level: 'warn', message: String(message), fields: cloneable(fields) }),
  error: (message, fields) => post({ type: 'log', level: 'error', message: String(message), fields: cloneable(fields) }),
};

function cloneable(fields: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (fields === undefined) return undefined;
  try {
    return JSON.parse(JSON.stringify(fields)) as Record<string, unknown>;
  } catch {
    return { unserializable: true };
  }
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

function toWire(rh: RequestHandler, returned: unknown): WireResponse {
  const status = Number(rh.status);
  if (!Number.isInteger(status) || status < 100 || status > 599) throw new Error(`rh.status must be an HTTP status code, got ${String(rh.status)}`);
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
    post({ type: 'result', id: msg.id, response: toWire(rh, returned) });
  } catch (err) {
    post({ type: 'failure', id: msg.id, message: describe(err) });
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

// A promise an extension forgot to await must not take down the calls of every other client on this worker.
process.on('unhandledRejection', (reason) => log.error('unhandled rejection in extension', { reason: describe(reason) }));

