/** Messages between the extension host (main thread) and an extension worker. Structured-clone safe only. */

/** The first message a worker gets: what to load. */
export interface WorkerInit {
  namespace: string;
  /** The extension's entry file, for messages and stack traces. */
  file: string;
  /** The bundled ES module text of this version. */
  code: string;
}

export interface CallMessage {
  type: 'call';
  id: number;
  method: string;
  qs: Record<string, string>;
  requestingHost: string;
  config: Record<string, unknown>;
  /** `rh.httpMethod`, `rh.requestHeaders` and `rh.calledBy`. */
  httpMethod: string;
  headers: Record<string, string>;
  calledBy?: string | undefined;
}

/** The call's time limit is near: its `rh.signal` aborts, and the method has the rest to finish. */
export interface AbortMessage {
  type: 'abort';
  id: number;
}

/** An option as the extension gave it: core checks it (text or a number, as the legacy API sends them). */
type Option = string | number | undefined;

/** A registry operation asked by an extension. */
export type RegistryCall =
  | { op: 'get' | 'entry' | 'keepAlive'; name: string }
  | { op: 'register' | 'replace' | 'update'; name: string; data: string | undefined; ttl?: Option; ifRevision?: Option }
  | { op: 'delete'; name: string; ifRevision?: Option }
  | { op: 'watch'; name?: string | undefined; prefix?: string | undefined; afterRevision?: Option; waitSecs?: Option }
  | { op: 'list' | 'storeList'; prefix?: string | undefined; after?: string | undefined; limit?: Option }
  | { op: 'storeGet'; key: string }
  | { op: 'storePut'; key: string; value: string | undefined; ifRevision?: Option }
  | { op: 'storeDelete'; key: string; ifRevision?: Option }
  /** `rh.call`: another extension's method, as `ns.Method`, through the broker's checks. */
  | { op: 'call'; target: string; params: Record<string, string>; accessKey?: string | undefined };

/** An entry with its revisions and lease, as `entry` and `keepAlive` answer it. */
export interface WireEntry {
  /** The stored data object text. */
  json: string;
  createRevision: number;
  modRevision: number;
  /** Seconds left on its lease; absent without one. */
  ttl?: number | undefined;
  lastWriteIp: string;
  lastWriteTs: number;
}

export interface WireEvent {
  type: 'put' | 'delete' | 'expire';
  name: string;
  revision: number;
  /** The entry's data object text (put only). */
  json?: string | undefined;
}

export interface WireBatch {
  events: WireEvent[];
  revision: number;
}

/** A page of `list` (entries by name) or `storeList` (name: the key). */
export interface WireList {
  entries: Array<WireEntry & { name: string }>;
  /** Empty on the last page. */
  nextAfter: string;
}

/**
 * What an operation answers. get/register/replace/update: the stored data object text (get: undefined when
 * absent); delete: 'true'/'false'; entry/keepAlive/storeGet/storePut: a WireEntry or undefined; watch: a WireBatch; list/storeList: a WireList;
 * storeDelete: 'true'/'false'; call: the WireResponse of the method called.
 */
export type RegistryValue = string | WireEntry | WireBatch | WireList | WireResponse | undefined;

export interface RegistryReplyMessage {
  type: 'registryReply';
  id: number;
  ok: boolean;
  value?: RegistryValue;
  /** `revision`: the entry's current revision when a compare-and-swap failed. */
  error?: { code: string; message: string; revision?: number | undefined };
}

export type ToWorker = { type: 'init'; init: WorkerInit } | CallMessage | AbortMessage | RegistryReplyMessage;

/**
 * What `rh.status` may hold: a final status an HTTP/1.1 answer can carry with this broker's reply. 1xx are interim
 * (a client waits on for the final answer that never comes).
 */
export function isAnswerStatus(status: unknown): status is number {
  return typeof status === 'number' && Number.isInteger(status) && status >= 200 && status <= 599;
}

export interface WireResponse {
  status: number;
  statusMessage: string;
  contentType: string;
  /** Bytes when the method answered a Buffer or Uint8Array. */
  body: string | Uint8Array;
  headers?: Array<[string, string]> | undefined;
  errorBody?: 'data' | undefined;
}

/** Response headers the broker sets itself: a method sets its type with `rh.contentType`, never its framing. */
const OWN_HEADERS: ReadonlySet<string> = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'content-type', 'trailer']);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Visible ASCII, Latin-1 and inner spaces and tabs: what Node writes as a header value. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Why a response header cannot be sent, or undefined when it can. Checked in the worker and again in the broker. */
export function headerProblem(name: unknown, value: unknown): string | undefined {
  if (typeof name !== 'string' || !TOKEN.test(name)) return `invalid header name ${JSON.stringify(String(name))}`;
  if (OWN_HEADERS.has(name.toLowerCase())) return `header ${name} is set by the broker (use rh.contentType for the type)`;
  if (typeof value !== 'string' || !FIELD_VALUE.test(value)) return `invalid value of header ${name}`;
  return undefined;
}

export type FromWorker =
  | { type: 'ready'; methods: string[] }
  | { type: 'loadError'; message: string }
  | { type: 'result'; id: number; response: WireResponse }
  | { type: 'failure'; id: number; message: string; stack?: string | undefined }
  /** `callId`: the call whose `rh` asked; a watch lives no longer than that call. */
  | { type: 'registry'; id: number; callId: number; requestingHost: string; call: RegistryCall }
  | { type: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; message: string; fields?: Record<string, unknown> | undefined };
