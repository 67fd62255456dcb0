import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, type ServingStatusMap } from 'grpc-health-check';
import { ExtensionServiceService } from '../../../generated/bpbroker/v1/extension.js';
import { PingServiceService } from '../../../generated/bpbroker/v1/ping.js';
import { RegistryServiceService } from '../../../generated/bpbroker/v1/registry.js';
import type { Broker } from '../../core/Broker.js';
import type { Logger } from '../../log/Logger.js';
import type { ProtocolStats } from '../../metrics/RequestStats.js';
import type { ConnectionLimit } from '../connectionLimit.js';
import type { StalledConnections } from '../stalledConnections.js';
import { extensionService, pingService, registryService } from './brokerServices.js';
import { loadReflectionDescriptors } from './protoDescriptors.js';
import { rejectMalformedRequests } from './malformedRequests.js';
import { StreamDeadlines } from './streamDeadlines.js';

/** Fully qualified names of our services, as health checks and reflection name them. */
export const SERVICE_NAMES = ['bpbroker.v1.RegistryService', 'bpbroker.v1.PingService', 'bpbroker.v1.ExtensionService'] as const;

export interface GrpcTransport {
  server: grpc.Server;
  /** Hand over a TLS socket that negotiated ALPN 'h2' (TLS already terminated). */
  inject(socket: Duplex): void;
  /** Optionally also listen on a separate port with the given TLS credentials; resolves to the bound port. */
  listenSeparate(host: string, port: number, creds: grpc.ServerCredentials): Promise<number>;
  /** Health: SERVING / NOT_SERVING for '' and each service name. */
  setServing(serving: boolean): void;
  /** Graceful (tryShutdown: running calls finish), then forceShutdown after the grace period. */
  close(): Promise<void>;
}

export interface GrpcTransportOptions {
  /** How long close() lets running calls finish before cutting them off. */
  shutdownGraceMs?: number;
  /** Connections without a call for this long are closed (GOAWAY; clients reconnect when they need to). */
  idleTimeoutMs?: number;
  /** Streams (calls) one connection may have open at once, advertised in SETTINGS (default 100). */
  maxConcurrentStreams?: number;
  /** A call's request must arrive within this (default 60 s); see StreamDeadlines. */
  requestTimeoutMs?: number;
  /** A response the client leaves unread this long is cancelled (default 30 s); see StreamDeadlines. */
  responseTimeoutMs?: number;
  /** The connection budget a separate gRPC port shares with the API port; none: unlimited. */
  connections?: ConnectionLimit;
  /** Closes a separate gRPC port's connections whose client leaves the broker's writes unread. */
  stalled?: StalledConnections;
  /** Counts every call answered. */
  stats?: ProtocolStats;
}

/**
 * The gRPC API: our three services over core, plus server reflection and health checking, on one grpc-js
 * server. Sockets from the shared TLS port arrive through inject(); TLS is already terminated there, hence
 * the injector's insecure credentials.
 */
export function createGrpcTransport(broker: Broker, log: Logger, opts: GrpcTransportOptions = {}): GrpcTransport {
  const graceMs = opts.shutdownGraceMs ?? 5000;
  const server = new grpc.Server({
    // grpc-js advertises no limit (2^32-1 streams) unless told; each open stream costs a few kilobytes.
    'grpc.max_concurrent_streams': opts.maxConcurrentStreams ?? 100,
    // Without an idle limit, a client that opens h2 and then sends nothing holds its connection forever.
    ...(opts.idleTimeoutMs ? { 'grpc.max_connection_idle_ms': opts.idleTimeoutMs } : {}),
  });
  const deadlines = new StreamDeadlines({ requestTimeoutMs: opts.requestTimeoutMs ?? 60_000, responseTimeoutMs: opts.responseTimeoutMs ?? 30_000, log });
  rejectMalformedRequests(server);
  server.addService(RegistryServiceService, registryService(broker, log, opts.stats));
  server.addService(PingServiceService, pingService(broker, log, opts.stats));
  server.addService(ExtensionServiceService, extensionService(broker, log, opts.stats));
  new ReflectionService(loadReflectionDescriptors()).addToServer(server);

  const statusFor = (serving: boolean): ServingStatusMap =>
    Object.fromEntries(['', ...SERVICE_NAMES].map((name) => [name, serving ? 'SERVING' : 'NOT_SERVING']));
  const health = new HealthImplementation(statusFor(true));
  health.addToServer(server);

  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  deadlines.watchNewServers(server);
  let closing: Promise<void> | undefined;

  const setServing = (serving: boolean): void => {
    for (const [name, status] of Object.entries(statusFor(serving))) health.setStatus(name, status);
  };

  return {
    server,
    inject(socket) {
      if (closing) {
        socket.destroy();
        return;
      }
      // gRPC is many small frames each way: do not let Nagle hold them back (as on grpc-js's own ports).
      if (socket instanceof Socket) socket.setNoDelay(true);
      injector.injectConnection(socket);
    },
    async listenSeparate(host, port, creds) {
      const bind = (h: string) =>
        new Promise<number>((resolve, reject) => {
          server.bindAsync(`${h}:${port}`, creds, (err, bound) => (err ? reject(err) : resolve(bound)));
        }).then((bound) => {
          // Its connections count against the same budget as the API port's, from their TCP accept on, and
          // are watched for stalled writes as the API port's are.
          const { connections, stalled } = opts;
          for (const h2 of deadlines.watchNewServers(server)) {
            if (connections) h2.prependListener('connection', (socket: Socket) => connections.admit(socket));
            if (stalled) h2.on('secureConnection', (socket: Socket) => stalled.watch(socket));
          }
          return bound;
        });
      // '' means every interface, as for the legacy port: IPv6 and IPv4 where the host has IPv6, else IPv4.
      if (host === '') return bind('[::]').catch(() => bind('0.0.0.0'));
      // IPv6 literals need brackets in a grpc-js address.
      return bind(host.includes(':') && !host.startsWith('[') ? `[${host}]` : host);
    },
    setServing,
    close() {
      closing ??= new Promise<void>((resolve) => {
        setServing(false);
        const force = setTimeout(() => {
          log.warn('gRPC calls still running after the shutdown grace period; cancelling them', { graceMs });
          server.forceShutdown();
          deadlines.close();
          resolve();
        }, graceMs);
        force.unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          deadlines.close();
          resolve();
        });
      });
      return closing;
    },
  };
}
