import type { Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { failureBody, reasonPhrase, sendFailure } from './reply.js';

/** Writes a complete legacy failure straight to the socket (no request object exists) and closes it. */
function answerRaw(socket: Duplex, status: number, message: string): void {
  const body = failureBody(message);
  socket.end(
    `HTTP/1.1 ${status} ${reasonPhrase(message)}\r\nContent-Type: Application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  setTimeout(() => socket.destroy(), 1000).unref(); // in case the peer never closes its side
}

/**
 * Requests Node's HTTP server settles before the app sees them get a legacy JSON failure too, never a silent
 * close or an empty body (the original closed the connection on most of them): malformed HTTP, header
 * overflow, timeouts, an unsupported Expect, CONNECT and protocol upgrades.
 */
export function answerProtocolErrors(http: HttpServer): void {
  http.on('clientError', (err, socket) => {
    const code = (err as NodeJS.ErrnoException).code;
    const status = code === 'HPE_HEADER_OVERFLOW' ? 431 : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const message = status === 431 ? 'Request header too large' : status === 408 ? 'Request timeout' : 'Bad request';
    // A request already handed to the app (e.g. its chunked body turned out malformed) has no answer on
    // the wire yet: it gets this one. Only a response already started must not be corrupted.
    const inFlight = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (socket.writable && !inFlight?.headersSent) answerRaw(socket, status, message);
    else socket.destroy();
  });
  http.on('checkExpectation', (req, res) => {
    res.setHeader('Connection', 'close'); // the body, if any, is not read
    sendFailure(res, 417, `Unsupported Expect header: ${String(req.headers.expect)}`);
  });
  // The original answered CONNECT as any other unknown method; upgrades (WebSocket, h2c) are not offered.
  http.on('connect', (req, socket) => answerRaw(socket, 501, `Unsupported method ('${req.method}')`));
  http.on('upgrade', (_req, socket) => answerRaw(socket, 400, 'Protocol upgrade not supported'));
}
