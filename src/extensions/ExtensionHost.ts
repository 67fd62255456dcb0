import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { BrokerConfig, NamespaceSection } from '../config/schema.js';
import type { Broker } from '../core/Broker.js';
import { BrokerError } from '../core/BrokerError.js';
import { MAX_WAIT_SECS, waitOf } from '../core/options.js';
import type { EntryResult, ExtensionRequest, ExtensionResponse, ExtensionRunner } from '../core/types.js';
import type { Logger } from '../log/Logger.js';
import type { WatchBatch } from '../core/Store.js';
import type { Bundle } from './bundle.js';
import { watchFolder, type FolderWatch } from './folderWatch.js';
import { PackageWatches } from './packageWatches.js';
import type { RegistryCall, RegistryValue, WireBatch, WireEntry, WireResponse } from './protocol.js';
import { extensionCode, extensionWorker } from './runtime.js';
import { findSource, namespaceOfFile, namespaceProblem, namespacesIn, type ExtensionSource } from './sources.js';
import { typeCheck } from './typeCheck.js';
import { WorkerFactory } from './WorkerFactory.js';
import { WorkerSlot, type CallBounds, type CallMeta } from './WorkerSlot.js';

export interface ExtensionHostOptions {
  broker: Broker<BrokerConfig>;
  /** Extensions folders, in precedence order: a namespace found in an earlier folder wins. */
  dirs: string[];
  /** Reload on changes in the folders (chokidar). */
  watch: boolean;
  defaultTimeoutMs: number;
  /** A namespace's own time limit; default: its config section's `_timeout_secs`. */
  timeoutFor?: (namespace: string) => number | undefined;
  /** V8 heap limit of each extension worker in MB (0: Node's default). */
  memoryMb?: number;
  /** How long a file must stay unchanged before it is reloaded (write finished). */
  settleMs?: number;
  /** Development mode (`start --dev`, `--watch`): a failed call's stack goes to its caller. Never in production. */
  dev?: boolean;
  /** Folders under development (`start --watch`): their namespaces are callable without a configuration section. */
  openDirs?: string[];
  /** Told of every call and load (the metrics). */
  observer?: ExtensionObserver;
  log: Logger;
}

export interface ExtensionObserver {
  /** A call answered: `error` when it threw, crashed or answered 5xx; `timeout` when cut off at its time limit. */
  called(namespace: string, method: string, outcome: 'ok' | 'error' | 'timeout'): void;
  /** A version was loaded (`ok`) or failed to load. */
  loaded(namespace: string, ok: boolean): void;
  /** Development mode: its type check finished (its type errors changed, or not). */
  checked?(namespace: string): void;
}

export interface ExtensionInfo {
  namespace: string;
  file: string;
  methods: string[];
  /** Why the newest version on disk did not load (the last good one, if any, still serves). */
  error?: string;
  /** Served from a `--watch` folder: callable without a configuration section. */
  watched?: boolean;
  /** Which load of this namespace serves now: 1 for the first, one more for each reload. */
  version?: number;
  /** The first 12 hex digits of the SHA-256 of the bundled code that serves now. */
  codeHash?: string;
  /** When the serving version was loaded (ISO time). */
  loadedAt?: string;
  /** Files or folders of the same name in later extensions folders, which this one hides. */
  shadows?: string[];
  /** The namespace's last failure: a load, or a call that threw, crashed, timed out or answered 5xx. */
  lastError?: { message: string; at: string };
  /** Development mode: type errors found in its files when last saved (`file:line:col: TSnnnn: message`). */
  typeErrors?: string[];
}

interface Version {
  source: ExtensionSource;
  code: string;
  /** Folders of the npm packages it imports. */
  packageDirs: string[];
  methods: string[];
  number: number;
  hash: string;
  loadedAt: Date;
}

interface NamespaceState {
  namespace: string;
  /** The last version that loaded: what calls run. */
  version: Version | undefined;
  /** The worker serving `version`; started again on demand after a crash or a timeout. */
  slot: WorkerSlot | undefined;
  file: string;
  error: string | undefined;
  lastError: { message: string; at: Date } | undefined;
  reloading: Promise<void> | undefined;
  again: boolean;
  /** Load again even if the code is the same: a package it imports changed. */
  forced: boolean;
  /** What it hides in later folders (warned once for each change). */
  shadows: string[];
  /** Development mode: the type errors of its files, as of the last check. */
  typeErrors: string[];
}

/**
 * Loads extensions from folders, runs each version in its own worker thread, and swaps versions as files change.
 * Core reaches it only through ExtensionRunner.
 */
export class ExtensionHost implements ExtensionRunner {
  private readonly states = new Map<string, NamespaceState>();
  private readonly slots = new Set<WorkerSlot>();
  private readonly watchers: FolderWatch[] = [];
  private readonly debounces = new Map<string, NodeJS.Timeout>();
  private readonly dirs: string[];
  private readonly factory: WorkerFactory;
  private readonly packages: PackageWatches | undefined;
  private closed = false;

  constructor(private readonly opts: ExtensionHostOptions) {
    this.dirs = opts.dirs.map((d) => resolve(d));
    this.factory = new WorkerFactory(opts.memoryMb, true);
    if (opts.watch) {
      this.packages = new PackageWatches(
        (namespace) => this.packageChanged(namespace),
        (dir, err) => opts.log.warn('package folder watch error', { dir, err }),
      );
    }
  }

  /** Loads every extension found, then (with `watch`) follows changes. */
  async start(): Promise<void> {
    if (this.opts.watch) {
      for (const dir of this.dirs) {
        if (!existsSync(dir)) this.opts.log.warn('extensions folder does not exist (yet); watching for it', { dir });
        this.watchers.push(await this.watchDir(dir));
      }
    }
    const names = new Set<string>();
    for (const dir of this.dirs) for (const ns of namespacesIn(dir)) names.add(ns);
    await Promise.all([...names].map((ns) => this.reload(ns)));
  }

  hasNamespace(namespace: string): boolean {
    return this.states.get(namespace)?.version !== undefined;
  }

  hasMethod(namespace: string, method: string): boolean {
    if (method.startsWith('_')) return false;
    return this.states.get(namespace)?.version?.methods.includes(method) ?? false;
  }

  list(): ExtensionInfo[] {
    return [...this.states.values()]
      .sort((a, b) => (a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0))
      .map((s) => ({
        namespace: s.namespace,
        file: s.file,
        methods: s.version?.methods ?? [],
        ...(s.error !== undefined ? { error: s.error } : {}),
        ...(s.version
          ? { version: s.version.number, codeHash: s.version.hash, loadedAt: s.version.loadedAt.toISOString() }
          : {}),
        ...(s.lastError ? { lastError: { message: s.lastError.message, at: s.lastError.at.toISOString() } } : {}),
        ...(s.shadows.length > 0 ? { shadows: s.shadows } : {}),
        ...(this.inOpenDir(s.file) ? { watched: true } : {}),
        ...(s.typeErrors.length > 0 ? { typeErrors: s.typeErrors } : {}),
      }));
  }

  /** Worker threads running extension code now (old versions still finishing calls included; the spare excluded). */
  get liveWorkers(): number {
    return this.slots.size;
  }

  async call(req: ExtensionRequest): Promise<ExtensionResponse> {
    const st = this.states.get(req.namespace);
    if (!st?.version) throw new BrokerError('PERMISSION_DENIED', 'Unauthorized package');
    if (!this.hasMethod(req.namespace, req.method)) throw new BrokerError('PERMISSION_DENIED', 'Unauthorized method');
    const observer = this.opts.observer;
    let response: ExtensionResponse;
    try {
      const slot = await this.liveSlot(st, st.version);
      response = await slot.call(req.method, req.qs, req.requestingHost, this.configOf(req.namespace), this.timeoutMs(req.namespace), callMeta(req));
    } catch (err) {
      observer?.called(req.namespace, req.method, err instanceof BrokerError && err.code === 'DEADLINE_EXCEEDED' ? 'timeout' : 'error');
      st.lastError = { message: `${req.method}: ${err instanceof Error ? err.message : String(err)}`, at: new Date() };
      throw err;
    }
    observer?.called(req.namespace, req.method, response.status >= 500 ? 'error' : 'ok');
    if (response.status >= 500) st.lastError = { message: `${req.method}: answered ${response.status}`, at: new Date() };
    return { ...response, statusMessage: reasonPhrase(response.statusMessage) };
  }

  enabledByDevelopment(namespace: string): boolean {
    const st = this.states.get(namespace);
    return st?.version !== undefined && this.inOpenDir(st.version.source.path);
  }

  private inOpenDir(path: string): boolean {
    return path !== '' && (this.opts.openDirs ?? []).some((d) => path.startsWith(resolve(d) + sep));
  }

  explainRefusal(namespace: string, enabled: boolean): { reason: string; stack?: string } | undefined {
    if (!this.opts.dev || namespaceProblem(namespace) !== undefined) return undefined;
    const st = this.states.get(namespace);
    const name = JSON.stringify(namespace);
    if (!enabled && !(st && this.inOpenDir(st.file))) {
      return st
        ? { reason: `${name} is installed (${st.file}) but not enabled: add a section ${name} to the configuration` }
        : { reason: `${name} is not enabled in the configuration, and no extension of that name is installed` };
    }
    if (st?.error !== undefined && !st.version) return { reason: `${name} failed to load: ${firstLine(st.error)}`, stack: st.error };
    if (st?.reloading && !st.version) return { reason: `${name} is still loading` };
    return { reason: `${name} is enabled but not installed: no ${name} extension in ${this.dirs.join(', ')}` };
  }

  /** Namespaces being loaded for the first time: not callable until they are. */
  loading(): string[] {
    const out: string[] = [];
    for (const s of this.states.values()) if (s.reloading && !s.version) out.push(s.namespace);
    return out;
  }

  /** Loads the namespace again from disk now (what a file change does); resolves when done, whatever the outcome. */
  reload(namespace: string): Promise<void> {
    if (this.closed) return Promise.resolve();
    let st = this.states.get(namespace);
    if (!st) {
      st = { namespace, version: undefined, slot: undefined, file: '', error: undefined, lastError: undefined, reloading: undefined, again: false, forced: false, shadows: [], typeErrors: [] };
      this.states.set(namespace, st);
    }
    const state = st;
    if (state.reloading) {
      // Changes during a load are folded into one more load after it.
      state.again = true;
      return state.reloading;
    }
    state.reloading = (async () => {
      do {
        state.again = false;
        await this.loadOnce(state);
      } while (state.again && !this.closed);
    })().finally(() => {
      state.reloading = undefined;
      if (!state.version && state.error === undefined && this.states.get(state.namespace) === state) this.states.delete(state.namespace);
    });
    return state.reloading;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.debounces.values()) clearTimeout(t);
    await Promise.all(this.watchers.map((w) => w.close()));
    await this.packages?.close();
    await Promise.all([...this.states.values()].map((s) => s.reloading));
    await Promise.all([...this.slots].map((s) => s.terminate()));
    await this.factory.close();
  }

  private async loadOnce(st: NamespaceState): Promise<void> {
    const { log } = this.opts;
    const forced = st.forced;
    st.forced = false;
    const source = findSource(this.dirs, st.namespace);
    if (!source) {
      if (st.version) log.info('extension removed', { namespace: st.namespace, file: st.file });
      st.slot?.retire();
      st.slot = undefined;
      st.version = undefined;
      st.error = undefined;
      st.shadows = [];
      this.packages?.set(st.namespace, []);
      return;
    }
    st.file = source.path;
    this.noteShadows(st, source);
    this.checkTypes(st, source);
    let bundle: Bundle;
    try {
      bundle = await extensionCode(source);
    } catch (err) {
      this.packages?.set(st.namespace, this.packageFolders(source, st.version?.packageDirs ?? []));
      return this.loadFailed(st, source, err);
    }
    const { code, packageDirs } = bundle;
    this.packages?.set(st.namespace, this.packageFolders(source, packageDirs));
    if (!forced && st.version && st.version.code === code && st.version.source.entry === source.entry) {
      st.error = undefined;
      return;
    }
    const slot = this.newSlot(st.namespace, source, code);
    let methods: string[];
    try {
      methods = await slot.ready;
    } catch (err) {
      return this.loadFailed(st, source, err);
    }
    if (this.closed) return void slot.terminate();
    const previous = st.slot;
    const reloaded = st.version !== undefined;
    st.version = { source, code, packageDirs, methods, number: (st.version?.number ?? 0) + 1, hash: createHash('sha256').update(code).digest('hex').slice(0, 12), loadedAt: new Date() };
    st.slot = slot;
    st.error = undefined;
    // Calls in flight finish on the old version; it ends when they are answered.
    previous?.retire();
    this.opts.observer?.loaded(st.namespace, true);
    log.info(reloaded ? 'extension reloaded' : 'extension loaded', { namespace: st.namespace, file: source.path, methods });
  }

  /**
   * Development mode: a saved TypeScript extension in a watched folder is type-checked beside its load (which
   * goes ahead whatever the checker says), so `rh.status = "ok"` is reported when saved, not when called.
   */
  private checkTypes(st: NamespaceState, source: ExtensionSource): void {
    const root = (this.opts.openDirs ?? []).map((d) => resolve(d)).find((d) => source.path.startsWith(d + sep));
    if (!this.opts.dev || !root || !/\.[cm]?tsx?$/.test(source.entry)) return;
    typeCheck(source.entry, root).then(
      (result) => {
        if (!result || st.file !== source.path) return;
        const mine = result.errors.filter((e) => e.file === source.path || e.file.startsWith(source.path + sep));
        st.typeErrors = mine.map((e) => `${e.file}:${e.line}:${e.column}: ${e.message}`);
        if (mine.length > 0) {
          this.opts.log.warn('extension has type errors (it is loaded all the same)', { namespace: st.namespace, project: result.project, errors: st.typeErrors.slice(0, 20) });
        }
        this.opts.observer?.checked?.(st.namespace);
      },
      (err: unknown) => this.opts.log.warn('type check failed', { namespace: st.namespace, err }),
    );
  }

  /** A namespace found in several folders: the first serves; say so when what it hides changes. */
  private noteShadows(st: NamespaceState, source: ExtensionSource): void {
    const shadows: string[] = [];
    for (const dir of this.dirs) {
      const other = findSource([dir], st.namespace);
      if (other && other.path !== source.path) shadows.push(other.path);
    }
    if (shadows.join('\n') !== st.shadows.join('\n') && shadows.length > 0) {
      this.opts.log.warn('extension found in more than one folder: the first serves, the others are ignored', {
        namespace: st.namespace,
        serving: source.path,
        ignored: shadows,
      });
    }
    st.shadows = shadows;
  }

  /**
   * Where a change of packages shows: the node_modules folders its imports resolve from (from its own folder up
   * to the filesystem root: those of the extensions folder and below even before they exist), and the folders
   * of the packages it imports.
   */
  private packageFolders(source: ExtensionSource, packageDirs: readonly string[]): string[] {
    const root = this.dirs.find((d) => source.path === d || source.path.startsWith(d + sep)) ?? dirname(source.path);
    const out = new Set<string>(packageDirs);
    for (let dir = dirname(source.entry); ; dir = dirname(dir)) {
      const modules = join(dir, 'node_modules');
      const ownFolder = dir === root || dir.startsWith(root + sep);
      if (ownFolder || existsSync(modules)) out.add(modules);
      if (dirname(dir) === dir) break;
    }
    return [...out];
  }

  /** A package it imports was installed, updated or removed: load it again, once npm has finished. */
  private packageChanged(namespace: string): void {
    const st = this.states.get(namespace);
    if (!st) return;
    st.forced = true;
    this.schedule(namespace, 300);
  }

  private loadFailed(st: NamespaceState, source: ExtensionSource, err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    st.error = message;
    st.lastError = { message, at: new Date() };
    this.opts.observer?.loaded(st.namespace, false);
    this.opts.log.warn(
      st.version ? 'extension failed to load; the last good version keeps serving' : 'extension failed to load',
      { namespace: st.namespace, file: source.path, error: message },
    );
  }

  private newSlot(namespace: string, source: ExtensionSource, code: string): WorkerSlot {
    const slot = new WorkerSlot(
      { namespace, file: source.entry, code },
      {
        worker: extensionWorker(source.entry, this.factory),
        memoryMb: this.opts.memoryMb,
        loadTimeoutMs: Math.max(this.opts.defaultTimeoutMs, 5000),
        dev: this.opts.dev,
        registry: (call, host, bounds) => this.registryCall(namespace, call, host, bounds),
        log: this.opts.log,
        onUnhealthy: (s) => {
          const st = this.states.get(s.init.namespace);
          if (st?.slot === s) st.slot = undefined;
        },
      },
    );
    this.slots.add(slot);
    void slot.stopped.then(() => this.slots.delete(slot));
    return slot;
  }

  /** The worker for the namespace's last good version, started again if the previous one died or timed out. */
  private async liveSlot(st: NamespaceState, version: Version): Promise<WorkerSlot> {
    let slot = st.slot;
    if (!slot?.usable) {
      slot = this.newSlot(st.namespace, version.source, version.code);
      st.slot = slot;
    }
    try {
      await slot.ready;
      return slot;
    } catch (err) {
      if (st.slot === slot) st.slot = undefined;
      const why = err instanceof Error ? err.message : String(err);
      this.opts.log.error('extension worker could not be started', { namespace: st.namespace, error: why });
      throw new BrokerError('UNAVAILABLE', `Extension ${st.namespace} cannot be started`);
    }
  }

  private timeoutMs(namespace: string): number {
    const own = this.opts.timeoutFor ? this.opts.timeoutFor(namespace) : sectionTimeoutMs(this.opts.broker.settings[namespace]);
    return own !== undefined && own > 0 ? own : this.opts.defaultTimeoutMs;
  }

  private configOf(namespace: string): Record<string, unknown> {
    const { _access_key: _omit, ...rest } = this.opts.broker.settings[namespace] ?? {};
    return rest;
  }

  /** Watches of extension calls waiting in core now, over every worker (for status and tests). */
  get openWatches(): number {
    let n = 0;
    for (const s of this.slots) n += s.openWatches;
    return n;
  }

  /**
   * Registry and store access from a worker: the caller's address stamps the write; the access key is not asked
   * again. `namespace` is the worker's own (the host knows it): a store is reachable only from its extension.
   */
  private async registryCall(namespace: string, call: RegistryCall, requestingHost: string, bounds: CallBounds): Promise<RegistryValue> {
    const { broker } = this.opts;
    const { watch } = bounds;
    const ctx = { clientIp: requestingHost, trusted: true };
    // The message comes from the extension's thread: only text and numbers go on to core.
    const name = 'name' in call ? text(call.name) : undefined;
    const key = 'key' in call ? text(call.key) : undefined;
    switch (call.op) {
      case 'list': {
        const page = await broker.list(ctx, text(call.prefix) ?? '', text(call.after) ?? '', pageSizeOf(call.limit));
        return { entries: page.entries.map((r) => ({ name: r.entry.name, ...wireEntry(r)! })), nextAfter: page.nextAfter };
      }
      case 'call':
        return this.callOther(namespace, call, requestingHost, bounds.depth);
      case 'storeGet':
        return wireEntry(entryResult(await broker.store.get(namespace, key)));
      case 'storePut':
        return wireEntry({ entry: await broker.store.put(requestingHost, namespace, key, text(call.value), { ifRevision: option(call.ifRevision) }) });
      case 'storeDelete':
        return String(await broker.store.delete(namespace, key, { ifRevision: option(call.ifRevision) }));
      case 'storeList': {
        const page = await broker.store.list(namespace, text(call.prefix), text(call.after), pageSizeOf(call.limit));
        return { entries: page.items.map((i) => ({ name: i.key, ...wireEntry({ entry: i.entry })! })), nextAfter: page.nextAfter };
      }
      case 'get':
        return (await orUndefined(broker.get(ctx, name)))?.entry.json;
      case 'entry':
        return wireEntry(await orUndefined(broker.get(ctx, name)));
      case 'keepAlive':
        return wireEntry(await orUndefined(broker.keepAlive(ctx, name)));
      case 'register':
      case 'replace':
      case 'update': {
        const opts = { ttl: option(call.ttl), ifRevision: option(call.ifRevision) };
        return (await broker[call.op](ctx, name, text(call.data), opts)).entry.json;
      }
      case 'delete':
        return String(await broker.delete(ctx, name, { ifRevision: option(call.ifRevision) }));
      case 'watch': {
        // Core does not look at a signal that was aborted before the wait: its call has ended, nothing to wait for.
        if (!watch || watch.signal.aborted) return { events: [], revision: broker.registry.revision };
        const requested = call.waitSecs === undefined ? MAX_WAIT_SECS * 1000 : waitOf(option(call.waitSecs));
        const request = { name, prefix: text(call.prefix), after: option(call.afterRevision) };
        return wireBatch(await broker.waitForEvents(ctx, request, Math.min(requested, watch.budgetMs), watch.signal));
      }
      default:
        throw new BrokerError('INVALID_ARGUMENT', `Unknown registry operation ${String((call as { op?: unknown } | undefined)?.op)}`);
    }
  }

  /**
   * `rh.call`: another extension's method through core, with a client's checks (enabled namespace, public method,
   * the target's access key as the caller gives it), on behalf of the same requesting host.
   */
  private async callOther(namespace: string, call: Extract<RegistryCall, { op: 'call' }>, requestingHost: string, depth: number): Promise<WireResponse> {
    if (depth + 1 > MAX_CALL_DEPTH) throw new BrokerError('RESOURCE_EXHAUSTED', `Too many nested rh.call calls: at most ${MAX_CALL_DEPTH} deep`);
    const target = text(call.target) ?? '';
    const dot = target.indexOf('.');
    if (dot <= 0 || dot === target.length - 1) throw new BrokerError('INVALID_ARGUMENT', `rh.call: name the method as namespace.Method, not ${JSON.stringify(target)}`);
    const params: Record<string, string> = {};
    const given: unknown = call.params;
    if (given !== null && typeof given === 'object') {
      for (const [k, v] of Object.entries(given)) if (typeof v === 'string') params[k] = v;
    }
    const accessKey = text(call.accessKey) ?? params.access_key;
    const ctx = { clientIp: requestingHost, accessKey, request: { method: 'POST', headers: {}, calledBy: namespace, depth: depth + 1 } };
    const r = await this.opts.broker.execute(ctx, target.slice(0, dot), target.slice(dot + 1), params);
    return { status: r.status, statusMessage: r.statusMessage, contentType: r.contentType, body: r.body, headers: r.headers, errorBody: r.errorBody };
  }

  private watchDir(dir: string): Promise<FolderWatch> {
    const settle = this.opts.settleMs ?? 100;
    return watchFolder(dir, {
      options: {
        ignoreInitial: true,
        depth: 16,
        // Hidden files (editor swap files, install temp copies) and installed packages are not extension code.
        ignored: (p: string) => {
          const rel = relative(dir, p);
          return rel !== '' && rel.split(sep).some((seg) => seg.startsWith('.') || seg === 'node_modules');
        },
        awaitWriteFinish: { stabilityThreshold: settle, pollInterval: Math.max(10, Math.floor(settle / 4)) },
      },
      onEvent: (event, p) => this.onFsEvent(dir, event, p),
      onError: (err) => this.opts.log.warn('extensions folder watch error', { dir, err }),
    });
  }

  private onFsEvent(dir: string, event: string, p: string): void {
    const rel = relative(dir, p);
    if (rel === '') {
      // The folder itself came or went: look at everything again.
      const names = new Set([...this.states.keys(), ...namespacesIn(dir)]);
      for (const ns of names) this.schedule(ns);
      return;
    }
    const segs = rel.split(sep);
    const top = segs[0]!;
    const ns = segs.length > 1 || event === 'addDir' || event === 'unlinkDir' ? top : namespaceOfFile(top);
    if (ns === undefined || namespaceProblem(ns) !== undefined) return;
    this.schedule(ns);
  }

  /** Several events of one save (or of copying a package folder) become one reload. */
  private schedule(namespace: string, delayMs = 20): void {
    if (this.closed) return;
    clearTimeout(this.debounces.get(namespace));
    const timer = setTimeout(() => {
      this.debounces.delete(namespace);
      void this.reload(namespace);
    }, delayMs);
    timer.unref();
    this.debounces.set(namespace, timer);
  }
}

const firstLine = (s: string): string => s.split('\n', 1)[0] ?? s;
const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** `rh.call` chains: deep enough for real use, short of running a loop of calls until every time limit. */
export const MAX_CALL_DEPTH = 8;

/** The request as a worker gets it: headers as text (repeated ones joined, as Node joins most). */
function callMeta(req: ExtensionRequest): CallMeta {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.request?.headers ?? {})) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return { httpMethod: req.request?.method ?? 'POST', headers, calledBy: req.request?.calledBy, depth: req.request?.depth ?? 0 };
}
const option = (v: unknown): string | number | undefined => (typeof v === 'string' || typeof v === 'number' ? v : undefined);
/** A page size asked by an extension: a whole number, else the default (core bounds it). */
const pageSizeOf = (v: unknown): number => (typeof v === 'number' && Number.isSafeInteger(v) ? v : 0);
const entryResult = (entry: EntryResult['entry'] | undefined): EntryResult | undefined => (entry ? { entry } : undefined);

/** A read of an absent entry answers undefined, as `get` always has. */
async function orUndefined(p: Promise<EntryResult>): Promise<EntryResult | undefined> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof BrokerError && err.code === 'NOT_FOUND') return undefined;
    throw err;
  }
}

function wireEntry(r: EntryResult | undefined): WireEntry | undefined {
  if (!r) return undefined;
  const { entry } = r;
  return {
    json: entry.json,
    createRevision: entry.createRevision,
    modRevision: entry.modRevision,
    ...(r.ttl !== undefined ? { ttl: r.ttl } : {}),
    lastWriteIp: entry.lastWriteIp,
    lastWriteTs: entry.lastWriteTs,
  };
}

function wireBatch(batch: WatchBatch): WireBatch {
  return {
    events: batch.events.map((e) => ({ type: e.type, name: e.name, revision: e.revision, ...(e.entry ? { json: e.entry.json } : {}) })),
    revision: batch.revision,
  };
}

function sectionTimeoutMs(section: NamespaceSection | undefined): number | undefined {
  const secs = section?._timeout_secs;
  return secs === undefined ? undefined : secs * 1000;
}

/** Node refuses reason phrases with control characters (and the broker would then answer nothing). */
function reasonPhrase(text: string): string {
  return text.replace(/[^\t\x20-\x7e\x80-\xff]/g, ' ');
}

export async function createExtensionHost(opts: ExtensionHostOptions): Promise<ExtensionHost> {
  const host = new ExtensionHost(opts);
  try {
    await host.start();
  } catch (err) {
    await host.close();
    throw err;
  }
  return host;
}
