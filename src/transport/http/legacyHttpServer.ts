import { createServer, type Server } from 'node:http';
import type { Broker } from '../../core/Broker.js';
import type { Logger } from '../../log/Logger.js';
import { createLegacyApp, type LegacyApiOptions } from './legacyApi.js';
import { oneRequestAtATime } from './pipelining.js';
import { answerProtocolErrors } from './protocolErrors.js';

export interface LegacyHttpSettings {
  maxBodyBytes: number;
  maxHeaderBytes: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  idleTimeoutMs: number;
}

/**
 * The HTTP/1.1 server of the legacy API. It never listens itself: the TLS listener hands it the sockets that
 * negotiated HTTP/1.1 (`server.emit('connection', socket)`).
 */
export function createLegacyHttpServer(
  broker: Broker,
  settings: LegacyHttpSettings,
  log: Logger,
  extras: Pick<LegacyApiOptions, 'stats' | 'operations'> = {},
): Server {
  const app = createLegacyApp(broker, { maxBodyBytes: settings.maxBodyBytes, log, ...extras });
  const http = createServer(
    {
      maxHeaderSize: settings.maxHeaderBytes,
      headersTimeout: settings.headersTimeoutMs,
      requestTimeout: settings.requestTimeoutMs,
      keepAliveTimeout: settings.idleTimeoutMs,
      // Header and request timeouts are only enforced when this check runs (Node's default: every 30 s,
      // so a 10 s headers timeout let a slow client hold its connection for up to 40 s).
      connectionsCheckingInterval: Math.min(1000, settings.headersTimeoutMs),
    },
    oneRequestAtATime(app),
  );
  // Start the connection tracking that 'listening' would start: header/request timeouts and
  // closeIdleConnections need it.
  http.emit('listening');
  answerProtocolErrors(http);
  return http;
}
