import type { Entry } from './Entry.js';
import type { WatchBatch } from './Store.js';

/** Who is calling: filled in by a transport. */
export interface CallContext {
  /** The client's address, IPv4 as text when it is one (never `::ffff:`-prefixed). */
  clientIp: string;
  accessKey?: string | undefined;
  /** Calls from inside the broker (an extension's registry access) skip the access-key check. */
  trusted?: boolean;
  /** The request as its transport got it, for extension methods (absent: a request of no transport). */
  request?: RequestInfo | undefined;
}

/** What an extension method learns of the request besides its parameters. */
export interface RequestInfo {
  /** GET, POST or DELETE over the legacy API; POST over gRPC (HTTP/2) and for a call from another extension. */
  method: string;
  /** Request headers (names in lower case), or gRPC metadata; Node's IncomingMessage headers as they are. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The namespace of the extension that made this call with `rh.call`; absent for a client's call. */
  calledBy?: string | undefined;
  /** Calls from extension to extension this one is nested in (0 for a client's call). */
  depth?: number | undefined;
}

/** Parameters of a legacy-style call: query string and form body, merged. */
export type Params = Record<string, string>;

export type { Entry };

/** What an extension method answered. */
export interface ExtensionResponse {
  status: number;
  statusMessage: string;
  contentType: string;
  /** Text, or bytes when the method answered a Buffer or Uint8Array. */
  body: string | Uint8Array;
  /** Response headers the method set, in order (a name may repeat). */
  headers?: Array<[string, string]> | undefined;
  /**
   * A non-2xx answer carries `body` (the method asked for it with `rh.errorBody = 'data'`); without it the
   * legacy API answers its failure JSON, as the original did.
   */
  errorBody?: 'data' | undefined;
}

/** The request an extension method sees. */
export interface ExtensionRequest {
  namespace: string;
  method: string;
  qs: Params;
  requestingHost: string;
  request?: RequestInfo | undefined;
}

/**
 * The part of the extension subsystem core needs: what is callable, and a call.
 * Implemented by src/extensions; core never imports it.
 */
export interface ExtensionRunner {
  /** The namespace has a loaded (last good) version. */
  hasNamespace(namespace: string): boolean;
  /** The namespace exports a public function of that name. */
  hasMethod(namespace: string, method: string): boolean;
  call(request: ExtensionRequest): Promise<ExtensionResponse>;
  /** Namespaces being loaded for the first time (not callable yet). */
  loading?(): string[];
  /** Served from a folder under development (`start --watch`): callable without a configuration section. */
  enabledByDevelopment?(namespace: string): boolean;
  /**
   * In development mode only, why a namespace is not callable (not installed, failed to load, not enabled), with
   * the load error's text as `stack`; undefined in production, where the answer stays the spec's.
   */
  explainRefusal?(namespace: string, enabled: boolean): { reason: string; stack?: string | undefined } | undefined;
}

export interface PingResult {
  src: string;
  /** The echoed value as JSON text, exactly as it was sent (compact). */
  dataJson: string;
  /** Why the registry cannot be used now (etcd unreachable, storage lost): ping answers all the same. */
  registryProblem?: string;
}

/** An entry as a read or write answers it. */
export interface EntryResult {
  entry: Entry;
  /** Seconds left on its lease, when it has one (its full TTL right after a renewal). */
  ttl?: number;
}

/** The result of a legacy-style call `/{namespace}/{Method}`. */
export type DispatchResult =
  | ({ kind: 'entry' } & EntryResult)
  | { kind: 'watch'; batch: WatchBatch }
  | { kind: 'deleted' }
  | { kind: 'ping'; ping: PingResult }
  | { kind: 'extension'; response: ExtensionResponse };
