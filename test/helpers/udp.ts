import { createSocket, type Socket } from 'node:dgram';
import { waitFor } from './wait.js';

function openUdp(onMessage: (m: Buffer) => void): Promise<Socket> {
  const sock = createSocket('udp4');
  sock.on('message', onMessage);
  return new Promise((resolve) => sock.bind(0, '127.0.0.1', () => resolve(sock)));
}

function send(sock: Socket, payload: Buffer | string, port: number): Promise<void> {
  return new Promise((resolve, reject) => sock.send(payload, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
}

/**
 * Every reply the broker's discovery port sends to one datagram, silence included, without waiting for a silence.
 * The broker answers datagrams one at a time in the order they arrive, so a probe for `knownName` (a name it
 * holds) sent from a second socket after `payload` left is answered after any answer to `payload`: once the
 * probe's answer is in, so is every answer to `payload`.
 */
export async function discoveryReplies(port: number, payload: Buffer | string, knownName: string, timeoutMs = 10_000): Promise<Buffer[]> {
  const got: Buffer[] = [];
  let probed = 0;
  const asker = await openUdp((m) => got.push(m));
  const prober = await openUdp(() => probed++);
  try {
    await send(asker, payload, port);
    await send(prober, `${knownName}\n`, port);
    await waitFor(() => probed > 0, timeoutMs, 5, `an answer to the probe for '${knownName}'`);
    return got;
  } finally {
    asker.close();
    prober.close();
  }
}
