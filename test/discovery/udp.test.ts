import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, startBroker, type RunningBroker } from '../helpers/broker.js';
import { call, qs } from '../helpers/https.js';
import { discoveryReplies } from '../helpers/udp.js';

// Discovery over loopback only: datagrams to 127.0.0.1, never a broadcast on the machine's network.
let b: RunningBroker;
beforeAll(async () => {
  b = await startBroker();
  for (const name of ['cluster-1', 'ünï ✓']) await call(b.port, `/services/Register/?${qs({ name, data: '{}' })}`);
});
afterAll(async () => {
  await b.stop();
  removeDir(b.home);
});

/** What the broker answers to one datagram (see discoveryReplies: no waiting for a silence). */
const ask = (payload: Buffer | string): Promise<Buffer[]> => discoveryReplies(b.port, payload, 'cluster-1');

describe('UDP discovery', () => {
  it('answers exactly "Key Exists\\n" for a present key, whatever the surrounding whitespace', async () => {
    for (const payload of ['cluster-1\n', 'cluster-1', ' cluster-1 \r\n', '\tcluster-1\t']) {
      const got = await ask(payload);
      expect(got.length, JSON.stringify(payload)).toBe(1);
      expect(got[0]!.equals(Buffer.from('Key Exists\n'))).toBe(true);
      expect(got[0]!.length).toBe(11);
    }
    expect((await ask('ünï ✓\n')).length).toBe(1);
  });

  it('answers nothing for an absent key, another case, a setting, or garbage', async () => {
    for (const payload of ['nosuch\n', 'CLUSTER-1\n', '_access_key\n', '\n', '', Buffer.from([0xff, 0xfe, 0x00, 0x01])]) {
      expect((await ask(payload)).length, String(payload)).toBe(0);
    }
  });

  it('follows the registry: a deleted key is no longer answered', async () => {
    await call(b.port, `/services/Register/?${qs({ name: 'transient', data: '{}' })}`);
    expect((await ask('transient\n')).length).toBe(1);
    await call(b.port, `/services/Delete/?${qs({ name: 'transient' })}`);
    expect((await ask('transient\n')).length).toBe(0);
  });
});
