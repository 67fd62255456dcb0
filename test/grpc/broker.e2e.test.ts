import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type BrokerGrpcClient } from '../../src/client/grpcClient.js';
import { removeDir, ROOT, startBroker, type RunningBroker } from '../helpers/broker.js';
import { call, qs } from '../helpers/https.js';

/** gRPC against the real `bpbroker start` (built into dist/ by `npm test`), on the one TLS port. */
describe('gRPC on the broker port', () => {
  let b: RunningBroker;
  let client: BrokerGrpcClient;
  let ca: Buffer;
  beforeAll(async () => {
    b = await startBroker();
    ca = readFileSync(join(b.home, 'etc', 'bpbroker.crt'));
    client = connect(`127.0.0.1:${b.port}`, { ca });
  });
  afterAll(async () => {
    client.close();
    await b.stop();
    removeDir(b.home);
  });

  it('serves every operation, verified against the broker certificate', async () => {
    expect(await client.ping('{"a":1}')).toEqual({ src: '127.0.0.1', json: '{"a":1}' });
    const e = await client.register('e2e-1', { port: 8080 });
    expect(await client.get('e2e-1')).toEqual(e);
    expect(JSON.parse((await client.update('e2e-1', { tls: true })).json)).toEqual({ port: 8080, tls: true });
    expect((await client.replace('e2e-1', { port: 1 })).json).toBe('{"port":1}');
    expect((await client.list('e2e-')).entries.map((x) => x.name)).toEqual(['e2e-1']);
    await expect(client.register('e2e-1', {})).rejects.toMatchObject({ code: grpc.status.ALREADY_EXISTS });
    expect(await client.delete('e2e-1')).toBe(true);
    await expect(client.get('e2e-1')).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    await expect(client.execute('nope', 'X')).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
  });

  it('shares entries with the legacy API on the same port', async () => {
    const legacy = await call(b.port, `/services/Register/?${qs({ name: 'both', data: '{"x":[1,2]}' })}`);
    expect(legacy.status).toBe(200);
    const viaGrpc = await client.get('both');
    expect(viaGrpc.json).toBe('{"x":[1,2]}');
    expect(viaGrpc.lastWriteTs).toBe(legacy.json.data.last_write_ts);
    await client.update('both', { y: 3 });
    const back = await call(b.port, `/services/Get/?${qs({ name: 'both' })}`);
    expect(back.json.data).toMatchObject({ x: [1, 2], y: 3, last_write_ip: '127.0.0.1' });
  });

  it('works for a client built from proto/ alone', async () => {
    const pkg = grpc.loadPackageDefinition(loadSync('bpbroker/v1/registry.proto', { includeDirs: [join(ROOT, 'proto')] })) as any;
    const stub = new pkg.bpbroker.v1.RegistryService(`127.0.0.1:${b.port}`, grpc.credentials.createSsl(null, null, null, { rejectUnauthorized: false, checkServerIdentity: () => undefined }), {
      'grpc.ssl_target_name_override': 'localhost', // no IP address as SNI (Node warns)
    });
    try {
      const res = await new Promise<any>((resolve, reject) =>
        stub.Register({ name: 'plain', json: '{"k":"v"}' }, (err: Error | null, r: unknown) => (err ? reject(err) : resolve(r))),
      );
      expect(res.entry).toMatchObject({ name: 'plain', json: '{"k":"v"}', lastWriteIp: '127.0.0.1' });
    } finally {
      stub.close();
    }
  });
});
