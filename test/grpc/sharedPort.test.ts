import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { request, type RequestOptions } from 'node:https';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type BrokerGrpcClient } from '../../src/client/grpcClient.js';
import { defaultSections } from '../../src/config/schema.js';
import { Broker } from '../../src/core/Broker.js';
import { silentLogger } from '../../src/log/Logger.js';
import { Registry } from '../../src/store/embedded/Registry.js';
import { EmbeddedStore } from '../../src/store/embedded/EmbeddedStore.js';
import { apiSettings } from '../../src/server/settings.js';
import { createGrpcTransport, type GrpcTransport } from '../../src/transport/grpc/createGrpcTransport.js';
import { createLegacyApp } from '../../src/transport/http/legacyApi.js';
import { TlsListener } from '../../src/transport/tlsListener.js';
import { makeCert, type Cert } from './harness.js';

/** A legacy call the way curl makes it: offering h2 and http/1.1, not verifying the certificate. */
function curl(port: number, path: string): Promise<{ status: number; alpn: string | false; body: string }> {
  return new Promise((resolve, reject) => {
    // https.request hands TLS options such as ALPNProtocols on to tls.connect; its type does not list them.
    const options: RequestOptions & Pick<ConnectionOptions, 'ALPNProtocols'> = { host: '127.0.0.1', port, path, method: 'POST', rejectUnauthorized: false, agent: false, ALPNProtocols: ['h2', 'http/1.1'] };
    const req = request(options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, alpn: (res.socket as { alpnProtocol?: string | false }).alpnProtocol ?? false, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The shared port as the broker composes it: the TLS listener's ALPN split, HTTP/1.1 to the legacy API, h2 to gRPC. */
describe('one TLS port for the legacy API and gRPC', () => {
  let dir: string;
  let registry: Registry;
  let transport: GrpcTransport;
  let http: HttpServer;
  let tls: TlsListener;
  let cert: Cert;
  let client: BrokerGrpcClient;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bpbroker-shared-'));
    registry = await Registry.open({ journalDir: dir, snapshot: { revision: 0, entries: [] } });
    const broker = new Broker(new EmbeddedStore(registry), defaultSections(), apiSettings(defaultSections()));
    transport = createGrpcTransport(broker, silentLogger, { shutdownGraceMs: 500 });
    http = createHttpServer(createLegacyApp(broker, { maxBodyBytes: 1048576, log: silentLogger }));
    cert = await makeCert();
    tls = await TlsListener.listen({
      host: '127.0.0.1',
      port: 0,
      cert: Buffer.from(cert.cert),
      key: Buffer.from(cert.key),
      handshakeTimeoutMs: 5000,
      log: silentLogger,
      onHttp1: (socket) => http.emit('connection', socket),
      onH2: (socket) => transport.inject(socket),
    });
    client = connect(`127.0.0.1:${tls.port}`, { ca: cert.cert });
  });

  afterAll(async () => {
    client.close();
    transport.setServing(false);
    await transport.close();
    http.closeAllConnections();
    tls.destroyAll();
    await tls.close();
    await registry.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives curl-style clients HTTP/1.1 and the legacy API', async () => {
    const res = await curl(tls.port, '/ping/Ping/?data=5');
    expect(res.alpn).toBe('http/1.1');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ src: '127.0.0.1', data: 5 });
  });

  it('gives h2-only clients gRPC', async () => {
    expect(await client.ping('5')).toEqual({ src: '127.0.0.1', json: '5' });
  });

  it('negotiates h2 only when http/1.1 is not offered', async () => {
    const alpn = await new Promise<string | false>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port: tls.port, rejectUnauthorized: false, ALPNProtocols: ['h2'] }, () => {
        resolve(s.alpnProtocol ?? false);
        s.destroy();
      });
      s.on('error', reject);
    });
    expect(alpn).toBe('h2');
  });

  it('reads over gRPC what the legacy API wrote, and the reverse, with the same data and stamps', async () => {
    const legacy = await curl(tls.port, `/services/Register/?name=legacy-1&data=${encodeURIComponent('{"port":8080,"tags":["a","b"],"f":1.5}')}`);
    const written = JSON.parse(legacy.body) as { data: Record<string, unknown> };
    const viaGrpc = await client.get('legacy-1');
    const { last_write_ip, last_write_ts, ...data } = written.data;
    expect(JSON.parse(viaGrpc.json)).toEqual(data);
    expect(viaGrpc.lastWriteIp).toBe(last_write_ip);
    expect(viaGrpc.lastWriteTs).toBe(last_write_ts);

    const g = await client.register('grpc-1', { nested: { x: [1, null, true] }, s: 'é' });
    const back = JSON.parse((await curl(tls.port, '/services/Get/?name=grpc-1')).body) as { success: boolean; data: Record<string, unknown> };
    expect(back.success).toBe(true);
    expect(back.data).toEqual({ ...(JSON.parse(g.json) as object), last_write_ip: g.lastWriteIp, last_write_ts: g.lastWriteTs });
  });
});
