import { connect } from 'node:tls';
import { readConfigFile } from '../config/ConfigFile.js';
import { loadConfig } from '../config/loadConfig.js';
import { lockHolder } from '../config/lockFile.js';
import { readStatus, type BrokerStatus } from './statusFile.js';

export interface StatusReport {
  config: string;
  running: boolean;
  pid?: number | undefined;
  /** The broker accepted a TLS connection on its port just now. */
  responding?: boolean | undefined;
  uptimeSecs?: number | undefined;
  listenIp?: string | undefined;
  port?: number | undefined;
  grpcPort?: number | undefined;
  /** From the running broker when it runs, else from the configuration file. */
  entries: number;
  registry?: BrokerStatus['registry'];
  extensions: BrokerStatus['extensions'];
}

/** Whether a broker runs for this configuration, and what it serves. */
export async function brokerStatus(opts: { home: string; configPath?: string | undefined }): Promise<StatusReport> {
  const path = loadConfig({ home: opts.home, configPath: opts.configPath }).path;
  const pid = lockHolder(path);
  const published = pid !== undefined ? readStatus(path) : undefined;
  if (pid === undefined || !published || published.pid !== pid) {
    return { config: path, running: pid !== undefined, pid, entries: readConfigFile(path)?.entries.size ?? 0, extensions: [] };
  }
  return {
    config: path,
    running: true,
    pid,
    responding: await tlsProbe(published.listenIp, published.port),
    uptimeSecs: Math.round((Date.now() - Date.parse(published.startedAt)) / 1000),
    listenIp: published.listenIp,
    port: published.port,
    grpcPort: published.grpcPort,
    entries: published.entries,
    registry: published.registry,
    extensions: published.extensions,
  };
}

function tlsProbe(listenIp: string, port: number): Promise<boolean> {
  const host = listenIp === '' || listenIp === '0.0.0.0' ? '127.0.0.1' : listenIp === '::' ? '::1' : listenIp;
  return new Promise((resolve) => {
    const socket = connect({ host, port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'], timeout: 3000 });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('secureConnect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}
