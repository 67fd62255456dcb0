import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { Logger } from '../log/Logger.js';
import type { ConnectionLimit } from './connectionLimit.js';
import type { StalledConnections } from './stalledConnections.js';

export interface TlsListenerOptions {
  host: string;
  port: number;
  cert: Buffer;
  key: Buffer;
  handshakeTimeoutMs: number;
  log: Logger;
  /** The connection budget this port shares with the broker's other TLS ports; none: unlimited. */
  connections?: ConnectionLimit | undefined;
  /** Closes connections whose client leaves the broker's writes unread; none: never. */
  stalled?: StalledConnections | undefined;
  /** Sockets that negotiated HTTP/1.1 (or no ALPN at all): the legacy API. */
  onHttp1: (socket: Duplex) => void;
  /** Sockets that negotiated h2: gRPC. Without it only HTTP/1.1 is offered. */
  onH2?: ((socket: Duplex) => void) | undefined;
}

/**
 * One TLS port, two protocols. curl and old clients offer `http/1.1` (often beside `h2`) and get HTTP/1.1;
 * gRPC clients offer only `h2` and get h2. TLS 1.2 is the minimum.
 */
export class TlsListener {
  private readonly sockets = new Set<TLSSocket>();

  private constructor(private readonly server: Server) {}

  static async listen(opts: TlsListenerOptions): Promise<TlsListener> {
    const alpn = opts.onH2
      ? {
          ALPNCallback: ({ protocols }: { servername: string; protocols: string[] }) =>
            protocols.includes('http/1.1') ? 'http/1.1' : protocols.includes('h2') ? 'h2' : undefined,
        }
      : { ALPNProtocols: ['http/1.1'] };
    const server = createServer({
      cert: opts.cert,
      key: opts.key,
      minVersion: 'TLSv1.2',
      // Small request/response exchanges: Nagle would hold each answer back waiting for an ACK.
      noDelay: true,
      handshakeTimeout: opts.handshakeTimeoutMs,
      ...alpn,
    });
    const listener = new TlsListener(server);
    // Counted from the TCP accept, so connections still in their handshake count too.
    const limit = opts.connections;
    if (limit) server.prependListener('connection', (socket: Socket) => limit.admit(socket));
    server.on('secureConnection', (socket: TLSSocket) => {
      listener.sockets.add(socket);
      opts.stalled?.watch(socket);
      socket.once('close', () => listener.sockets.delete(socket));
      if (socket.alpnProtocol === 'h2' && opts.onH2) opts.onH2(socket);
      else opts.onHttp1(socket);
    });
    // Failed handshakes (port scans, plain HTTP, wrong protocol) are the client's problem, not ours. The socket
    // must be closed here: with a listener on this event Node leaves it open, so a client that never finished
    // its handshake held the connection past handshakeTimeout, forever.
    server.on('tlsClientError', (err, socket) => {
      opts.log.debug('TLS handshake failed', { caller: socket.remoteAddress, err: err.message });
      socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: opts.host || undefined, port: opts.port, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => opts.log.error('TLS listener error', { err: err.message }));
    return listener;
  }

  get port(): number {
    const addr = this.server.address();
    return typeof addr === 'object' && addr ? addr.port : 0;
  }

  get connections(): number {
    return this.sockets.size;
  }

  /** Stops accepting; resolves when every connection has ended (see destroyAll for the deadline). */
  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  destroyAll(): void {
    for (const s of this.sockets) s.destroy();
  }
}
