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
  | { op: 'storeDelete'; key: string; ifRevision?: Option };

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
 * storeDelete: 'true'/'false'.
 */
export type RegistryValue = string | WireEntry | WireBatch | WireList | undefined;

export interface RegistryReplyMessage {
  type: 'registryReply';
  id: number;
  ok: boolean;
  value?: RegistryValue;
  /** `revision`: the entry's current revision when a compare-and-swap failed. */
  error?: { code: string; message: string; revision?: number | undefined };
}

export type ToWorker = { type: 'init'; init: WorkerInit } | CallMessage | RegistryReplyMessage;

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
  body: string;
}

export type FromWorker =
  | { type: 'ready'; methods: string[] }
  | { type: 'loadError'; message: string }
  | { type: 'result'; id: number; response: WireResponse }
  | { type: 'failure'; id: number; message: string; stack?: string | undefined }
  /** `callId`: the call whose `rh` asked; a watch lives no longer than that call. */
  | { type: 'registry'; id: number; callId: number; requestingHost: string; call: RegistryCall }
  | { type: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; message: string; fields?: Record<string, unknown> | undefined };
