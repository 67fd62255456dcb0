import * as grpc from '@grpc/grpc-js';
import type { ExecuteRequest, ExtensionServiceServer } from '../../../generated/bpbroker/v1/extension.js';
import type { PingServiceServer } from '../../../generated/bpbroker/v1/ping.js';
import type { RegistryServiceServer } from '../../../generated/bpbroker/v1/registry.js';
import type { Broker } from '../../core/Broker.js';
import type { CallContext, Params } from '../../core/types.js';
import type { Logger } from '../../log/Logger.js';
import type { ProtocolStats, RequestRow } from '../../metrics/RequestStats.js';
import { ACCESS_KEY_METADATA, callContext } from './callContext.js';
import { STATUS_NAMES, toServiceError } from './grpcStatus.js';
import { decodePageToken, encodePageToken, optional, toEntryMessage } from './messages.js';
import { watchStream } from './watchStream.js';

/** Where a call is counted: a fixed (namespace, method), or one looked up from its request (Execute). */
type RowOf<Req> = (req: NoInfer<Req>) => RequestRow | undefined;

/**
 * One unary handler: run `fn` over core and answer its result, or the mapped status of what it threw
 * (synchronous throws included: core's authorization checks throw before any await). Each answer is counted.
 */
function unary<Req, Res>(
  log: Logger,
  method: string,
  rowOf: RowOf<Req>,
  fn: (req: Req, ctx: CallContext, call: grpc.ServerUnaryCall<Req, Res>) => Res | Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const started = performance.now();
    const count = (code: number | undefined): void => rowOf(call.request)?.record(STATUS_NAMES[code ?? 0] ?? 'UNKNOWN', (performance.now() - started) / 1000);
    new Promise<Res>((resolve) => resolve(fn(call.request, callContext(call), call))).then(
      (res) => {
        callback(null, res);
        count(grpc.status.OK);
      },
      (err: unknown) => {
        const status = toServiceError(err, log, method);
        callback(status);
        count(status.code);
      },
    );
  };
}

/** The row of a fixed (namespace, method), found once. */
function fixedRow(stats: ProtocolStats | undefined, namespace: string, method: string): () => RequestRow | undefined {
  const row = stats?.row(namespace, method);
  return () => row;
}

export function registryService(broker: Broker, log: Logger, stats?: ProtocolStats): RegistryServiceServer {
  const u = <Req, Res>(m: string, fn: (req: Req, ctx: CallContext) => Res | Promise<Res>) => unary(log, `RegistryService/${m}`, fixedRow(stats, 'services', m), fn);
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
    watch: watchStream(broker, log, fixedRow(stats, 'services', 'Watch')()),
  };
}

export function pingService(broker: Broker, log: Logger, stats?: ProtocolStats): PingServiceServer {
  return {
    ping: unary(log, 'PingService/Ping', fixedRow(stats, 'ping', 'Ping'), (req, ctx) => {
      const { src, dataJson } = broker.ping(ctx, optional(req.json));
      return { src, json: dataJson };
    }),
  };
}

export function extensionService(broker: Broker, log: Logger, stats?: ProtocolStats): ExtensionServiceServer {
  return {
    execute: unary(log, 'ExtensionService/Execute', (req) => stats?.row(req.namespace, req.method), async (req: ExecuteRequest, ctx, call) => {
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
    }),
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
