import { connect as tlsConnect, type TLSSocket } from 'node:tls';

/**
 * A hostile HTTP/2 client that writes its frames itself, so it can do what node:http2 and grpc-js never do:
 * open streams past the server's SETTINGS_MAX_CONCURRENT_STREAMS, never send a request message, grant a huge
 * flow-control window and then never read its socket.
 */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8 } as const;
const FLAG = { ACK: 1, END_STREAM: 1, END_HEADERS: 4 } as const;
export const SETTINGS_MAX_CONCURRENT_STREAMS = 3;
export const RST_CANCEL = 8;
const SETTINGS_INITIAL_WINDOW_SIZE = 4;
const MAX_WINDOW = 0x7fffffff;

function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** An HPACK string literal without Huffman coding (short strings only). */
function literal(s: string): Buffer {
  const b = Buffer.from(s, 'latin1');
  if (b.length > 126) throw new Error('header too long for this encoder');
  return Buffer.concat([Buffer.from([b.length]), b]);
}

/** A gRPC request's header block: static-table names, literal values, nothing indexed. */
function grpcHeaderBlock(path: string): Buffer {
  return Buffer.concat([
    Buffer.from([0x83, 0x87]), // :method POST, :scheme https
    Buffer.from([0x04]), literal(path), // :path
    Buffer.from([0x01]), literal('localhost'), // :authority
    Buffer.from([0x0f, 0x10]), literal('application/grpc'), // content-type (static index 31)
    Buffer.from([0x00]), literal('te'), literal('trailers'),
  ]);
}

/** A gRPC message: flag byte, length, bytes. */
export function grpcMessage(bytes: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + bytes.length);
  out.writeUInt32BE(bytes.length, 1);
  Buffer.from(bytes).copy(out, 5);
  return out;
}

export interface RawH2 {
  socket: TLSSocket;
  /** The server's SETTINGS, by identifier (only when reading). */
  settings: Map<number, number>;
  /** RST_STREAM frames received, by error code (only when reading). */
  resets: Map<number, number>;
  goaway: boolean;
  closed: boolean;
  /** Resolves on the server's first SETTINGS frame (only when reading), or when the connection closes. */
  ready: Promise<void>;
  /** Opens a stream; resolves once the socket takes more (false when the connection is gone). */
  open(path: string, opts?: { message?: Buffer; end?: boolean }): Promise<boolean>;
  destroy(): void;
}

export interface RawH2Options {
  /**
   * Read the socket (answering SETTINGS and PING, never granting window: the responses' data stays unread)
   * or leave it unread from the start. Default: read.
   */
  read?: boolean;
  /** Grant the server a 2 GiB window on the connection and every stream. */
  hugeWindow?: boolean;
}

export function openRawH2(port: number, opts: RawH2Options = {}): Promise<RawH2> {
  const read = opts.read ?? true;
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['h2'], servername: 'localhost' }, () => {
      socket.off('error', reject);
      socket.on('error', () => {});
      let nextId = 1;
      let gotSettings = (): void => {};
      const ready = new Promise<void>((r) => (gotSettings = r));
      socket.once('close', () => gotSettings());
      const conn: RawH2 = {
        ready,
        socket,
        settings: new Map(),
        resets: new Map(),
        goaway: false,
        closed: false,
        async open(path, o = {}) {
          if (conn.closed) return false;
          const id = nextId;
          nextId += 2;
          const endOnHeaders = o.end === true && !o.message;
          const parts = [frame(FRAME.HEADERS, FLAG.END_HEADERS | (endOnHeaders ? FLAG.END_STREAM : 0), id, grpcHeaderBlock(path))];
          if (o.message) parts.push(frame(FRAME.DATA, o.end ? FLAG.END_STREAM : 0, id, o.message));
          if (socket.write(Buffer.concat(parts))) return true;
          return new Promise<boolean>((done) => {
            const settle = (): void => {
              socket.off('drain', settle);
              socket.off('close', settle);
              done(!conn.closed);
            };
            socket.on('drain', settle);
            socket.on('close', settle);
          });
        },
        destroy: () => socket.destroy(),
      };
      socket.on('close', () => (conn.closed = true));
      if (read) {
        let buf = Buffer.alloc(0);
        socket.on('data', (d: Buffer) => {
          buf = Buffer.concat([buf, d]);
          while (buf.length >= 9) {
            const len = buf.readUIntBE(0, 3);
            if (buf.length < 9 + len) break;
            const type = buf[3]!;
            const flags = buf[4]!;
            const payload = buf.subarray(9, 9 + len);
            buf = buf.subarray(9 + len);
            if (type === FRAME.SETTINGS && !(flags & FLAG.ACK)) {
              for (let i = 0; i + 6 <= payload.length; i += 6) conn.settings.set(payload.readUInt16BE(i), payload.readUInt32BE(i + 2));
              socket.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
              gotSettings();
            } else if (type === FRAME.PING && !(flags & FLAG.ACK)) {
              socket.write(frame(FRAME.PING, FLAG.ACK, 0, payload));
            } else if (type === FRAME.RST_STREAM) {
              const code = payload.readUInt32BE(0);
              conn.resets.set(code, (conn.resets.get(code) ?? 0) + 1);
            } else if (type === FRAME.GOAWAY) {
              conn.goaway = true;
            }
          }
        });
      } else {
        socket.pause();
      }
      const settings = Buffer.alloc(opts.hugeWindow ? 6 : 0);
      const hello: Buffer[] = [PREFACE];
      if (opts.hugeWindow) {
        settings.writeUInt16BE(SETTINGS_INITIAL_WINDOW_SIZE, 0);
        settings.writeUInt32BE(MAX_WINDOW, 2);
        const increment = Buffer.alloc(4);
        increment.writeUInt32BE(MAX_WINDOW - 65535, 0);
        hello.push(frame(FRAME.SETTINGS, 0, 0, settings), frame(FRAME.WINDOW_UPDATE, 0, 0, increment));
      } else {
        hello.push(frame(FRAME.SETTINGS, 0, 0));
      }
      socket.write(Buffer.concat(hello));
      resolve(conn);
    });
    socket.once('error', reject);
  });
}
