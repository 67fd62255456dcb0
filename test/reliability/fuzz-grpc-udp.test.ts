import { createSocket, type Socket } from 'node:dgram';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegisterRequest } from '../../generated/bpbroker/v1/registry.js';
import { connect, type BrokerGrpcClient } from '../../src/client/grpcClient.js';
import { removeDir, startBroker, type RunningBroker } from '../helpers/broker.js';
import { call, qs } from '../helpers/https.js';
import { mustPing } from './raw.js';
import { report, runs, seedFor, SOAK } from './soak.js';

/**
 * Hostile input on gRPC (arbitrary bytes as the request message of every method, through a raw grpc-js client
 * whose serializer sends them as they are) and on UDP discovery (arbitrary datagrams). The broker must answer
 * each call with a client-error status and a message (never INTERNAL or UNKNOWN: those mean a broker bug), ignore
 * junk datagrams, stay up, and keep serving others in between.
 */
let b: RunningBroker;
let typed: BrokerGrpcClient;
let raw: grpc.Client;
let grpcInputs = 0;
let udpInputs = 0;

beforeAll(async () => {
  b = await startBroker();
  typed = connect(`127.0.0.1:${b.port}`, { insecureSkipVerify: true });
  const creds = grpc.credentials.createSsl(null, null, null, { rejectUnauthorized: false, checkServerIdentity: () => undefined });
  raw = new grpc.Client(`127.0.0.1:${b.port}`, creds, { 'grpc.ssl_target_name_override': 'bpbroker' });
  await typed.register('fuzz-known', { here: true });
});
afterAll(async () => {
  report({ suite: 'fuzz-grpc', inputs: grpcInputs });
  report({ suite: 'fuzz-udp', inputs: udpInputs, crashes: b.proc.exitCode === null && b.proc.signalCode === null ? 0 : 1 });
  typed.close();
  raw.close();
  await b.stop();
  removeDir(b.home);
});

const METHODS = [
  '/bpbroker.v1.RegistryService/Register',
  '/bpbroker.v1.RegistryService/Replace',
  '/bpbroker.v1.RegistryService/Update',
  '/bpbroker.v1.RegistryService/Get',
  '/bpbroker.v1.RegistryService/Delete',
  '/bpbroker.v1.RegistryService/List',
  '/bpbroker.v1.RegistryService/KeepAlive',
  '/bpbroker.v1.RegistryService/Watch',
  '/bpbroker.v1.PingService/Ping',
  '/bpbroker.v1.ExtensionService/Execute',
  '/grpc.health.v1.Health/Check',
];
const BAD = new Set([grpc.status.INTERNAL, grpc.status.UNKNOWN, grpc.status.DATA_LOSS]);

/** A streaming method's call: its first message or its status, whichever comes first (a watch does not end). */
function rawStream(path: string, body: Buffer): Promise<{ code: grpc.status; details: string }> {
  return new Promise((resolve) => {
    const call = raw.makeServerStreamRequest(path, (x: Buffer) => x, (x: Buffer) => x, body, new grpc.Metadata(), { deadline: Date.now() + 10_000 });
    call.on('data', () => {
      resolve({ code: grpc.status.OK, details: '' });
      call.cancel();
    });
    call.on('error', (err: grpc.ServiceError) => resolve({ code: err.code, details: err.details }));
    call.on('end', () => resolve({ code: grpc.status.OK, details: '' }));
  });
}

function rawCall(path: string, body: Buffer): Promise<{ code: grpc.status; details: string }> {
  if (path.endsWith('/Watch')) return rawStream(path, body);
  return new Promise((resolve) => {
    raw.makeUnaryRequest(
      path,
      (x: Buffer) => x,
      (x: Buffer) => x,
      body,
      new grpc.Metadata(),
      { deadline: Date.now() + 10_000 },
      (err) => resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: '' }),
    );
  });
}

/** Protobuf-shaped junk as well as plain junk: valid tags with wrong wire types, lengths past the end, bad UTF-8. */
const message = fc.oneof(
  fc.uint8Array({ maxLength: 512 }).map((u) => Buffer.from(u)),
  fc.array(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 16 })), { maxLength: 6 }).map((fields) =>
    Buffer.concat(fields.flatMap(([tag, bytes]) => [Buffer.from([tag, bytes.length]), Buffer.from(bytes)])),
  ),
  fc.tuple(fc.uint8Array({ maxLength: 32 }), fc.uint8Array({ maxLength: 32 })).map(([n, j]) =>
    Buffer.from(RegisterRequest.encode({ name: Buffer.from(n).toString('latin1'), json: Buffer.from(j).toString('latin1') }).finish()),
  ),
  fc.tuple(fc.string({ maxLength: 20 }), fc.string({ maxLength: 40 })).map(([name, json]) => Buffer.from(RegisterRequest.encode({ name: `fz-${name}`, json }).finish())),
  // A name field whose bytes are not UTF-8.
  fc.uint8Array({ minLength: 1, maxLength: 20 }).map((u) => Buffer.concat([Buffer.from([0x0a, u.length]), Buffer.from(u).map((x) => x | 0x80)])),
);

const seed = seedFor('fuzz-grpc-udp');

describe('gRPC under hostile messages', () => {
  it(`answers every call with a client-error status and a message, and keeps serving (seed ${seed})`, { timeout: SOAK ? 900_000 : 60_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...METHODS), message, async (path, body) => {
        grpcInputs++;
        const r = await rawCall(path, body);
        if (BAD.has(r.code) || (r.code !== grpc.status.OK && r.details === '')) {
          throw new Error(`${path} ${body.toString('hex')}: ${grpc.status[r.code]} ${JSON.stringify(r.details)}`);
        }
        if (grpcInputs % 10 === 0) await typed.ping('"alive"');
      }),
      { numRuns: runs(300, 5000), seed },
    );
    // Deep nesting is refused as the client's error, not an overflow in the broker.
    const deep = `{"a":${'['.repeat(30_000)}${']'.repeat(30_000)}}`;
    await expect(typed.register('deep', deep)).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/nested too deeply/) });
    await expect(typed.ping(deep)).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    expect((await typed.get('fuzz-known')).name).toBe('fuzz-known');
    await mustPing(b.port);
    expect(b.stderr()).not.toContain('failed unexpectedly');
  });
});

describe('UDP discovery under hostile datagrams', () => {
  let sock: Socket;
  /** Every reply that was not exactly `Key Exists\n`, whenever it came. */
  const malformed: string[] = [];
  beforeAll(async () => {
    sock = createSocket('udp4');
    sock.on('message', (m) => {
      if (m.toString('latin1') !== 'Key Exists\n') malformed.push(m.toString('latin1'));
    });
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  });
  afterAll(() => sock.close());

  /** Sends a datagram; resolves to the replies it got once one arrives, or to none after `waitMs` (a client's retry time). */
  function exchange(payload: Buffer, waitMs: number): Promise<Buffer[]> {
    return new Promise((resolve) => {
      const got: Buffer[] = [];
      const done = (): void => {
        clearTimeout(timer);
        sock.off('message', on);
        resolve(got);
      };
      const on = (m: Buffer): void => {
        got.push(m);
        done();
      };
      const timer = setTimeout(done, waitMs);
      sock.on('message', on);
      sock.send(payload, b.port, '127.0.0.1');
    });
  }

  it(`ignores junk, answers known names exactly, and stays up (seed ${seed})`, { timeout: SOAK ? 900_000 : 60_000 }, async () => {
    const datagram = fc.oneof(
      fc.uint8Array({ maxLength: 1500 }).map((u) => Buffer.from(u)),
      fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => Buffer.from(s)),
      fc.constantFrom('_access_key', ' _access_key\n', 'fuzz-known\u0000', '\r\n', '', 'FUZZ-KNOWN').map((s) => Buffer.from(s)),
      fc.integer({ min: 60_000, max: 65_507 }).map((n) => Buffer.alloc(n, 0x41)),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(datagram, { minLength: 1, maxLength: 20 }), async (batch) => {
        for (const d of batch) {
          udpInputs++;
          sock.send(d, b.port, '127.0.0.1');
        }
        // The known name still gets its answer, exactly (a junk datagram could by chance name an entry the
        // gRPC fuzz made, so only the form of every reply is checked, not their number: by the socket's listener).
        // UDP may drop the question when junk fills the socket buffer, so ask again, as a client would.
        let replies: Buffer[] = [];
        for (let attempt = 0; attempt < 5 && replies.length === 0; attempt++) replies = await exchange(Buffer.from(' fuzz-known \n'), 300);
        expect(replies.length).toBeGreaterThanOrEqual(1);
        expect(malformed).toEqual([]);
      }),
      { numRuns: runs(20, 300), seed },
    );
    await mustPing(b.port);
    expect((await call(b.port, `/services/Get/?${qs({ name: 'fuzz-known' })}`)).json.success).toBe(true);
  });
});
