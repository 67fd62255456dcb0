import { join } from 'node:path';
import { connect } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { removeDir, startBroker, tempDir } from '../helpers/broker.js';
import { call } from '../helpers/https.js';

function fingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
      resolve(s.getPeerX509Certificate()!.fingerprint256);
      s.destroy();
    });
    s.on('error', reject);
  });
}

describe('the generated certificate', () => {
  it('is generated once when brokers of one installation start at the same moment', async () => {
    const home = tempDir();
    try {
      // Different configuration files, one home: they share etc/bpbroker.crt and etc/bpbroker.key.
      let first = '';
      const brokers = await Promise.all([1, 2, 3, 4].map((i) => startBroker({ home, args: ['--config', join(home, `b${i}.json`)] })));
      try {
        const prints = await Promise.all(brokers.map((b) => fingerprint(b.port)));
        expect(new Set(prints).size).toBe(1);
        first = prints[0]!;
        for (const b of brokers) expect((await call(b.port, '/ping/Ping/?data=1')).json.data).toBe(1);
      } finally {
        await Promise.all(brokers.map((b) => b.stop()));
      }
      const again = await startBroker({ home, args: ['--config', join(home, 'b1.json')] });
      expect(await fingerprint(again.port)).toBe(first); // kept, not generated again
      await again.stop();
    } finally {
      removeDir(home);
    }
  });
});
