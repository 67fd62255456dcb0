import { constants, type Http2SecureServer, type Http2Server, type ServerHttp2Stream } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../log/Logger.js';

type AnyHttp2Server = Http2Server | Http2SecureServer;

export interface StreamDeadlineOptions {
  /** A call whose request has not fully arrived this long after it opened, and that is not answered yet. */
  requestTimeoutMs: number;
  /** A response whose written data the client has not taken for this long. */
  responseTimeoutMs: number;
  log: Logger;
}

/**
 * Time limits on the HTTP/2 streams under grpc-js, which has none of its own:
 *
 * - A call whose request (headers, message, end of stream) has not arrived within `requestTimeoutMs` is
 *   answered DEADLINE_EXCEEDED and its stream reset, freeing its slot under `grpc.max_concurrent_streams`.
 *   grpc-js would wait for the message forever, holding the stream and the call, and no handler (hence no
 *   authorization) ever ran.
 * - A response whose data has waited unread for `responseTimeoutMs` is reset (RST_STREAM CANCEL; the client
 *   sees CANCELLED) and the stream destroyed, which frees the data queued on it. grpc-js writes a response
 *   whole into the stream's queue, where it stays while the client grants no flow-control window.
 *
 * Both are checked by one sweep over the open streams (once a second, or four times per the shorter timeout):
 * a call costs one map entry and one 'close' listener, not a timer. They live on the stream, not in a grpc-js
 * interceptor, because an interceptor can neither reset a stream nor reach the data queued on it: its status,
 * once a response has begun, waits behind that data.
 */
export class StreamDeadlines {
  private readonly opened = new Map<ServerHttp2Stream, number>();
  private readonly unread = new Map<ServerHttp2Stream, { bytes: number; since: number }>();
  private readonly watched = new WeakSet<AnyHttp2Server>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly opts: StreamDeadlineOptions) {
    const every = Math.max(50, Math.min(1000, opts.requestTimeoutMs / 4, opts.responseTimeoutMs / 4));
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
  }

  /** Applies the limits to the streams of every http2 server `server` has made and not yet handed here. */
  watchNewServers(server: grpc.Server): AnyHttp2Server[] {
    const added: AnyHttp2Server[] = [];
    for (const h2 of http2ServersOf(server)) {
      if (this.watched.has(h2)) continue;
      this.watched.add(h2);
      h2.on('stream', this.track);
      added.push(h2);
    }
    return added;
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  private readonly track = (stream: ServerHttp2Stream): void => {
    this.opened.set(stream, Date.now());
    stream.once('close', () => {
      this.opened.delete(stream);
      this.unread.delete(stream);
    });
  };

  private sweep(): void {
    const now = Date.now();
    const { requestTimeoutMs, responseTimeoutMs } = this.opts;
    for (const [stream, openedAt] of this.opened) {
      if (stream.destroyed || stream.closed) continue; // its 'close' is on the way
      try {
        if (!stream.headersSent && !stream.readableEnded) {
          if (now - openedAt >= requestTimeoutMs) this.expireRequest(stream);
          continue;
        }
        const bytes = stream.writableLength;
        const seen = this.unread.get(stream);
        if (bytes === 0) {
          if (seen) this.unread.delete(stream);
        } else if (!seen || seen.bytes !== bytes) {
          this.unread.set(stream, { bytes, since: now });
        } else if (now - seen.since >= responseTimeoutMs) {
          this.cancelResponse(stream, bytes);
        }
      } catch (err) {
        // A stream its session already gave up on: nothing is left to answer.
        this.opts.log.debug('cannot end an expired gRPC stream; destroying it', { err });
        stream.destroy();
      }
    }
  }

  private expireRequest(stream: ServerHttp2Stream): void {
    const secs = this.opts.requestTimeoutMs / 1000;
    this.opts.log.debug('gRPC request not received in time; answering DEADLINE_EXCEEDED', { timeoutSecs: secs });
    stream.respond(
      {
        ':status': 200,
        'content-type': 'application/grpc+proto',
        'grpc-status': String(grpc.status.DEADLINE_EXCEEDED),
        'grpc-message': encodeURI(`Request not received within ${secs} s`),
      },
      { endStream: true },
    );
    // The answer is complete: reset the stream after it (RFC 9113 8.1), so the client's stalled half neither
    // holds the stream nor its place under the concurrent-stream limit.
    stream.close(constants.NGHTTP2_NO_ERROR);
  }

  private cancelResponse(stream: ServerHttp2Stream, bytes: number): void {
    this.opts.log.debug('gRPC response not read in time; cancelling it', { unreadBytes: bytes, timeoutSecs: this.opts.responseTimeoutMs / 1000 });
    stream.close(constants.NGHTTP2_CANCEL);
    // The reset may itself wait behind a connection the client does not read: destroying the stream now
    // frees its queued data at once.
    stream.destroy();
  }
}

/**
 * grpc-js keeps the http2 servers it creates (one per connection injector, one per bound address) in a private
 * map and offers no hook on their streams. Fail loudly at start-up if a grpc-js upgrade moved it.
 */
function http2ServersOf(server: grpc.Server): Iterable<AnyHttp2Server> {
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(servers instanceof Map)) throw new Error('grpc-js no longer keeps its http2 servers in Server.http2Servers: the gRPC stream limits cannot be applied');
  return servers.keys() as Iterable<AnyHttp2Server>;
}
