import { STATUS_CODES, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { Broker } from '../../core/Broker.js';
import { BrokerError } from '../../core/BrokerError.js';
import { escapeNonAscii, jsonString } from '../../core/json.js';
import type { DispatchResult } from '../../core/types.js';
import { normalizeIp } from '../../core/values.js';
import type { Logger } from '../../log/Logger.js';
import { RequestLog } from '../../log/RequestLog.js';
import type { ProtocolStats } from '../../metrics/RequestStats.js';
import { legacyEntryJson, watchAnswer } from './legacyEntryJson.js';
import { legacyErrorReply } from './legacyErrors.js';
import { mergeParams, readBody, splitPath } from './legacyParams.js';
import { operationsRouter, type OperationsOptions } from './operations.js';
import { isBodiless, registryProblemHeader, sendBodiless, sendFailure, sendReply } from './reply.js';

const METHODS = new Set(['GET', 'POST', 'DELETE']);
const SUCCESS_PREFIX = '{"success":true,"message":"Success","data":';
/** Extension bodies of a JSON content type get non-ASCII escaped like every other legacy JSON body. */
const JSON_TYPE = /json/i;

export interface LegacyApiOptions {
  maxBodyBytes: number;
  log: Logger;
  /** Counts every API request answered. */
  stats?: ProtocolStats | undefined;
  /** Serves `/_health`, `/_ready` and `/_metrics` (see operations.ts). */
  operations?: Omit<OperationsOptions, 'log'> | undefined;
}

/** `_`: paths starting with `/_` name no callable namespace; express looks at them first (operations.ts). */
const UNDERSCORE = 0x5f;

/**
 * The legacy HTTPS JSON API: `/{namespace}/{Method}` with parameters in the query string or a form body.
 * GET, POST and DELETE are the same call. All behaviour is in Broker.dispatch; this file only translates.
 *
 * API calls (GET, POST, DELETE) go straight to the handler; express serves every other request, and paths
 * that start with `/_` (the operations surface, and the legacy answer to every other one). Express swaps the
 * prototypes of req and res on each request, which leaves every later property access on them slow, down to
 * Node's own socket writes: it cost three quarters of a Get (docs/performance.md).
 */
export function createLegacyApp(broker: Broker, opts: LegacyApiOptions): RequestListener {
  const requests = new RequestLog(opts.log);
  const app = createExpressApp(broker, opts, requests);
  return (req, res) => {
    if (METHODS.has(req.method ?? '') && req.url!.charCodeAt(1) !== UNDERSCORE) void handle(broker, opts, requests, req, res);
    else app(req, res);
  };
}

function createExpressApp(broker: Broker, opts: LegacyApiOptions, requests: RequestLog): Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', false);
  if (opts.operations) app.use(operationsRouter({ ...opts.operations, log: opts.log }));
  app.use((req: Request, res: Response) => {
    void handle(broker, opts, requests, req, res);
  });
  // Express only reaches this for errors thrown before our handler (it never throws itself).
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const reply = legacyErrorReply(err, opts.log);
    sendFailure(res, reply.status, reply.message);
  });
  return app;
}

async function handle(broker: Broker, opts: LegacyApiOptions, requests: RequestLog, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const started = performance.now();
  let namespace = '';
  let method = '';
  try {
    if (!METHODS.has(req.method ?? '')) {
      // The original's wording (Python's BaseHTTPServer).
      sendFailure(res, 501, `Unsupported method ('${req.method}')`);
      req.resume();
      return;
    }
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    ({ namespace, method } = splitPath(q < 0 ? url : url.slice(0, q)));
    const body = hasBody(req) ? await readBody(req, opts.maxBodyBytes) : noBody(req);
    const params = mergeParams(q < 0 ? '' : url.slice(q + 1), body, req.headers['content-type']);
    // The headers are parsed already (hasBody read them): passing them costs nothing.
    const ctx = { clientIp: clientIpOf(req.socket), accessKey: params.access_key, request: { method: req.method!, headers: req.headers } };
    // A long-poll ends when its client goes away.
    const signal = method === 'Watch' ? abortOnClose(res) : undefined;
    const result = await broker.dispatch(ctx, namespace, method, params, signal);
    writeResult(res, result);
  } catch (err) {
    // A failure the broker did not expect is logged with the call it broke.
    const log = BrokerError.isUnexpected(err) ? opts.log.child({ protocol: 'legacy', namespace, method, caller: clientIpOf(req.socket) }) : opts.log;
    const reply = legacyErrorReply(err, log);
    if (reply.status === 413) res.setHeader('Connection', 'close'); // the rest of the body is not read
    sendFailure(res, reply.status, reply.message, reply.revision, undefined, reply.stack);
  } finally {
    const ms = performance.now() - started;
    opts.stats?.record(namespace, method, res.statusCode, ms / 1000);
    const failed = res.statusCode >= 400;
    if (requests.wants(failed)) {
      const line = { protocol: 'legacy', namespace, method, status: res.statusCode, caller: clientIpOf(req.socket), durationMs: ms } as const;
      // The reason phrase went out as the UTF-8 bytes of the message, read back here as text.
      requests.write(failed, failed ? { ...line, reason: Buffer.from(res.statusMessage, 'latin1').toString('utf8') } : line);
    }
  }
}

/** `remoteAddress` asks the OS (getpeername) on every read: once per connection is enough. */
const clientIps = new WeakMap<Socket, string>();
function clientIpOf(socket: Socket): string {
  let ip = clientIps.get(socket);
  if (ip === undefined) {
    ip = normalizeIp(socket.remoteAddress);
    clientIps.set(socket, ip);
  }
  return ip;
}

/**
 * A request without Content-Length or Transfer-Encoding has no body (RFC 9112 6.3): most API calls. They skip
 * readBody's async iterator over the stream, which cost more than the rest of a Get.
 */
function hasBody(req: IncomingMessage): boolean {
  return req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
}

const EMPTY = Buffer.alloc(0);

function noBody(req: IncomingMessage): Buffer {
  req.resume();
  return EMPTY;
}

/** Aborted when the client goes before its answer; not after it (an abort builds a DOMException with a stack). */
function abortOnClose(res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller.signal;
}

export function writeResult(res: ServerResponse, result: DispatchResult): void {
  switch (result.kind) {
    case 'entry': {
      // Old clients read success, message and data; the revision (and a lease's seconds left) come after them.
      const lease = result.ttl === undefined ? '' : `,"ttl":${result.ttl}`;
      sendReply(res, 200, 'OK', `${SUCCESS_PREFIX}${legacyEntryJson(result.entry)},"revision":${result.entry.modRevision}${lease}}`);
      return;
    }
    case 'watch':
      sendReply(res, 200, 'OK', watchAnswer(result.batch));
      return;
    case 'deleted':
      sendReply(res, 200, 'OK', '{"success":true,"message":"Success"}');
      return;
    case 'ping':
      // The body is the spec's, exactly; a registry problem is told in a header old clients ignore.
      sendReply(res, 200, 'OK', escapeNonAscii(`{"src":${jsonString(result.ping.src)},"data":${result.ping.dataJson}}`), undefined, registryProblemHeader(result.ping.registryProblem));
      return;
    case 'extension': {
      const r = result.response;
      const body = typeof r.body === 'string' && JSON_TYPE.test(r.contentType) ? escapeNonAscii(r.body) : r.body;
      const h = r.headers;
      if (isBodiless(r.status)) sendBodiless(res, r.status, r.statusMessage || (STATUS_CODES[r.status] ?? ''), h);
      else if (r.status === 200) sendReply(res, 200, 'OK', body, r.contentType, h);
      else if (r.status > 200 && r.status < 300) sendReply(res, r.status, r.statusMessage || 'OK', body, r.contentType, h);
      // Old clients get the legacy failure JSON; a method that asks for it (errorBody 'data') sends its own body.
      else if (r.errorBody === 'data') sendReply(res, r.status, r.statusMessage || (STATUS_CODES[r.status] ?? `Extension answered ${r.status}`), body, r.contentType, h);
      else sendFailure(res, r.status, r.statusMessage || `Extension answered ${r.status}`, undefined, h);
      return;
    }
  }
}
