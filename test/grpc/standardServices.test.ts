import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVICE_NAMES } from '../../src/transport/grpc/createGrpcTransport.js';
import { startHarness, type Harness } from './harness.js';

const require = createRequire(import.meta.url);
const reflectionProto = join(dirname(require.resolve('@grpc/reflection')), '..', 'proto', 'grpc', 'reflection', 'v1', 'reflection.proto');

type Ctor = new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => grpc.Client & Record<string, (...args: unknown[]) => unknown>;
function clientCtor(protoFile: string, service: string): Ctor {
  const pkg = grpc.loadPackageDefinition(loadSync(protoFile, { keepCase: true, enums: String }));
  return service.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], pkg) as Ctor;
}

describe('standard gRPC services', () => {
  let h: Harness;
  const clients: grpc.Client[] = [];
  const creds = () => grpc.credentials.createSsl(Buffer.from(h.cert.cert));
  // Check the certificate by its DNS name: SNI with an IP address makes Node warn.
  const byName = { 'grpc.ssl_target_name_override': 'localhost' };
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await h.close();
  });

  it('reflection lists our services', async () => {
    const Reflection = clientCtor(reflectionProto, 'grpc.reflection.v1.ServerReflection');
    const client = new Reflection(h.address, creds(), byName);
    clients.push(client);
    const names = await new Promise<string[]>((resolve, reject) => {
      type Reply = { list_services_response?: { service: { name: string }[] } };
      const call = client.ServerReflectionInfo!() as grpc.ClientDuplexStream<unknown, Reply>;
      call.on('data', (res: Reply) => {
        resolve(res.list_services_response?.service.map((s) => s.name) ?? []);
        call.end();
      });
      call.on('error', reject);
      call.write({ list_services: '' });
    });
    expect(names).toEqual(expect.arrayContaining([...SERVICE_NAMES, 'grpc.health.v1.Health']));
  });

  it('reflection describes a service by symbol', async () => {
    const Reflection = clientCtor(reflectionProto, 'grpc.reflection.v1.ServerReflection');
    const client = new Reflection(h.address, creds(), byName);
    clients.push(client);
    const files = await new Promise<Buffer[]>((resolve, reject) => {
      const call = client.ServerReflectionInfo!() as grpc.ClientDuplexStream<unknown, { file_descriptor_response?: { file_descriptor_proto: Buffer[] } }>;
      call.on('data', (res) => {
        resolve(res.file_descriptor_response?.file_descriptor_proto ?? []);
        call.end();
      });
      call.on('error', reject);
      call.write({ file_containing_symbol: 'bpbroker.v1.RegistryService' });
    });
    const text = Buffer.concat(files).toString('latin1');
    expect(text).toContain('\n\x1abpbroker/v1/registry.proto'); // field 1 (name), exactly the relative path
    expect(text).toContain('RegistryService');
    expect(text).toContain('Creates an entry; fails with ALREADY_EXISTS'); // comments travel with it
  });

  it('health answers SERVING, then NOT_SERVING after setServing(false)', async () => {
    const Health = clientCtor(healthProtoPath, 'grpc.health.v1.Health');
    const client = new Health(h.address, creds(), byName);
    clients.push(client);
    const check = (service: string) =>
      new Promise<string>((resolve, reject) => {
        client.Check!({ service }, (err: grpc.ServiceError | null, res: { status: string }) => (err ? reject(err) : resolve(res.status)));
      });
    expect(await check('')).toBe('SERVING');
    for (const s of SERVICE_NAMES) expect(await check(s)).toBe('SERVING');
    h.transport.setServing(false);
    expect(await check('')).toBe('NOT_SERVING');
    expect(await check('bpbroker.v1.RegistryService')).toBe('NOT_SERVING');
    h.transport.setServing(true);
    expect(await check('')).toBe('SERVING');
  });
});
