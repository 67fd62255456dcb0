/**
 * bpbroker as a library: run a broker in-process, or talk to one.
 *
 * ```ts
 * import { connect } from 'bpbroker';
 * const broker = connect('10.0.0.5:20443', { insecureSkipVerify: true, accessKey: 'secret' });
 * await broker.register('web-1', { ip: '10.0.0.7' }, { ttl: 10 });
 * console.log((await broker.get('web-1')).json);
 * const lease = broker.keepLease('web-1');             // renews every 10/3 s until lease.stop()
 * for await (const { events } of broker.watch({ prefix: 'web-' })) console.log(events);
 * broker.close();
 * ```
 */
export { connect, GrpcStatus, WatchEventType } from './client/grpcClient.js';
export type {
  BrokerGrpcClient,
  GrpcConnectOptions,
  CallOptions,
  EntryData,
  ListOptions,
  WriteOptions,
  DeleteOptions,
  Entry,
  WatchEvent,
  GrpcWatchBatch,
  WatchTarget,
} from './client/grpcClient.js';
export * from './client/index.js';
export { BrokerServer, type BrokerServerOptions } from './server/BrokerServer.js';
export { BrokerError, type BrokerErrorCode } from './core/BrokerError.js';
export { ConfigError } from './config/ConfigError.js';
export { createLogger, type Logger, type LogLevel } from './log/Logger.js';
