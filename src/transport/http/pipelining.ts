import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

interface Line {
  /** The answer being made or written. */
  current: ServerResponse | undefined;
  waiting: Array<[IncomingMessage, ServerResponse]>;
}

const LINE = Symbol('pipelined requests');

/**
 * Pipelined requests on one connection run one at a time: a request starts once the answer before it has been
 * handed to the socket. Node's HTTP server stops reading a connection only when answers already wait in its
 * buffers, and ours are written asynchronously, so every request of a pipelined burst ran at once and each
 * answer waited in memory for the client to read it: 250 pipelined 1 MB Gets held 250 MB for as long as the
 * client stayed. Now a client that never reads holds one answer, until the listener's response timeout
 * closes its connection. Answers go out in request order either way, as HTTP/1.1 requires.
 *
 * A request that finds the connection idle (nearly all of them) costs a property read and write: listeners
 * are added only while requests wait.
 */
export function oneRequestAtATime(handle: RequestListener): RequestListener {
  const run = (line: Line, req: IncomingMessage, res: ServerResponse): void => {
    line.current = res;
    if (line.waiting.length > 0) res.once('close', () => next(line));
    handle(req, res);
  };
  const next = (line: Line): void => {
    const queued = line.waiting.shift();
    line.current = undefined;
    if (!queued) return;
    if (queued[0].socket.destroyed) {
      line.waiting.length = 0; // nobody is left to answer
      return;
    }
    run(line, ...queued);
  };
  return (req, res) => {
    const socket = req.socket as Socket & { [LINE]?: Line };
    socket[LINE] ??= { current: undefined, waiting: [] };
    const line = socket[LINE];
    const before = line.current;
    if (line.waiting.length > 0) line.waiting.push([req, res]);
    else if (before && !before.writableFinished && !before.destroyed) {
      // 'close' follows 'finish' (the answer handed to the socket), and also comes when the connection dies.
      before.once('close', () => next(line));
      line.waiting.push([req, res]);
    } else run(line, req, res);
  };
}
