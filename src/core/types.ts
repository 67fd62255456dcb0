import type { Entry } from '../registry/Entry.js';
import type { WatchBatch } from '../registry/Watchers.js';

/** Who is calling: filled in by a transport. */
export interface CallContext {
  /** The client's address, IPv4 as text when it is one (never `::ffff:`-prefixed). */
  clientIp: string;
  accessKey?: string | undefined;
  /** Calls from inside the broker (an extension's registry access) skip the access-key check. */
  trusted?: boolean;
}

/** Parameters of a legacy-style call: query string and form body, merged. */
export type Params = Record<string, string>;

export type { Entry };

/** What an extension method answered. */
export interface ExtensionResponse {
  status: number;
  statusMessage: string;
  contentType: string;
  body: string;
}

/** The request an extension method sees. */
export interface ExtensionRequest {
  namespace: string;
  method: string;
  qs: Params;
  requestingHost: string;
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
