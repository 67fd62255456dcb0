import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

interface Line {
  busy: boolean;
  waiting: Array<[IncomingMessage, ServerResponse]>;
}

/**
 * Pipelined requests on one connection run one at a time: a request starts once the answer before it has been
 * handed to the socket. Node's HTTP server stops reading a connection only when answers already wait in its
 * buffers, and ours are written asynchronously, so every request of a pipelined burst ran at once and each
 * answer waited in memory for the client to read it: 250 pipelined 1 MB Gets held 250 MB for as long as the
 * client stayed. Now a client that never reads holds one answer, until the listener's response timeout
 * closes its connection. Answers go out in request order either way, as HTTP/1.1 requires.
 */
export function oneRequestAtATime(handle: RequestListener): RequestListener {
  const lines = new WeakMap<Socket, Line>();
  const run = (line: Line, req: IncomingMessage, res: ServerResponse): void => {
    line.busy = true;
    // 'close' follows 'finish' (the answer handed to the socket), and also comes when the connection dies.
    res.once('close', () => {
      if (req.socket.destroyed) line.waiting.length = 0; // nobody is left to answer
      const next = line.waiting.shift();
      if (next) run(line, ...next);
      else line.busy = false;
    });
    handle(req, res);
  };
  return (req, res) => {
    const socket = req.socket;
    let line = lines.get(socket);
    if (!line) lines.set(socket, (line = { busy: false, waiting: [] }));
    if (line.busy) line.waiting.push([req, res]);
    else run(line, req, res);
  };
}
