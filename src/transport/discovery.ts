import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Broker } from '../core/Broker.js';
import type { Logger } from '../log/Logger.js';

const KEY_EXISTS = Buffer.from('Key Exists\n');
/** Longest datagram looked at: a name can be long, but not longer than a UDP payload. */
const MAX_NAME_BYTES = 65507;

/**
 * UDP discovery: a datagram holding a name (surrounding whitespace ignored) is answered with exactly
 * `Key Exists\n` when the registry holds that entry, and not at all otherwise.
 */
export class DiscoveryResponder {
  private constructor(private readonly socket: Socket) {}

  static async bind(broker: Broker, host: string, port: number, log: Logger): Promise<DiscoveryResponder> {
    const socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', reuseAddr: false });
    socket.on('message', (msg, rinfo) => {
      if (msg.length > MAX_NAME_BYTES) return;
      const name = msg.toString('utf8').trim();
      if (!broker.discoverable(name)) return;
      socket.send(KEY_EXISTS, rinfo.port, rinfo.address, (err) => {
        if (err) log.debug('discovery reply failed', { to: rinfo.address, err: err.message });
      });
    });
    socket.on('error', (err) => log.warn('discovery socket error', { err: err.message }));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ port, address: host || undefined, exclusive: true }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new DiscoveryResponder(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
