import type * as grpc from '@grpc/grpc-js';
import type { ExtensionServiceServer } from '../../../generated/bpbroker/v1/extension.js';
import type { PingServiceServer } from '../../../generated/bpbroker/v1/ping.js';
import type { RegistryServiceServer } from '../../../generated/bpbroker/v1/registry.js';
import type { Broker } from '../../core/Broker.js';
import type { CallContext, Params } from '../../core/types.js';
import type { Logger } from '../../log/Logger.js';
import { callContext } from './callContext.js';
import { toServiceError } from './grpcStatus.js';
import { decodePageToken, encodePageToken, optional, toEntryMessage } from './messages.js';
import { watchStream } from './watchStream.js';

/**
 * One unary handler: run `fn` over core and answer its result, or the mapped status of what it threw
 * (synchronous throws included: core's authorization checks throw before any await).
 */
function unary<Req, Res>(log: Logger, method: string, fn: (req: Req, ctx: CallContext) => Res | Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    new Promise<Res>((resolve) => resolve(fn(call.request, callContext(call)))).then(
      (res) => callback(null, res),
      (err: unknown) => callback(toServiceError(err, log, method)),
    );
  };
}

export function registryService(broker: Broker, log: Logger): RegistryServiceServer {
  const u = <Req, Res>(m: string, fn: (req: Req, ctx: CallContext) => Res | Promise<Res>) => unary(log, `RegistryService/${m}`, fn);
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
    watch: watchStream(broker, log),
  };
}

export function pingService(broker: Broker, log: Logger): PingServiceServer {
  return {
    ping: unary(log, 'PingService/Ping', (req, ctx) => {
      const { src, dataJson } = broker.ping(ctx, optional(req.json));
      return { src, json: dataJson };
    }),
  };
}

export function extensionService(broker: Broker, log: Logger): ExtensionServiceServer {
  return {
    execute: unary(log, 'ExtensionService/Execute', async (req, ctx) => {
      const params: Params = { ...req.params };
      if (req.data !== '') params.data = req.data;
      const r = await broker.execute(ctx, req.namespace, req.method, params);
      return { status: r.status, statusMessage: r.statusMessage, contentType: r.contentType, body: r.body };
    }),
  };
}
