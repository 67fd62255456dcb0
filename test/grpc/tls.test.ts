import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeOf, makeCert, startHarness, type Harness } from './harness.js';

describe('client TLS options against a self-signed certificate', () => {
  let h: Harness;
  beforeAll(async () => {
    // Names only a DNS name, so dialing 127.0.0.1 fails the name check unless told otherwise.
    h = await startHarness({ cert: await makeCert([{ type: 2, value: 'broker.example' }]) });
  });
  afterAll(() => h.close());

  it('refuses an unknown certificate by default', async () => {
    expect(await codeOf(h.client({}).ping())).toBe(grpc.status.UNAVAILABLE);
  });

  it('refuses the right certificate under the wrong name', async () => {
    expect(await codeOf(h.client({ ca: h.cert.cert }).ping())).toBe(grpc.status.UNAVAILABLE);
  });

  it('accepts the broker certificate as CA with its name', async () => {
    expect((await h.client({ ca: h.cert.cert, serverName: 'broker.example' }).ping()).src).toBe('127.0.0.1');
  });

  it('accepts anything with insecureSkipVerify', async () => {
    expect((await h.client({ insecureSkipVerify: true }).ping()).src).toBe('127.0.0.1');
  });

  it('refuses a different certificate even with the right name', async () => {
    const other = await makeCert([{ type: 2, value: 'broker.example' }]);
    expect(await codeOf(h.client({ ca: other.cert, serverName: 'broker.example' }).ping())).toBe(grpc.status.UNAVAILABLE);
  });
});

describe('shutdown', () => {
  it('reports NOT_SERVING, lets running calls finish and refuses new connections', async () => {
    const h = await startHarness();
    const c = h.client();
    await c.register('a', { v: 1 });
    await h.transport.close();
    expect(await codeOf(h.client().ping())).toBe(grpc.status.UNAVAILABLE);
    await h.close();
  });

  it('also serves on a separate port with its own TLS credentials', async () => {
    const h = await startHarness();
    const creds = grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(h.cert.cert), private_key: Buffer.from(h.cert.key) }]);
    const port = await h.transport.listenSeparate('', 0, creds); // every interface, as with listen_ip ''
    expect(port).toBeGreaterThan(0);
    const c = h.client();
    await c.register('shared', { p: 1 });
    const { connect } = await import('../../src/client/grpcClient.js');
    const sep = connect(`127.0.0.1:${port}`, { ca: h.cert.cert });
    try {
      expect((await sep.get('shared')).json).toBe('{"p":1}');
    } finally {
      sep.close();
      await h.close();
    }
  });
});
