import type { Socket } from 'node:net';
import type { Logger } from '../log/Logger.js';

/**
 * Closes connections whose client leaves what the broker wrote unread for `timeoutMs` (the response timeout):
 * the data waiting for it is freed only when the connection goes. An HTTP/1.1 client that never reads its
 * answers holds them in the socket's buffer; an h2 session hands whatever the client's flow-control window
 * allows to the socket in one write, and destroying the session does not end that write (Node waits for it).
 *
 * What waits is the socket's own buffer plus its handle's write queue (where an h2 session's writes go).
 * Neither moves while one large write drains, so "unread" means: the same bytes pending for the whole
 * timeout. A client reading slower than one response per timeout is cut off too.
 */
export class StalledConnections {
  private readonly watched = new Map<Socket, { pending: number; since: number }>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    readonly timeoutMs: number,
    private readonly log: Logger,
  ) {
    this.sweeper = setInterval(() => this.sweep(), Math.max(50, Math.min(1000, timeoutMs / 4)));
    this.sweeper.unref();
  }

  watch(socket: Socket): void {
    this.watched.set(socket, { pending: 0, since: 0 });
    socket.once('close', () => this.watched.delete(socket));
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [socket, seen] of this.watched) {
      const handle = (socket as { _handle?: { writeQueueSize?: number } | null })._handle;
      const pending = socket.writableLength + (handle?.writeQueueSize ?? 0);
      if (pending !== seen.pending) {
        seen.pending = pending;
        seen.since = now;
      } else if (pending > 0 && now - seen.since >= this.timeoutMs) {
        this.log.debug('closing a connection whose client does not read', { caller: socket.remoteAddress, pendingBytes: pending, timeoutSecs: this.timeoutMs / 1000 });
        this.watched.delete(socket);
        socket.destroy();
      }
    }
  }
}
