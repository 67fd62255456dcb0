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

export type RegistryOp = 'get' | 'register' | 'replace' | 'update' | 'delete';

export interface RegistryReplyMessage {
  type: 'registryReply';
  id: number;
  ok: boolean;
  /** get/register/replace/update: the stored data object text (or undefined when absent); delete: 'true'/'false'. */
  value?: string | undefined;
  error?: { code: string; message: string };
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
  | { type: 'registry'; id: number; op: RegistryOp; name: string; data?: string | undefined; requestingHost: string }
  | { type: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; message: string; fields?: Record<string, unknown> | undefined };
