/**
 * Types for extension authors: `import type { RequestHandler } from 'bpbroker/extension'`.
 *
 * An extension is a module whose exported functions are RPC methods, called as `/{namespace}/{Method}/`
 * (namespace = the file name without extension). Names starting with `_` are private.
 *
 * ```ts
 * import type { RequestHandler } from 'bpbroker/extension';
 * export async function Test(rh: RequestHandler) {
 *   rh.data = { qs: rh.qs, from: rh.requestingHost() };
 * }
 * ```
 */

/** A registry entry as stored: the data members plus the writer's stamps. */
export interface RegistryData {
  [member: string]: unknown;
  last_write_ip: string;
  last_write_ts: number;
}

/** Options of register, replace and update. */
export interface WriteOptions {
  /**
   * Lease in seconds (1 to 86,400): the entry is deleted (an `expire` event) when that long passes without a
   * write with `ttl` or a `keepAlive`. 0 removes the lease; absent keeps the entry's lease as it is.
   */
  ttl?: number;
  /** Compare-and-swap: write only if the entry is at this revision; 0: only if it does not exist. */
  ifRevision?: number;
}

/** Options of delete (and of `rh.store.put`). */
export interface DeleteOptions {
  /** Compare-and-swap: write or delete only if the entry is at this revision (0: only if it does not exist). */
  ifRevision?: number;
}

/** An entry with its revisions and lease. */
export interface RegistryEntry {
  data: RegistryData;
  /** Revision of its latest write: what `ifRevision` compares with. */
  revision: number;
  /** Revision at which it was created (it survives updates, not deletes). */
  createRevision: number;
  /** Seconds left on its lease; absent when it has none. */
  ttl?: number;
  lastWriteIp: string;
  /** Seconds since the epoch. */
  lastWriteTs: number;
}

/** One name, or every name starting with a prefix (empty: every entry). */
export type WatchFilter = { name: string } | { prefix: string };

export interface WatchOptions {
  /** Events after this revision; default: the newest, so only what changes from now. */
  afterRevision?: number;
  /**
   * Longest wait in seconds for a first event (at most 300); default: as long as the call may still run. The
   * wait always ends a second (a tenth of the call's time limit, if less) before the call's time limit.
   */
  waitSecs?: number;
}

/** A change to a watched entry. */
export interface WatchEvent {
  type: 'put' | 'delete' | 'expire';
  name: string;
  revision: number;
  /** The entry as written (put only). */
  data?: RegistryData;
}

export interface WatchResult {
  /** In revision order, at most 1,000; empty when the wait ended without a change. */
  events: WatchEvent[];
  /** Every matching change up to here was delivered: watch again with `afterRevision` = this. */
  revision: number;
}

/** Options of the `list` calls: pages in name (key) order. */
export interface ListOptions {
  /** Start after this name (key): the `nextAfter` of the page before. */
  after?: string;
  /** Entries in one page: 1 to 1,000, default 100 (a page also stops at about 1 MiB of entries). */
  limit?: number;
}

/** One page of `rh.registry.list`. */
export interface RegistryList {
  /** In name order. */
  entries: Array<RegistryEntry & { name: string }>;
  /** Present when more entries match: pass it as `after` for the next page. */
  nextAfter?: string;
}

/**
 * What registry, store and `rh.call` calls reject with: an `Error` whose `code` is the broker's error code (`ALREADY_EXISTS`,
 * `INVALID_ARGUMENT`, ...). A failed compare-and-swap has code `FAILED_PRECONDITION`, the message
 * `Revision mismatch: NAME is at revision M` and `revision` = M (0 when the entry does not exist).
 */
export interface RegistryError extends Error {
  code: string;
  revision?: number;
}

/**
 * The broker's registry (namespace `services`), reached from inside an extension. Writes are stamped with the
 * requesting host's address and are durable when the promise resolves. Failures reject with a RegistryError.
 */
export interface ExtensionRegistry {
  /** The entry, or undefined when there is none. */
  get(name: string): Promise<RegistryData | undefined>;
  /** Creates the entry; rejects with code `ALREADY_EXISTS` when it exists. `data`: an object, or text as a client sends it. */
  register(name: string, data: Record<string, unknown> | string, options?: WriteOptions): Promise<RegistryData>;
  /** The new data replaces the old entirely. */
  replace(name: string, data: Record<string, unknown> | string, options?: WriteOptions): Promise<RegistryData>;
  /** Creates the entry, or merges the new members into it (shallow). */
  update(name: string, data: Record<string, unknown> | string, options?: WriteOptions): Promise<RegistryData>;
  /** Removes the entry; resolves true when it existed. */
  delete(name: string, options?: DeleteOptions): Promise<boolean>;
  /** The entry with its revision and lease, or undefined when there is none. */
  entry(name: string): Promise<RegistryEntry | undefined>;
  /** Renews the entry's lease (its `ttl` is then the full TTL); undefined when it is absent or has no lease. */
  keepAlive(name: string): Promise<RegistryEntry | undefined>;
  /**
   * One long-poll: resolves as soon as a change after `afterRevision` exists, or with no events when the wait
   * ends. Continue from the answer's `revision`. Rejects with `OUT_OF_RANGE` when that revision is older than
   * the history the broker keeps (read the entry, then watch from its revision). The watch ends with its call.
   */
  watch(filter: WatchFilter, options?: WatchOptions): Promise<WatchResult>;
  /** Entries whose name starts with `prefix` (default: every entry), a page at a time. */
  list(prefix?: string, options?: ListOptions): Promise<RegistryList>;
}

/** A value of `rh.store` with its revisions. */
export interface StoreEntry {
  key: string;
  /** The value as put, after a JSON round trip. */
  value: unknown;
  /** Revision of its latest write: what `ifRevision` compares with. */
  revision: number;
  /** Revision at which it was created (it survives updates, not deletes). */
  createRevision: number;
}

/** One page of `rh.store.list`. */
export interface StoreList {
  /** In key order. */
  entries: StoreEntry[];
  /** Present when more keys match: pass it as `after` for the next page. */
  nextAfter?: string;
}

/**
 * The extension's private durable keyspace: only this extension (namespace) reads and writes it. It lives in the
 * broker's registry (journal, bpbroker.json, the same limits and revisions) and survives restarts and reloads,
 * but the registry API (legacy, gRPC, `rh.registry`, discovery) never shows it. Failures reject with a
 * RegistryError (a failed compare-and-swap: `FAILED_PRECONDITION` with `revision`).
 */
export interface ExtensionStore {
  /** The value, or undefined when the key is absent. */
  get(key: string): Promise<unknown>;
  /** The value with its revisions, or undefined. */
  entry(key: string): Promise<StoreEntry | undefined>;
  /** Stores any JSON-serializable value; durable when the promise resolves. `ifRevision`: compare-and-swap (0: only if absent). */
  put(key: string, value: unknown, options?: DeleteOptions): Promise<StoreEntry>;
  /** Removes the key; resolves true when it existed. */
  delete(key: string, options?: DeleteOptions): Promise<boolean>;
  /** Keys starting with `prefix` (default: every key), a page at a time. */
  list(prefix?: string, options?: ListOptions): Promise<StoreList>;
}

export interface ExtensionLog {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** The one argument of every extension method: the request, the response being built, and the broker. */
export interface RequestHandler {
  /** The extension's namespace and the method called. */
  readonly namespace: string;
  readonly method: string;
  /** The request's parameters (query string and form body, merged), including `access_key` when sent. */
  readonly qs: Readonly<Record<string, string>>;
  /** The caller's address (IPv4 as text when it is one). */
  requestingHost(): string;
  /** Alias of `requestingHost()`, the name the original Python broker used. */
  RequestingHost(): string;
  /**
   * The request's HTTP method: GET, POST or DELETE over the legacy API (they call the same method); POST over
   * gRPC Execute and for a call from another extension (`rh.call`).
   */
  readonly httpMethod: string;
  /**
   * The request's headers, names in lower case (repeated ones joined with `, `). Over gRPC Execute: the call's
   * metadata, without `access-key`. Empty for a call from another extension.
   */
  readonly requestHeaders: Readonly<Record<string, string>>;
  /** The namespace of the extension that called this method with `rh.call`; undefined for a client's call. */
  readonly calledBy: string | undefined;
  /**
   * Aborted shortly before the call's time limit (a second before it, a tenth of it when the limit is under ten
   * seconds; reason: a `TimeoutError` DOMException). Stop work, release what you hold and return in that time:
   * at the limit the caller gets 504 and the worker running the method is replaced (stopped once its other calls
   * are answered). Pass it on: `fetch(url, { signal: rh.signal })`.
   */
  readonly signal: AbortSignal;
  /**
   * HTTP status of the answer: an integer from 200 to 599, default 200 (anything else answers 500). Anything but
   * 2xx answers `{"success": false, "message": statusMessage}` (unless `errorBody` is `'data'`); 204, 205 and 304
   * are sent without content.
   */
  status: number;
  /** Reason phrase and message when `status` is not 2xx. */
  statusMessage: string;
  /** Alias of `statusMessage`, the name the original Python broker used. */
  status_message: string;
  /**
   * The response body: a string is sent as it is; a Buffer, Uint8Array or ArrayBuffer as bytes (content type
   * `application/octet-stream` unless `contentType` says otherwise); any other value as JSON. When a method
   * returns a value other than undefined and did not set `data`, the returned value is used.
   */
  data: unknown;
  /** Content type of the answer; default `Application/json`. */
  contentType: string;
  /**
   * What a non-2xx answer carries: `'legacy'` (default) the legacy failure JSON
   * `{"success": false, "message": statusMessage, "data": {}}`, as old clients expect; `'data'`: `rh.data` with
   * `contentType`, like a 2xx (for an error page, a JSON problem document, a redirect's body).
   */
  errorBody: 'legacy' | 'data';
  /**
   * Response headers to send: name to value (an array sends one header line per element). The broker sets
   * Content-Type (from `contentType`), Content-Length and the connection headers itself; those are refused.
   */
  responseHeaders: Record<string, string | number | readonly string[]>;
  /** Sets a response header, replacing one of the same name in any case; `Content-Type` sets `contentType`. Throws on an invalid name or value. */
  setHeader(name: string, value: string | number | readonly string[]): void;
  /** A redirect: sets `status` (default 302), the `Location` header, and `errorBody = 'data'` (the body is `data`, empty by default). */
  redirect(location: string, status?: number): void;
  /** The extension's configuration section (the top-level key named like the namespace), without `_access_key`. */
  readonly config: Readonly<Record<string, unknown>>;
  readonly registry: ExtensionRegistry;
  /** This extension's private durable keyspace. */
  readonly store: ExtensionStore;
  /**
   * Calls a method of another extension (or of this one) through the broker, with the checks a client's call
   * gets: the namespace must be enabled, the method public, and the target's `_access_key` (when it has one)
   * must be given as `options.accessKey`. The called method sees this call's requesting host, `calledBy` set to
   * this namespace, and its own time limit. Resolves with the answer whatever its status (a 404 the method set
   * is an answer); rejects with a RegistryError when the broker refuses or the method fails: `PERMISSION_DENIED`
   * (not enabled, no such method), `UNAUTHENTICATED` (access key), `INTERNAL` (it threw), `DEADLINE_EXCEEDED`,
   * `RESOURCE_EXHAUSTED` (calls nested more than 8 deep).
   */
  call(target: `${string}.${string}`, params?: Record<string, unknown>, options?: CallOptions): Promise<CallResult>;
  /**
   * Lines in the broker's log, tagged with the namespace. With console output, at most about 1,000 lines a
   * second pass; the broker logs how many were dropped beyond that.
   */
  readonly log: ExtensionLog;
}

/** Options of `rh.call`. */
export interface CallOptions {
  /** The called namespace's access key, when its section sets `_access_key`. */
  accessKey?: string;
}

/** What `rh.call` resolves with: the method's answer as gRPC Execute gives it. */
export interface CallResult {
  status: number;
  statusMessage: string;
  contentType: string;
  /** Response headers, names in lower case (repeated ones joined with `, `). */
  headers: Record<string, string>;
  /** The body as the method made it (also for a non-2xx status); bytes when it answered bytes. */
  body: string | Uint8Array;
  /** The body parsed, when the content type is JSON and the body parses; otherwise undefined. */
  data: unknown;
}

/** The shape of an exported extension method. */
export type ExtensionMethod = (rh: RequestHandler) => unknown;
