import { connect, createServer, type Server, type Socket } from 'node:net';

export interface DropProxy {
  /** `http://127.0.0.1:PORT`: give it to the client instead of the target. */
  readonly url: string;
  /**
   * The next client bytes containing `marker` reach the target in full, but the connection they came on is cut
   * before any answer to them comes back: the client sees its call's connection drop after the call was sent.
   * Resolves once that has happened.
   */
  dropAfter(marker: string): Promise<void>;
  /**
   * The next client bytes containing `marker` reach the target, but nothing comes back on that connection any
   * more, as from a target that hangs: the client's call runs into its deadline. `release()` then cuts the
   * connection (the target's answers held back cannot be delivered without breaking its framing).
   */
  stallAfter(marker: string): { release(): void };
  close(): Promise<void>;
}

/** A TCP proxy on loopback to `target` (`http://host:port`) that can cut a connection mid-call. */
export async function startDropProxy(target: string): Promise<DropProxy> {
  const { hostname, port } = new URL(target);
  let armed: { marker: Buffer; done: () => void; stall?: { cut?: () => void; released: boolean } } | undefined;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    sockets.add(client).add(upstream);
    let cutting: (() => void) | undefined;
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      if (armed?.stall && chunk.includes(armed.marker)) {
        const stall = armed.stall;
        armed = undefined;
        stall.cut = () => client.destroy();
        cutting = () => {}; // held back from here on
        if (stall.released) stall.cut();
      } else if (armed && chunk.includes(armed.marker)) {
        const done = armed.done;
        armed = undefined;
        // Cut on the target's next bytes: by then it has read the request. The target's side stays open, so it
        // finishes the call as if the client were still there.
        cutting = () => {
          client.destroy();
          done();
        };
      }
    });
    upstream.on('data', (chunk: Buffer) => {
      if (cutting) cutting();
      else if (!client.destroyed) client.write(chunk);
    });
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', () => {
      // Kept open after a cut until the target has had time to answer the call it was sent.
      if (cutting) setTimeout(end, 5_000).unref();
      else end();
    });
    upstream.on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (typeof addr !== 'object' || !addr) throw new Error('proxy has no port');
  return {
    url: `http://127.0.0.1:${addr.port}`,
    dropAfter(marker) {
      return new Promise<void>((resolve) => {
        armed = { marker: Buffer.from(marker), done: resolve };
      });
    },
    stallAfter(marker) {
      const stall: { cut?: () => void; released: boolean } = { released: false };
      armed = { marker: Buffer.from(marker), done: () => {}, stall };
      return {
        release() {
          stall.released = true;
          stall.cut?.();
        },
      };
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
