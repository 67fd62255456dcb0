import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, GrpcStatus, type BrokerGrpcClient } from '../../src/client/grpcClient.js';
import { BPBROKER, ROOT, removeDir, runCli, startBroker, tempDir, type RunningBroker } from '../helpers/broker.js';
import { call } from '../helpers/https.js';

// gRPC Execute reaches extensions through the same core path as the legacy API.
describe('extensions over gRPC Execute', () => {
  const home = tempDir('bpbroker-ext-grpc-');
  const env = { BPBROKER_HOME: home };
  let broker: RunningBroker;
  let client: BrokerGrpcClient;

  beforeAll(async () => {
    expect((await runCli(BPBROKER, ['install-extension', '--script', join(ROOT, 'extensions/example.mjs')], { env })).code).toBe(0);
    expect((await runCli(BPBROKER, ['configure'], { env, input: '{"example": {"_access_key": "k"}}' })).code).toBe(0);
    broker = await startBroker({ home });
    client = connect(`127.0.0.1:${broker.port}`, { insecureSkipVerify: true, accessKey: 'k' });
  });
  afterAll(async () => {
    client?.close();
    await broker?.stop();
    removeDir(home);
  });

  it('answers what the legacy API answers, with the same access and method checks', async () => {
    const r = await client.execute('example', 'Test', { data: 'hi', params: { extra: '1' } });
    expect(r.status).toBe(200);
    expect(r.contentType).toMatch(/^Application\/json/);
    expect(JSON.parse(r.body)).toEqual({ data: 'hi', extra: '1', src: '127.0.0.1' });
    const legacy = await call(broker.port, '/example/Test/?data=hi&extra=1&access_key=k');
    // The legacy API passes its access_key parameter on to the method, as the original did; gRPC sends it as metadata.
    const { access_key: _key, ...legacyParams } = legacy.json;
    expect(JSON.parse(r.body)).toEqual(legacyParams);
    await expect(client.execute('example', 'Test', {}, { accessKey: 'wrong' })).rejects.toMatchObject({ code: GrpcStatus.UNAUTHENTICATED, details: 'Incorrect access key' });
    await expect(client.execute('example', '_helper')).rejects.toMatchObject({ code: GrpcStatus.PERMISSION_DENIED, details: 'Unauthorized method' });
    await expect(client.execute('nosuch', 'Test')).rejects.toMatchObject({ code: GrpcStatus.PERMISSION_DENIED, details: 'Unauthorized package' });
  });
});
