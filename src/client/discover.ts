/**
 * UDP discovery as the old client did it: send `NAME\n` to 255.255.255.255:20443 (broadcast) or to a given
 * address, and take the source IP of a `Key Exists\n` answer as the broker's address.
 */
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { DEFAULT_PORT, parseHostPort } from './legacyClient.js';

export const BROADCAST_ADDRESS = '255.255.255.255';
const KEY_EXISTS = 'Key Exists\n';

export interface DiscoverOptions {
  /** The registry entry a broker must hold to answer. */
  name: string;
  /** Where to send: `HOST[:PORT]` each; default the broadcast address. */
  addresses?: string[];
  /** Port when an address names none (default 20443). */
  port?: number;
  /** How long to wait for answers, in milliseconds (default 3000). */
  timeoutMs?: number;
  /** Wait the whole timeout and collect every broker that answers (default: the first answer wins). */
  all?: boolean;
}

export interface DiscoveredBroker {
  /** The answering broker's IP address. */
  address: string;
  /** The UDP port it answered from (its API port). */
  port: number;
}

/** Resolves with the brokers that answered: none, the first one, or (with `all`) every one. */
export async function discover(opts: DiscoverOptions): Promise<DiscoveredBroker[]> {
  const targets = (opts.addresses?.length ? opts.addresses : [BROADCAST_ADDRESS]).map((a) => parseHostPort(a, opts.port ?? DEFAULT_PORT));
  const v6 = targets.length > 0 && targets.every((t) => isIPv6(t.host));
  const socket = createSocket(v6 ? 'udp6' : 'udp4');
  const found: DiscoveredBroker[] = [];
  const payload = Buffer.from(`${opts.name}\n`, 'utf8');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    // Broadcast must be allowed on the socket before sending to 255.255.255.255 (or a subnet broadcast).
    if (!v6) socket.setBroadcast(true);
    return await new Promise<DiscoveredBroker[]>((resolve, reject) => {
      const timer = setTimeout(() => resolve(found), opts.timeoutMs ?? 3000);
      socket.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.on('message', (msg, rinfo) => {
        if (msg.toString('utf8') !== KEY_EXISTS) return;
        if (found.some((b) => b.address === rinfo.address && b.port === rinfo.port)) return;
        found.push({ address: rinfo.address, port: rinfo.port });
        if (!opts.all) {
          clearTimeout(timer);
          resolve(found);
        }
      });
      for (const t of targets) {
        socket.send(payload, t.port, t.host, (err) => {
          if (err) {
            clearTimeout(timer);
            const hint = (err as NodeJS.ErrnoException).code === 'ENETUNREACH' ? 'network unreachable (no route for it; give --address)' : err.message;
            reject(new Error(`Cannot send discovery to ${t.host}:${t.port}: ${hint}`));
          }
        });
      }
    });
  } finally {
    socket.close();
  }
}
