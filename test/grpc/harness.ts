import type * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import selfsigned from 'selfsigned';
import { connect, type BrokerGrpcClient, type GrpcConnectOptions } from '../../src/client/grpcClient.js';
import { defaultSections } from '../../src/config/schema.js';
import { Broker } from '../../src/core/Broker.js';
import { createLogger, type Logger } from '../../src/log/Logger.js';
import { Registry } from '../../src/store/embedded/Registry.js';
import { EmbeddedStore } from '../../src/store/embedded/EmbeddedStore.js';
import { apiSettings } from '../../src/server/settings.js';
import { createGrpcTransport, type GrpcTransport } from '../../src/transport/grpc/createGrpcTransport.js';

export interface Cert {
  cert: string;
  key: string;
}

/** Same shape as the broker's own generated certificate: self-signed, not a CA, names localhost and 127.0.0.1. */
export async function makeCert(altNames = [{ type: 2 as const, value: 'localhost' }, { type: 7 as const, ip: '127.0.0.1' }]): Promise<Cert> {
  const pems = await selfsigned.generate([{ name: 'commonName', value: 'bpbroker-test' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    extensions: [{ name: 'basicConstraints', cA: false }, { name: 'subjectAltName', altNames }],
  });
  return { cert: pems.cert, key: pems.private };
}

export interface Harness {
  broker: Broker;
  transport: GrpcTransport;
  address: string;
  logs: string[];
  cert: Cert;
  client(opts?: GrpcConnectOptions): BrokerGrpcClient;
  close(): Promise<void>;
}

/**
 * A broker over a fresh registry, its gRPC transport behind a TLS listener on 127.0.0.1:0 that offers only
 * h2 (as the shared port does for gRPC clients) and injects every socket.
 */
export async function startHarness(opts: { sections?: ReturnType<typeof defaultSections>; cert?: Cert } = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'bpbroker-grpc-'));
  const sections = opts.sections ?? defaultSections();
  const registry = await Registry.open({ journalDir: dir, snapshot: { revision: 0, entries: [] } });
  const broker = new Broker(new EmbeddedStore(registry), sections, apiSettings(sections));
  const logs: string[] = [];
  const log: Logger = createLogger('debug', (line) => logs.push(line));
  const transport = createGrpcTransport(broker, log, { shutdownGraceMs: 500 });
  const cert = opts.cert ?? (await makeCert());
  const tls: Server = createServer({ cert: cert.cert, key: cert.key, ALPNProtocols: ['h2'] });
  const sockets = new Set<TLSSocket>();
  tls.on('secureConnection', (socket: TLSSocket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    transport.inject(socket);
  });
  await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
  const address = `127.0.0.1:${(tls.address() as AddressInfo).port}`;
  const clients: BrokerGrpcClient[] = [];
  return {
    broker,
    transport,
    address,
    logs,
    cert,
    client(copts = { ca: cert.cert }) {
      const c = connect(address, copts);
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.close();
      await transport.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => tls.close(() => resolve()));
      await registry.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves to the gRPC status code a call failed with (and fails the test when it succeeded). */
export async function codeOf(p: Promise<unknown>): Promise<grpc.status> {
  try {
    await p;
  } catch (err) {
    return (err as grpc.ServiceError).code;
  }
  throw new Error('call succeeded');
}
