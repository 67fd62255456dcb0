import * as grpc from '@grpc/grpc-js';
import type { ExecuteRequest, ExtensionServiceServer } from '../../../generated/bpbroker/v1/extension.js';
import type { PingServiceServer } from '../../../generated/bpbroker/v1/ping.js';
import type { RegistryServiceServer } from '../../../generated/bpbroker/v1/registry.js';
import type { Broker } from '../../core/Broker.js';
import type { CallContext, Params } from '../../core/types.js';
import { BrokerError } from '../../core/BrokerError.js';
import type { Logger } from '../../log/Logger.js';
import { RequestLog } from '../../log/RequestLog.js';
import type { ProtocolStats, RequestRow } from '../../metrics/RequestStats.js';
import { ACCESS_KEY_METADATA, callContext } from './callContext.js';
import { STATUS_NAMES, toServiceError } from './grpcStatus.js';
import { decodePageToken, encodePageToken, optional, toEntryMessage } from './messages.js';
import { watchStream } from './watchStream.js';

/** Where a call is counted: a fixed (namespace, method), or one looked up from its request (Execute). */
type RowOf<Req> = (req: NoInfer<Req>) => RequestRow | undefined;
/** The call as the legacy API names it, for the log. */
type NameOf<Req> = (req: NoInfer<Req>) => { namespace: string; method: string };

/**
 * One unary handler: run `fn` over core and answer its result, or the mapped status of what it threw
 * (synchronous throws included: core's authorization checks throw before any await). Each answer is counted
 * and, when it failed (or at debug), logged.
 */
function unary<Req, Res>(
  log: Logger,
  requests: RequestLog,
  rpc: string,
  rowOf: RowOf<Req>,
  nameOf: NameOf<Req>,
  fn: (req: Req, ctx: CallContext, call: grpc.ServerUnaryCall<Req, Res>) => Res | Promise<Res>,
  /** An extension's answer status (Execute): 400 or more is a failed call though its gRPC status is OK. */
  answerOf?: (res: Res) => number,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const started = performance.now();
    const ctx = callContext(call);
    const done = (code: number | undefined, details?: string, answer?: number): void => {
      const ms = performance.now() - started;
      const status = STATUS_NAMES[code ?? 0] ?? 'UNKNOWN';
      rowOf(call.request)?.record(status, ms / 1000);
      const failed = code !== grpc.status.OK || (answer !== undefined && answer >= 400);
      if (requests.wants(failed)) requests.write(failed, { protocol: 'grpc', ...nameOf(call.request), status, answer, caller: ctx.clientIp, durationMs: ms, reason: details });
    };
    new Promise<Res>((resolve) => resolve(fn(call.request, ctx, call))).then(
      (res) => {
        callback(null, res);
        done(grpc.status.OK, undefined, answerOf?.(res));
      },
      (err: unknown) => {
        // A failure the broker did not expect is logged with the call it broke.
        const callLog = BrokerError.isUnexpected(err) ? log.child({ protocol: 'grpc', ...nameOf(call.request), caller: ctx.clientIp }) : log;
        const status = toServiceError(err, callLog, rpc);
        callback(status);
        done(status.code, status.details);
      },
    );
  };
}

/** The row of a fixed (namespace, method), found once. */
function fixedRow(stats: ProtocolStats | undefined, namespace: string, method: string): () => RequestRow | undefined {
  const row = stats?.row(namespace, method);
  return () => row;
}

/** The name of a fixed (namespace, method). */
function fixedName(namespace: string, method: string): () => { namespace: string; method: string } {
  const name = { namespace, method };
  return () => name;
}

export function registryService(broker: Broker, log: Logger, stats?: ProtocolStats): RegistryServiceServer {
  const requests = new RequestLog(log);
  const u = <Req, Res>(m: string, fn: (req: Req, ctx: CallContext) => Res | Promise<Res>) =>
    unary(log, requests, `RegistryService/${m}`, fixedRow(stats, 'services', m), fixedName('services', m), fn);
  return {
    register: u('Register', async (req, ctx) => ({ entry: toEntryMessage(await broker.register(ctx, req.name, optional(req.json), req)) })),
    replace: u('Replace', async (req, ctx) => ({ entry: toEntryMessage(await broker.replace(ctx, req.name, optional(req.json), req)) })),
    update: u('Update', async (req, ctx) => ({ entry: toEntryMessage(await broker.update(ctx, req.name, optional(req.json), req)) })),
    get: u('Get', async (req, ctx) => ({ entry: toEntryMessage(await broker.get(ctx, req.name)) })),
    delete: u('Delete', async (req, ctx) => ({ existed: await broker.delete(ctx, req.name, req) })),
    list: u('List', async (req, ctx) => {
      const after = decodePageToken(req.pageToken, req.prefix);
      const page = await broker.list(ctx, req.prefix, after, req.pageSize);
      return { entries: page.entries.map(toEntryMessage), nextPageToken: encodePageToken(page.nextAfter) };
    }),
    keepAlive: u('KeepAlive', async (req, ctx) => ({ entry: toEntryMessage(await broker.keepAlive(ctx, req.name)) })),
    watch: watchStream(broker, log, requests, fixedRow(stats, 'services', 'Watch')()),
  };
}

/** Metadata of a Ping answer while the registry cannot be used (etcd unreachable, storage lost): why. */
export const REGISTRY_PROBLEM_KEY = 'bpbroker-registry-problem';

export function pingService(broker: Broker, log: Logger, stats?: ProtocolStats): PingServiceServer {
  return {
    ping: unary(log, new RequestLog(log), 'PingService/Ping', fixedRow(stats, 'ping', 'Ping'), fixedName('ping', 'Ping'), (req, ctx, call) => {
      const { src, dataJson, registryProblem } = broker.ping(ctx, optional(req.json));
      // The message stays as it was; a registry that cannot be used is told in the answer's metadata.
      if (registryProblem !== undefined) {
        const md = new grpc.Metadata();
        md.set(REGISTRY_PROBLEM_KEY, registryProblem.replace(/[^\x20-\x7e]/g, '?'));
        call.sendMetadata(md);
      }
      return { src, json: dataJson };
    }),
  };
}

function executeName(req: ExecuteRequest): { namespace: string; method: string } {
  return { namespace: req.namespace, method: req.method };
}

export function extensionService(broker: Broker, log: Logger, stats?: ProtocolStats): ExtensionServiceServer {
  return {
    execute: unary(log, new RequestLog(log), 'ExtensionService/Execute', (req) => stats?.row(req.namespace, req.method), executeName, async (req: ExecuteRequest, ctx, call) => {
      const params: Params = { ...req.params };
      if (req.data !== '') params.data = req.data;
      // HTTP/2 carries every gRPC call as a POST; its metadata are the method's request headers.
      const r = await broker.execute({ ...ctx, request: { method: 'POST', headers: metadataHeaders(call.metadata) } }, req.namespace, req.method, params);
      const binary = typeof r.body !== 'string';
      return {
        status: r.status,
        statusMessage: r.statusMessage,
        contentType: r.contentType,
        body: binary ? '' : (r.body as string),
        binaryBody: binary ? Buffer.from(r.body as Uint8Array) : Buffer.alloc(0),
        headers: (r.headers ?? []).map(([name, value]) => ({ name, value })),
      };
    }, (res) => res.status),
  };
}

/** Text metadata of a call, as request headers (binary `-bin` values and the access key left out). */
function metadataHeaders(metadata: grpc.Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata.getMap())) {
    if (typeof value === 'string' && key !== ACCESS_KEY_METADATA) out[key] = value;
  }
  return out;
}
