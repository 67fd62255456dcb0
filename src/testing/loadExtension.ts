import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { defaultSections } from '../config/schema.js';
import { Broker } from '../core/Broker.js';
import { ExtensionHost } from '../extensions/ExtensionHost.js';
import { namespaceOfFile } from '../extensions/sources.js';
import { createLogger } from '../log/Logger.js';
import { Registry } from '../store/embedded/Registry.js';
import { EmbeddedStore } from '../store/embedded/EmbeddedStore.js';
import { apiSettings } from '../server/settings.js';
import { legacyAnswer } from '../transport/http/legacyAnswer.js';

/** The world an extension runs in: its configuration section, and what the registry and its store hold. */
export interface ExtensionKitOptions {
  /** The namespace's configuration section (`rh.config`; `_access_key` and `_timeout_secs` apply as in the broker). */
  config?: Record<string, unknown>;
  /** Registry entries (`services`) before the first call: name to data object. */
  registry?: Record<string, Record<string, unknown>>;
  /** `rh.store` keys before the first call: key to value. */
  store?: Record<string, unknown>;
  /** Time limit of a call when `config._timeout_secs` sets none (default 30 s, as the broker's). */
  timeoutMs?: number;
}

/** One request, as a client sends it. */
export interface InvokeRequest {
  /** The parameters (`rh.qs`), query string and form body merged; `access_key` among them when the namespace has one. */
  query?: Record<string, string>;
  /** The caller's address (`rh.requestingHost()`); default 127.0.0.1. */
  callerHost?: string;
  /** GET, POST (default) or DELETE (`rh.httpMethod`). */
  httpMethod?: string;
  /** Request headers (`rh.requestHeaders`). */
  headers?: Record<string, string>;
}

/** The answer, as the broker's legacy HTTPS API sends it. */
export interface KitAnswer {
  status: number;
  /** The reason phrase: `OK`, or the message of a failure. */
  reason: string;
  /** Headers the broker sets (names in lower case; a repeated one as an array), without HTTP/1.1 framing (Date, Connection). */
  headers: Record<string, string | string[]>;
  /** The body as UTF-8 text. */
  body: string;
  /** The body as sent. */
  bytes: Buffer;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
}

/** An extension loaded in this process, with a registry of its own in a temporary folder. */
export interface ExtensionUnderTest {
  namespace: string;
  /** Calls a method as a client would; the broker's checks (access key, private methods) apply. */
  invoke(method: string, request?: InvokeRequest): Promise<KitAnswer>;
  /** The registry's entries now: name to data object (with `last_write_ip` and `last_write_ts`). */
  registry(): Promise<Record<string, Record<string, unknown>>>;
  /** The extension's store now: key to value. */
  store(): Promise<Record<string, unknown>>;
  /** The broker's log lines so far (the extension's `rh.log` among them). */
  readonly logs: string[];
  close(): Promise<void>;
}

/**
 * Loads an extension file (or package folder) as the broker does, in a worker of this process, with its own
 * registry: the answers are those of the broker's legacy API, computed by the same code. The namespace is the
 * file name without its extension; only that extension is loaded, whatever else its folder holds.
 */
export async function loadExtension(file: string, opts: ExtensionKitOptions = {}): Promise<ExtensionUnderTest> {
  const path = resolve(file);
  const namespace = statSync(path).isDirectory() ? basename(path) : namespaceOfFile(basename(path));
  if (namespace === undefined) throw new Error(`${file} is not an extension file (.ts, .mts, .cts, .js, .mjs or .cjs)`);
  const temp = mkdtempSync(join(tmpdir(), 'bpbroker-kit-'));
  const logs: string[] = [];
  const log = createLogger('debug', (line) => logs.push(line));
  const registry = await Registry.open({ journalDir: join(temp, 'journal'), snapshot: { revision: 0, entries: [] } });
  const sections = { ...defaultSections(), [namespace]: { ...opts.config } };
  const broker = new Broker(new EmbeddedStore(registry), sections, apiSettings(sections));
  const host = new ExtensionHost({ broker, dirs: [dirname(path)], watch: false, defaultTimeoutMs: opts.timeoutMs ?? 30_000, log });
  const close = async (): Promise<void> => {
    await host.close();
    await registry.close();
    rmSync(temp, { recursive: true, force: true });
  };
  try {
    const seed = { clientIp: '127.0.0.1', trusted: true };
    for (const [name, data] of Object.entries(opts.registry ?? {})) await broker.update(seed, name, JSON.stringify(data));
    for (const [key, value] of Object.entries(opts.store ?? {})) await broker.store.put('127.0.0.1', namespace, key, JSON.stringify(value));
    await host.reload(namespace);
    const info = host.list().find((e) => e.namespace === namespace);
    if (!info || info.methods.length === 0) throw new Error(info?.error ?? `${file}: no extension ${namespace} found`);
    broker.attachExtensions(host);
  } catch (err) {
    await close();
    throw err;
  }
  return {
    namespace,
    logs,
    async invoke(method, request = {}) {
      const query = request.query ?? {};
      const ctx = {
        clientIp: request.callerHost ?? '127.0.0.1',
        accessKey: query.access_key,
        request: { method: request.httpMethod ?? 'POST', headers: lowerCase(request.headers ?? {}) },
      };
      const a = await legacyAnswer(broker, ctx, namespace, method, query, log);
      const body = a.body.toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      return { status: a.status, reason: a.reason, headers: a.headers, body, bytes: a.body, json };
    },
    async registry() {
      const out: Record<string, Record<string, unknown>> = {};
      for (let after = ''; ; ) {
        const page = await broker.list({ clientIp: '127.0.0.1', trusted: true }, '', after, 1000);
        for (const r of page.entries) out[r.entry.name] = JSON.parse(r.entry.json) as Record<string, unknown>;
        if (page.nextAfter === '') return out;
        after = page.nextAfter;
      }
    },
    async store() {
      const out: Record<string, unknown> = {};
      for (let after = ''; ; ) {
        const page = await broker.store.list(namespace, '', after, 1000);
        for (const i of page.items) out[i.key] = (JSON.parse(i.entry.json) as { value: unknown }).value;
        if (page.nextAfter === '') return out;
        after = page.nextAfter;
      }
    },
    close,
  };
}

/** One call of one method: loads the extension, invokes the method, closes. */
export async function invoke(file: string, method: string, opts: ExtensionKitOptions & InvokeRequest = {}): Promise<KitAnswer> {
  const ext = await loadExtension(file, opts);
  try {
    return await ext.invoke(method, opts);
  } finally {
    await ext.close();
  }
}

function lowerCase(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) out[k.toLowerCase()] = v;
  return out;
}
