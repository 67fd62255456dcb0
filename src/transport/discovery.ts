import { createSocket, type Socket } from 'node:dgram';
import { isIPv4, isIPv6 } from 'node:net';
import type { Broker } from '../core/Broker.js';
import { normalizeIp } from '../core/values.js';
import type { Logger } from '../log/Logger.js';
import { RequestLog } from '../log/RequestLog.js';
import type { ProtocolStats } from '../metrics/RequestStats.js';

const KEY_EXISTS = Buffer.from('Key Exists\n');
/** Longest datagram looked at: a name can be long, but not longer than a UDP payload. */
const MAX_NAME_BYTES = 65507;
const LIMITED_BROADCAST = '255.255.255.255';

/**
 * UDP discovery: a datagram holding a name (surrounding whitespace ignored) is answered with exactly
 * `Key Exists\n` when the registry holds that entry, and not at all otherwise.
 *
 * On Linux a socket bound to one address does not receive broadcasts, so a broker listening on a specific
 * IPv4 address also binds 255.255.255.255 to hear clients' broadcasts; its answers still leave from the
 * listening address, which the client takes as the broker's.
 */
export class DiscoveryResponder {
  private constructor(private readonly sockets: Socket[]) {}

  static async bind(broker: Broker, host: string, port: number, log: Logger, stats?: ProtocolStats): Promise<DiscoveryResponder> {
    const main = await bindSocket(host, port);
    const sockets = [main];
    // Every datagram is one request: `found` (answered) or `not_found` (not answered).
    const row = stats?.row('discovery', 'Discover');
    // No datagram is a failure (an unknown name is not answered, by design): each is logged at debug only.
    const requests = new RequestLog(log);
    const onMessage = (msg: Buffer, rinfo: { address: string; port: number }): void => {
      const started = performance.now();
      const found = msg.length <= MAX_NAME_BYTES && broker.discoverable(msg.toString('utf8').trim());
      const ms = performance.now() - started;
      const status = found ? 'found' : 'not_found';
      row?.record(status, ms / 1000);
      if (requests.wants(false)) requests.write(false, { protocol: 'udp', namespace: 'discovery', method: 'Discover', status, caller: normalizeIp(rinfo.address), durationMs: ms });
      if (!found) return;
      main.send(KEY_EXISTS, rinfo.port, rinfo.address, (err) => {
        if (err) log.debug('discovery reply failed', { to: rinfo.address, err: err.message });
      });
    };
    if (isIPv4(host) && host !== '0.0.0.0') {
      try {
        sockets.push(await bindSocket(LIMITED_BROADCAST, main.address().port));
      } catch (err) {
        log.warn('cannot listen for discovery broadcasts; only datagrams sent to the listening address are answered', {
          err: (err as Error).message,
        });
      }
    }
    for (const s of sockets) {
      s.on('message', onMessage);
      s.on('error', (err) => log.warn('discovery socket error', { err: err.message }));
    }
    return new DiscoveryResponder(sockets);
  }

  get port(): number {
    return this.sockets[0]!.address().port;
  }

  async close(): Promise<void> {
    await Promise.all(this.sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

async function bindSocket(host: string, port: number): Promise<Socket> {
  const socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ port, address: host || undefined, exclusive: true }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return socket;
}
