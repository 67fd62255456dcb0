// etcd on loopback for the comparison: one member, data in a temp folder (same disk as the broker's),
// TLS with the broker's certificate so both servers do the same crypto.
import { createServer } from 'node:net';
import { join } from 'node:path';
import { spawnReady } from './procs.mjs';

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export async function startEtcd(dir, cert) {
  const client = await freePort();
  const peer = await freePort();
  const p = await spawnReady(
    'etcd',
    [
      '--name', 'bench',
      '--data-dir', join(dir, 'data'),
      '--listen-client-urls', `https://127.0.0.1:${client}`,
      '--advertise-client-urls', `https://127.0.0.1:${client}`,
      '--listen-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-cluster', `bench=http://127.0.0.1:${peer}`,
      '--cert-file', cert.certPath,
      '--key-file', cert.keyPath,
      '--logger', 'zap',
    ],
    { ready: /serving client traffic/ },
  );
  return { ...p, port: client };
}
