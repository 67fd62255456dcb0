import type { Socket } from 'node:net';
import type { Logger } from '../log/Logger.js';

/**
 * One budget of TCP connections shared by every TLS port the broker serves (the API port, HTTP/1.1 and h2
 * alike, and a separate gRPC port): a connection over it is closed as soon as it is accepted, before its TLS
 * handshake costs anything. Refusals are logged at most once per `logIntervalMs`, with their count.
 */
export class ConnectionLimit {
  private open = 0;
  private refusedSinceLog = 0;
  private logTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly max: number,
    private readonly log: Logger,
    private readonly logIntervalMs = 10_000,
  ) {}

  /** Connections counted now. */
  get count(): number {
    return this.open;
  }

  /** Counts `socket` until it closes, or destroys it at once when the budget is spent. */
  admit(socket: Socket): boolean {
    if (this.open >= this.max) {
      socket.destroy();
      this.noteRefused();
      return false;
    }
    this.open++;
    socket.once('close', () => this.open--);
    return true;
  }

  private noteRefused(): void {
    this.refusedSinceLog++;
    // The first refusal is told at once; those that follow, counted, once per interval while they go on.
    if (!this.logTimer) this.flushLog();
  }

  private flushLog(): void {
    this.log.warn('connection limit reached: closed new connections (api.max_connections)', {
      max: this.max,
      refused: this.refusedSinceLog,
    });
    this.refusedSinceLog = 0;
    this.logTimer = setTimeout(() => {
      this.logTimer = undefined;
      if (this.refusedSinceLog > 0) this.flushLog();
    }, this.logIntervalMs);
    this.logTimer.unref();
  }
}
