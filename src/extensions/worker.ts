/**
 * The extension worker: loads one version of one extension and runs its methods. One module instance lives for
 * the worker's lifetime; reloading means a new worker, since ES modules cannot be unloaded in place.
 */
import { parentPort } from 'node:worker_threads';
import type { CallResult, ExtensionLog, ExtensionRegistry, ExtensionStore, RegistryData, RegistryEntry, RequestHandler, StoreEntry, WatchResult } from './api.js';
import { describeThrown, textOf } from './describeThrown.js';
import { LogLimiter } from './logLimiter.js';
import { mapStacksInThisThread } from './stackMap.js';
import {
  headerProblem,
  isAnswerStatus,
  type CallMessage,
  type FromWorker,
  type RegistryCall,
  type RegistryReplyMessage,
  type RegistryValue,
  type ToWorker,
  type WireBatch,
  type WireEntry,
  type WireList,
  type WireResponse,
  type WorkerInit,
} from './protocol.js';

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

const methods = new Map<string, Method>();
const pendingRegistry = new Map<number, { resolve: (v: RegistryValue) => void; reject: (e: Error) => void }>();
let nextRegistryId = 1;

async function load(what: WorkerInit): Promise<void> {
  init = what;
  try {
    // Stack traces point at the author's files and lines (the bundle carries an inline source map).
    mapStacksInThisThread(init.file, init.code, import.meta.url);
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

function registryCall(call: RegistryCall, requestingHost: string, callId: number): Promise<RegistryValue> {
  const id = nextRegistryId++;
  return new Promise((resolve, reject) => {
    pendingRegistry.set(id, { resolve, reject });
    post({ type: 'registry', id, callId, requestingHost, call });
  });
}

const checkName = (name: unknown, what = 'name'): string => {
  if (typeof name !== 'string') throw new TypeError(`registry: ${what} must be a string`);
  return name;
};
const dataText = (data: unknown): string | undefined => (data === undefined || typeof data === 'string' ? data : JSON.stringify(data));
/** Numbers and numeric text go to core as they are, which checks them; anything else is refused there as invalid. */
const optionValue = (value: unknown): string | number | undefined =>
  value === undefined || value === null ? undefined : typeof value === 'number' || typeof value === 'string' ? value : Number.NaN;
const optionsOf = (options: unknown): Record<string, unknown> => (typeof options === 'object' && options !== null ? (options as Record<string, unknown>) : {});

const parse = (text: string | undefined): RegistryData | undefined => (text === undefined ? undefined : (JSON.parse(text) as RegistryData));

function toEntry(wire: WireEntry | undefined): RegistryEntry | undefined {
  if (wire === undefined) return undefined;
  return {
    data: JSON.parse(wire.json) as RegistryData,
    revision: wire.modRevision,
    createRevision: wire.createRevision,
    ...(wire.ttl !== undefined ? { ttl: wire.ttl } : {}),
    lastWriteIp: wire.lastWriteIp,
    lastWriteTs: wire.lastWriteTs,
  };
}

function toWatchResult(wire: WireBatch): WatchResult {
  return {
    events: wire.events.map((e) => ({ type: e.type, name: e.name, revision: e.revision, ...(e.json !== undefined ? { data: JSON.parse(e.json) as RegistryData } : {}) })),
    revision: wire.revision,
  };
}

function toNamedEntry(wire: WireEntry & { name: string }): RegistryEntry & { name: string } {
  return { name: wire.name, ...toEntry(wire)! };
}

function toStoreEntry(wire: WireEntry | undefined, key: string): StoreEntry | undefined {
  if (wire === undefined) return undefined;
  return { key, value: (JSON.parse(wire.json) as { value: unknown }).value, revision: wire.modRevision, createRevision: wire.createRevision };
}

const limitOf = (options: unknown): { after: string | undefined; limit: number | undefined } => {
  const o = optionsOf(options);
  return { after: o.after === undefined ? undefined : checkName(o.after, 'after'), limit: typeof o.limit === 'number' ? o.limit : undefined };
};

/** `rh.store`: the extension's own keyspace (the broker knows whose; no namespace travels from here). */
function makeStore(requestingHost: string, callId: number): ExtensionStore {
  const ask = (call: RegistryCall): Promise<RegistryValue> => registryCall(call, requestingHost, callId);
  const valueText = (value: unknown): string => {
    const json = JSON.stringify(value) as string | undefined;
    if (json === undefined) throw new TypeError('store: the value must be JSON-serializable (not undefined or a function)');
    return json;
  };
  return {
    get: async (key) => toStoreEntry((await ask({ op: 'storeGet', key: checkName(key, 'key') })) as WireEntry | undefined, key)?.value,
    entry: async (key) => toStoreEntry((await ask({ op: 'storeGet', key: checkName(key, 'key') })) as WireEntry | undefined, key),
    put: async (key, value, options?: unknown) => {
      const call: RegistryCall = { op: 'storePut', key: checkName(key, 'key'), value: valueText(value), ifRevision: optionValue(optionsOf(options).ifRevision) };
      return toStoreEntry((await ask(call)) as WireEntry, key)!;
    },
    delete: async (key, options?: unknown) =>
      (await ask({ op: 'storeDelete', key: checkName(key, 'key'), ifRevision: optionValue(optionsOf(options).ifRevision) })) === 'true',
    list: async (prefix = '', options?: unknown) => {
      const page = (await ask({ op: 'storeList', prefix: checkName(prefix, 'prefix'), ...limitOf(options) })) as WireList;
      const entries = page.entries.map((e) => toStoreEntry(e, e.name)!);
      return page.nextAfter === '' ? { entries } : { entries, nextAfter: page.nextAfter };
    },
  };
}

/** `rh.registry` of one call: requests carry the caller's address and the call, which bounds its watches. */
function makeRegistry(requestingHost: string, callId: number): ExtensionRegistry {
  const ask = (call: RegistryCall): Promise<RegistryValue> => registryCall(call, requestingHost, callId);
  const write = (op: 'register' | 'replace' | 'update') => async (name: string, data: Record<string, unknown> | string, options?: unknown) => {
    const o = optionsOf(options);
    const call: RegistryCall = { op, name: checkName(name), data: dataText(data), ttl: optionValue(o.ttl), ifRevision: optionValue(o.ifRevision) };
    return parse((await ask(call)) as string)!;
  };
  return {
    get: async (name) => parse((await ask({ op: 'get', name: checkName(name) })) as string | undefined),
    register: write('register'),
    replace: write('replace'),
    update: write('update'),
    delete: async (name, options?: unknown) =>
      (await ask({ op: 'delete', name: checkName(name), ifRevision: optionValue(optionsOf(options).ifRevision) })) === 'true',
    entry: async (name) => toEntry((await ask({ op: 'entry', name: checkName(name) })) as WireEntry | undefined),
    keepAlive: async (name) => toEntry((await ask({ op: 'keepAlive', name: checkName(name) })) as WireEntry | undefined),
    list: async (prefix = '', options?: unknown) => {
      const page = (await ask({ op: 'list', prefix: checkName(prefix, 'prefix'), ...limitOf(options) })) as WireList;
      const entries = page.entries.map(toNamedEntry);
      return page.nextAfter === '' ? { entries } : { entries, nextAfter: page.nextAfter };
    },
    watch: async (filter, options?: unknown) => {
      const f = optionsOf(filter);
      const o = optionsOf(options);
      const call: RegistryCall = {
        op: 'watch',
        name: f.name === undefined ? undefined : checkName(f.name),
        prefix: f.prefix === undefined ? undefined : checkName(f.prefix, 'prefix'),
        afterRevision: optionValue(o.afterRevision),
        waitSecs: optionValue(o.waitSecs),
      };
      return toWatchResult((await ask(call)) as WireBatch);
    },
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

const DEFAULT_TYPE = 'Application/json';
/** Abort controllers of the calls running, by call id: the broker aborts one shortly before its time limit. */
const running = new Map<number, AbortController>();

/** Parameters of `rh.call`: text as it is; other values as JSON text (as a client would send them). */
function paramsText(params: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(optionsOf(params))) {
    if (v === undefined) continue;
    out[k] = typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v));
  }
  return out;
}

function toCallResult(wire: WireResponse): CallResult {
  const headers: Record<string, string> = {};
  for (const [name, value] of wire.headers ?? []) {
    const key = name.toLowerCase();
    headers[key] = headers[key] === undefined ? value : `${headers[key]}, ${value}`;
  }
  let data: unknown;
  if (typeof wire.body === 'string' && /json/i.test(wire.contentType)) {
    try {
      data = JSON.parse(wire.body);
    } catch {
      data = undefined;
    }
  }
  return { status: wire.status, statusMessage: wire.statusMessage, contentType: wire.contentType, headers, body: wire.body, data };
}

function makeHandler(msg: CallMessage, signal: AbortSignal): RequestHandler {
  const host = msg.requestingHost;
  const ask = (call: RegistryCall): Promise<RegistryValue> => registryCall(call, host, msg.id);
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
    contentType: DEFAULT_TYPE,
    errorBody: 'legacy' as 'legacy' | 'data',
    responseHeaders: {} as Record<string, string | number | readonly string[]>,
    setHeader(name: string, value: string | number | readonly string[]): void {
      if (typeof name === 'string' && name.toLowerCase() === 'content-type') {
        this.contentType = String(value);
        return;
      }
      const values = Array.isArray(value) ? value : [value];
      for (const v of values) {
        const problem = headerProblem(name, String(v));
        if (problem) throw new TypeError(`rh.setHeader: ${problem}`);
      }
      for (const k of Object.keys(this.responseHeaders)) if (k.toLowerCase() === name.toLowerCase()) delete this.responseHeaders[k];
      this.responseHeaders[name] = value;
    },
    redirect(location: string, status = 302): void {
      this.setHeader('Location', location);
      this.status = status;
      this.errorBody = 'data';
    },
    httpMethod: msg.httpMethod,
    requestHeaders: msg.headers,
    calledBy: msg.calledBy,
    signal,
    config: msg.config,
    registry: makeRegistry(host, msg.id),
    store: makeStore(host, msg.id),
    call: async (target: string, params?: unknown, options?: unknown): Promise<CallResult> => {
      const accessKey = optionsOf(options).accessKey;
      const call: RegistryCall = { op: 'call', target: checkName(target, 'target'), params: paramsText(params), accessKey: typeof accessKey === 'string' ? accessKey : undefined };
      return toCallResult((await ask(call)) as WireResponse);
    },
    log,
  };
  return rh;
}

/** The method's response headers, checked, in order (an array value is one header line per element). */
function headersOf(rh: RequestHandler): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const given: unknown = rh.responseHeaders;
  if (given === null || typeof given !== 'object') return out;
  for (const [name, value] of Object.entries(given as Record<string, unknown>)) {
    for (const v of Array.isArray(value) ? (value as unknown[]) : [value]) {
      const text = typeof v === 'number' ? String(v) : v;
      const problem = headerProblem(name, text);
      if (problem) throw new Error(`Extension ${init.namespace}.${rh.method} set rh.responseHeaders: ${problem}`);
      out.push([name, text as string]);
    }
  }
  return out;
}

function toWire(rh: RequestHandler, method: string, returned: unknown): WireResponse {
  const status: unknown = rh.status;
  if (!isAnswerStatus(status)) {
    const shown = typeof status === 'string' ? JSON.stringify(status) : textOf(status);
    throw new Error(`Extension ${init.namespace}.${method} set rh.status to ${shown}: it must be an integer from 200 to 599`);
  }
  const data = rh.data === undefined ? returned : rh.data;
  let body: string | Uint8Array;
  let contentType = String(rh.contentType || DEFAULT_TYPE);
  if (data === undefined) body = '';
  else if (typeof data === 'string') body = data;
  else if (data instanceof Uint8Array || data instanceof ArrayBuffer) {
    // Bytes go as they are (a Buffer is a Uint8Array); a type the method did not choose says only "bytes".
    body = data instanceof ArrayBuffer ? new Uint8Array(data) : data;
    if (contentType === DEFAULT_TYPE) contentType = 'application/octet-stream';
  } else {
    const json = JSON.stringify(data) as string | undefined;
    body = json ?? '';
  }
  const headers = headersOf(rh);
  return {
    status,
    statusMessage: String(rh.statusMessage ?? ''),
    contentType,
    body,
    ...(headers.length > 0 ? { headers } : {}),
    ...(rh.errorBody === 'data' ? { errorBody: 'data' as const } : {}),
  };
}

async function runCall(msg: CallMessage): Promise<void> {
  const fn = methods.get(msg.method);
  try {
    if (!fn || msg.method.startsWith('_')) throw new Error(`No method ${msg.method}`);
    const controller = new AbortController();
    running.set(msg.id, controller);
    const rh = makeHandler(msg, controller.signal);
    const returned = await fn(rh);
    post({ type: 'result', id: msg.id, response: toWire(rh, msg.method, returned) });
  } catch (err) {
    const { message, stack } = describeThrown(err);
    post({ type: 'failure', id: msg.id, message, stack });
  } finally {
    running.delete(msg.id);
  }
}

function onRegistryReply(msg: RegistryReplyMessage): void {
  const p = pendingRegistry.get(msg.id);
  if (!p) return;
  pendingRegistry.delete(msg.id);
  if (msg.ok) p.resolve(msg.value);
  else {
    const revision = msg.error?.revision;
    p.reject(Object.assign(new Error(msg.error?.message ?? 'Registry error'), { code: msg.error?.code ?? 'INTERNAL' }, revision !== undefined ? { revision } : {}));
  }
}

port.on('message', (msg: ToWorker) => {
  if (msg.type === 'init') void load(msg.init);
  else if (msg.type === 'call') void runCall(msg);
  else if (msg.type === 'abort') running.get(msg.id)?.abort(new DOMException('The call is about to reach its time limit', 'TimeoutError'));
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

