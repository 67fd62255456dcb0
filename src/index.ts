/**
 * bpbroker as a library: run a broker in-process, or talk to one.
 *
 * ```ts
 * import { connect } from 'bpbroker';
 * const broker = connect('10.0.0.5:20443', { insecureSkipVerify: true, accessKey: 'secret' });
 * await broker.register('web-1', { ip: '10.0.0.7' });
 * console.log((await broker.get('web-1')).json);
 * broker.close();
 * ```
 */
export { connect, GrpcStatus } from './client/grpcClient.js';
export type { BrokerGrpcClient, GrpcConnectOptions, CallOptions, EntryData, ListOptions } from './client/grpcClient.js';
export * from './client/index.js';
export { BrokerServer, type BrokerServerOptions } from './server/BrokerServer.js';
export { BrokerError, type BrokerErrorCode } from './core/BrokerError.js';
export { ConfigError } from './config/ConfigError.js';
export { createLogger, type Logger, type LogLevel } from './log/Logger.js';
