import { BrokerError } from '../core/BrokerError.js';
import type { ExtensionResponse } from '../core/types.js';
import type { Logger } from '../log/Logger.js';
import { ExtensionLoadError } from './bundle.js';
import { headerProblem, isAnswerStatus, type FromWorker, type RegistryCall, type RegistryValue, type ToWorker, type WorkerInit } from './protocol.js';

/** How long a watch may wait (what its call has left), and what ends it sooner (its call ending). */
export interface WatchBounds {
  budgetMs: number;
  signal: AbortSignal;
}

/** What the broker knows of the call an operation belongs to. */
export interface CallBounds {
  /** A watch's wait (watches only). */
  watch?: WatchBounds;
  /** How deep in `rh.call`s the asking call is (0: a client's call). */
  depth: number;
}

export type RegistryBridge = (call: RegistryCall, requestingHost: string, bounds: CallBounds) => Promise<RegistryValue>;

/** The request of one call, as the method sees it besides its parameters. */
export interface CallMeta {
  httpMethod: string;
  headers: Record<string, string>;
  calledBy?: string | undefined;
  depth: number;
}

/** The time a method has between its `rh.signal` (and its watches' end) and its time limit. */
export function graceMs(timeoutMs: number): number {
  return Math.min(1000, timeoutMs / 10);
}

/** Watches one call may have open at once: each holds a watcher in core until it answers. */
export const MAX_WATCHES_PER_CALL = 100;

/** What a slot drives: a worker thread (see WorkerFactory), or a process speaking the same messages (a Python one). */
export interface ExtensionWorker {
  on(event: 'message', listener: (msg: FromWorker) => void): unknown;
  on(event: 'error', listener: (err: Error & { code?: string }) => void): unknown;
  on(event: 'exit', listener: (code: number) => void): unknown;
  postMessage(msg: ToWorker): void;
  terminate(): Promise<unknown>;
}

export interface SlotOptions {
  /** A fresh worker. */
  worker: ExtensionWorker;
  /** Shown in the out-of-memory message. */
  memoryMb?: number | undefined;
  /** How long loading (top-level code) may take. */
  loadTimeoutMs: number;
  registry: RegistryBridge;
  log: Logger;
  /** Development mode: a failed call's stack goes to the caller with its error. */
  dev?: boolean | undefined;
  /** The worker stopped by itself (crash, out of memory, process.exit) or a call ran out of time: stop using it. */
  onUnhealthy: (slot: WorkerSlot) => void;
}

interface PendingCall {
  resolve: (r: ExtensionResponse) => void;
  reject: (e: BrokerError) => void;
  timer: NodeJS.Timeout;
  /** Aborts the call's `rh.signal` a grace period before `timer`. */
  abortTimer: NodeJS.Timeout;
  depth: number;
  method: string;
  caller: string;
  started: number;
  /** When its time limit ends (performance.now() clock). */
  deadline: number;
  timeoutMs: number;
  /** Its watches still waiting: closed when the call ends, however it ends. */
  watches: Set<AbortController>;
}

type SlotState = 'loading' | 'ready' | 'retired' | 'stopped';

const LOG_LEVELS: ReadonlySet<string> = new Set(['debug', 'info', 'warn', 'error']);

/** An answer the transports can send: a final status (see isAnswerStatus) and text fields. */
function isWireResponse(r: ExtensionResponse): boolean {
  return (
    isAnswerStatus(r.status) &&
    typeof r.statusMessage === 'string' &&
    typeof r.contentType === 'string' &&
    (typeof r.body === 'string' || r.body instanceof Uint8Array) &&
    (r.headers === undefined || (Array.isArray(r.headers) && r.headers.every((h) => Array.isArray(h) && headerProblem(h[0], h[1]) === undefined))) &&
    (r.errorBody === undefined || r.errorBody === 'data')
  );
}

/**
 * One worker thread running one version of one extension. Calls run concurrently in it (async methods
 * interleave). Retiring it lets the calls in flight finish, then terminates it.
 */
export class WorkerSlot {
  private readonly worker: ExtensionWorker;
  /** Every line about this worker names its extension. */
  private readonly log: Logger;
  private readonly pending = new Map<number, PendingCall>();
  private nextId = 1;
  private state: SlotState = 'loading';
  private exitReason: string | undefined;
  /** Resolves once the thread has exited. */
  readonly stopped: Promise<void>;
  /** The public methods, once loaded; rejects with ExtensionLoadError. */
  readonly ready: Promise<string[]>;

  constructor(
    readonly init: WorkerInit,
    private readonly opts: SlotOptions,
  ) {
    const memoryMb = opts.memoryMb;
    this.worker = opts.worker;
    this.log = opts.log.child({ namespace: init.namespace });
    let resolveStopped!: () => void;
    this.stopped = new Promise((r) => (resolveStopped = r));
    this.ready = new Promise<string[]>((resolve, reject) => {
      const loadTimer = setTimeout(() => {
        reject(new ExtensionLoadError(`${init.file}: did not finish loading within ${opts.loadTimeoutMs / 1000} s`));
        void this.terminate();
      }, opts.loadTimeoutMs);
      loadTimer.unref();
      this.worker.on('message', (msg: FromWorker) => {
        if (msg.type === 'ready') {
          clearTimeout(loadTimer);
          if (this.state === 'loading') this.state = 'ready';
          resolve(msg.methods);
        } else if (msg.type === 'loadError') {
          clearTimeout(loadTimer);
          reject(new ExtensionLoadError(msg.message));
          void this.terminate();
        } else {
          try {
            this.onMessage(msg);
          } catch (err) {
            // Only our worker code posts here, but the extension shares its thread: nothing it sends may throw here.
            this.log.warn('extension worker sent a malformed message', { err });
          }
        }
      });
      this.worker.on('error', (err: Error & { code?: string }) => {
        this.exitReason =
          err.code === 'ERR_WORKER_OUT_OF_MEMORY'
            ? `Extension ${init.namespace} ran out of memory${memoryMb ? ` (limit ${memoryMb} MB)` : ''}`
            : `Extension ${init.namespace} crashed: ${err.message}`;
        if (this.state === 'loading') reject(new ExtensionLoadError(`${init.file}: ${err.stack ?? err.message}`));
      });
      this.worker.on('exit', (code) => {
        clearTimeout(loadTimer);
        const unexpected = this.state !== 'stopped';
        const reason = this.exitReason ?? `Extension ${init.namespace} worker exited (code ${code})`;
        if (this.state === 'loading') reject(new ExtensionLoadError(`${init.file}: ${reason}`));
        this.state = 'stopped';
        for (const p of this.pending.values()) {
          clearTimeout(p.timer);
          clearTimeout(p.abortTimer);
          closeWatches(p);
          const message = unexpected ? reason : `Extension ${init.namespace} was stopped`;
          this.logFailure(p, message, undefined);
          p.reject(new BrokerError('INTERNAL', message));
        }
        this.pending.clear();
        resolveStopped();
        if (unexpected) {
          this.log.warn('extension worker stopped unexpectedly; a fresh one serves the next call', { reason });
          opts.onUnhealthy(this);
        }
      });
    });
    // Nobody may be waiting yet; the rejection is handled by whoever awaits `ready`.
    this.ready.catch(() => undefined);
    const msg: ToWorker = { type: 'init', init };
    this.worker.postMessage(msg);
  }

  get inFlight(): number {
    return this.pending.size;
  }

  get usable(): boolean {
    return this.state === 'loading' || this.state === 'ready';
  }

  call(method: string, qs: Record<string, string>, requestingHost: string, config: Record<string, unknown>, timeoutMs: number, meta: CallMeta): Promise<ExtensionResponse> {
    if (!this.usable) return Promise.reject(new BrokerError('UNAVAILABLE', `Extension ${this.init.namespace} is restarting`));
    const id = this.nextId++;
    return new Promise<ExtensionResponse>((resolve, reject) => {
      const abortTimer = setTimeout(() => this.reply({ type: 'abort', id }), Math.max(0, timeoutMs - graceMs(timeoutMs)));
      const timer = setTimeout(() => {
        const p = this.pending.get(id);
        this.pending.delete(id);
        if (p) closeWatches(p);
        reject(new BrokerError('DEADLINE_EXCEEDED', `Extension method ${this.init.namespace}.${method} exceeded its time limit of ${timeoutMs / 1000} s`));
        // The only way to stop JavaScript that may be spinning is to end its thread: no new calls go here.
        this.log.warn('extension call timed out; replacing its worker', { method, caller: requestingHost, timeoutMs });
        this.opts.onUnhealthy(this);
        this.retire();
      }, timeoutMs);
      const started = performance.now();
      this.pending.set(id, { resolve, reject, timer, abortTimer, depth: meta.depth, method, caller: requestingHost, started, deadline: started + timeoutMs, timeoutMs, watches: new Set() });
      const msg: ToWorker = { type: 'call', id, method, qs, requestingHost, config, httpMethod: meta.httpMethod, headers: meta.headers, calledBy: meta.calledBy };
      this.worker.postMessage(msg);
    });
  }

  /** No new calls; terminates once the calls in flight are answered (each is bounded by its time limit). */
  retire(): void {
    if (this.state === 'stopped') return;
    this.state = 'retired';
    if (this.pending.size === 0) void this.terminate();
  }

  terminate(): Promise<void> {
    if (this.state !== 'stopped') {
      this.state = 'stopped';
      void this.worker.terminate();
    }
    return this.stopped;
  }

  private settle(id: number, outcome: { response: ExtensionResponse } | { message: string; stack: string | undefined }): void {
    const p = this.pending.get(id);
    if (!p) return; // already answered (timed out)
    this.pending.delete(id);
    clearTimeout(p.timer);
    clearTimeout(p.abortTimer);
    closeWatches(p);
    if ('response' in outcome && isWireResponse(outcome.response)) p.resolve(outcome.response);
    else {
      // The worker checks rh.status too; this side decides, whatever runs in the worker.
      const { message, stack } =
        'response' in outcome ? { message: `Extension ${this.init.namespace}.${p.method} gave an answer that cannot be sent`, stack: undefined } : outcome;
      this.logFailure(p, message, stack);
      p.reject(new BrokerError('INTERNAL', message, this.opts.dev && stack !== undefined ? { stack } : {}));
    }
    if (this.state === 'retired' && this.pending.size === 0) void this.terminate();
  }

  /** Every failed call reaches the broker's log, with what the extension threw and where. */
  private logFailure(p: PendingCall, error: string, stack: string | undefined): void {
    this.log.error('extension call failed', {
      method: p.method,
      caller: p.caller,
      durationMs: Math.round(performance.now() - p.started),
      error,
      ...(stack !== undefined ? { stack } : {}),
    });
  }

  private onMessage(msg: FromWorker): void {
    switch (msg.type) {
      case 'result':
        this.settle(msg.id, { response: msg.response });
        return;
      case 'failure':
        this.settle(msg.id, { message: typeof msg.message === 'string' ? msg.message : 'Extension call failed', stack: typeof msg.stack === 'string' ? msg.stack : undefined });
        return;
      case 'registry':
        this.registryCall(msg.callId, msg.call, msg.requestingHost).then(
          (value) => this.reply({ type: 'registryReply', id: msg.id, ok: true, value }),
          (err: unknown) => {
            const e = BrokerError.from(err);
            if (BrokerError.isUnexpected(err)) this.log.error('extension registry call failed', { err });
            const error = { code: e.code, message: e.message, ...(e.details.revision !== undefined ? { revision: e.details.revision } : {}) };
            this.reply({ type: 'registryReply', id: msg.id, ok: false, error });
          },
        );
        return;
      case 'log':
        if (!LOG_LEVELS.has(msg.level)) return;
        this.log[msg.level](typeof msg.message === 'string' ? msg.message : 'extension log', ownFields(msg.fields));
        return;
      default:
        return;
    }
  }

  /**
   * A watch belongs to a call still running: it waits no longer than the call may, and ends with it. A call of
   * another extension is as deep as the call that makes it, plus one (counted here: the worker is not asked).
   */
  private async registryCall(callId: number, call: RegistryCall, requestingHost: string): Promise<RegistryValue> {
    const p = this.pending.get(callId);
    if (call?.op === 'call') {
      if (!p) throw new BrokerError('DEADLINE_EXCEEDED', `rh.call after its call ended: ${this.init.namespace} methods call others only while their call runs`);
      return this.opts.registry(call, requestingHost, { depth: p.depth });
    }
    if (call?.op !== 'watch') return this.opts.registry(call, requestingHost, { depth: p?.depth ?? 0 });
    if (!p) throw new BrokerError('DEADLINE_EXCEEDED', `Watch after its call ended: ${this.init.namespace} methods watch only while their call runs`);
    if (p.watches.size >= MAX_WATCHES_PER_CALL) {
      throw new BrokerError('RESOURCE_EXHAUSTED', `Too many watches in one call: at most ${MAX_WATCHES_PER_CALL} at once`);
    }
    // The method gets the last second (a tenth of a short limit) to answer after its watch ends.
    const headroom = graceMs(p.timeoutMs);
    const budgetMs = Math.max(0, Math.floor(p.deadline - headroom - performance.now()));
    const watch = new AbortController();
    p.watches.add(watch);
    try {
      return await this.opts.registry(call, requestingHost, { watch: { budgetMs, signal: watch.signal }, depth: p.depth });
    } finally {
      p.watches.delete(watch);
    }
  }

  /** Watches of calls in flight, waiting in core now (for status and tests). */
  get openWatches(): number {
    let n = 0;
    for (const p of this.pending.values()) n += p.watches.size;
    return n;
  }

  private reply(msg: ToWorker): void {
    if (this.state !== 'stopped') this.worker.postMessage(msg);
  }
}

/** The line's own keys, which an extension's fields may not replace. */
const LINE_KEYS: ReadonlySet<string> = new Set(['level', 'time', 'pid', 'msg', 'namespace']);

/** An extension's log fields, under their own names unless they would replace one of the line's. */
function ownFields(fields: unknown): Record<string, unknown> | undefined {
  if (typeof fields !== 'object' || fields === null) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) out[LINE_KEYS.has(k) ? `field_${k}` : k] = v;
  return out;
}

function closeWatches(p: PendingCall): void {
  for (const w of p.watches) w.abort();
  p.watches.clear();
}
