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

/**
 * The broker's registry (namespace `services`), reached from inside an extension. Writes are stamped with the
 * requesting host's address and are durable when the promise resolves. Failures reject with an `Error` whose
 * `code` is the broker's error code (`ALREADY_EXISTS`, `INVALID_ARGUMENT`, ...).
 */
export interface ExtensionRegistry {
  /** The entry, or undefined when there is none. */
  get(name: string): Promise<RegistryData | undefined>;
  /** Creates the entry; rejects with code `ALREADY_EXISTS` when it exists. `data`: an object, or text as a client sends it. */
  register(name: string, data: Record<string, unknown> | string): Promise<RegistryData>;
  /** The new data replaces the old entirely. */
  replace(name: string, data: Record<string, unknown> | string): Promise<RegistryData>;
  /** Creates the entry, or merges the new members into it (shallow). */
  update(name: string, data: Record<string, unknown> | string): Promise<RegistryData>;
  /** Removes the entry; resolves true when it existed. */
  delete(name: string): Promise<boolean>;
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
   * HTTP status of the answer: an integer from 200 to 599, default 200 (anything else answers 500). Anything but
   * 2xx answers `{"success": false, "message": statusMessage}`; 204, 205 and 304 are sent without content.
   */
  status: number;
  /** Reason phrase and message when `status` is not 2xx. */
  statusMessage: string;
  /** Alias of `statusMessage`, the name the original Python broker used. */
  status_message: string;
  /**
   * The response body: a string is sent as it is; any other value is sent as JSON. When a method returns a value
   * other than undefined and did not set `data`, the returned value is used.
   */
  data: unknown;
  /** Content type of a successful answer; default `Application/json`. */
  contentType: string;
  /** The extension's configuration section (the top-level key named like the namespace), without `_access_key`. */
  readonly config: Readonly<Record<string, unknown>>;
  readonly registry: ExtensionRegistry;
  /**
   * Lines in the broker's log, tagged with the namespace. With console output, at most about 1,000 lines a
   * second pass; the broker logs how many were dropped beyond that.
   */
  readonly log: ExtensionLog;
}

/** The shape of an exported extension method. */
export type ExtensionMethod = (rh: RequestHandler) => unknown;
