import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import selfsigned from 'selfsigned';
import { ConfigError } from '../config/ConfigError.js';
import { etcDir } from '../config/paths.js';
import type { Logger } from '../log/Logger.js';

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  certPath: string;
}

/**
 * The broker's certificate: `api.ssl_cert`/`api.ssl_key` when set, otherwise one generated for this
 * installation on first start into `$BPBROKER_HOME/etc` (key mode 0600). No key ships with the package.
 * Old files name the original's public `dummy_api.*` pair; that pair is never used.
 */
export async function loadOrCreateCertificate(home: string, api: Record<string, unknown>, log: Logger): Promise<TlsMaterial> {
  const certPath = typeof api.ssl_cert === 'string' ? api.ssl_cert : '';
  const keyPath = typeof api.ssl_key === 'string' ? api.ssl_key : '';
  const legacyDummy = basename(certPath).startsWith('dummy_api.') || basename(keyPath).startsWith('dummy_api.');
  if (certPath && keyPath && !legacyDummy) {
    try {
      return { cert: readFileSync(certPath), key: readFileSync(keyPath), certPath };
    } catch (err) {
      throw new ConfigError(`Cannot read the TLS certificate or key named by api.ssl_cert/api.ssl_key: ${(err as Error).message}`);
    }
  }
  if (legacyDummy) log.warn('ignoring the publicly known dummy_api certificate named in the configuration; using this installation\'s own');
  const dir = etcDir(home);
  const generatedCert = join(dir, 'bpbroker.crt');
  const generatedKey = join(dir, 'bpbroker.key');
  if (!existsSync(generatedCert) || !existsSync(generatedKey)) {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const notAfter = new Date();
    notAfter.setFullYear(notAfter.getFullYear() + 10);
    const pems = await selfsigned.generate([{ name: 'commonName', value: hostname() }], {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
      notAfterDate: notAfter,
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'subjectAltName', altNames: [{ type: 2, value: hostname() }, { type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }] },
      ],
    });
    writeFileSync(generatedKey, pems.private, { mode: 0o600 });
    writeFileSync(generatedCert, pems.cert, { mode: 0o644 });
    log.info('generated a self-signed certificate for this installation', { cert: generatedCert });
  }
  return { cert: readFileSync(generatedCert), key: readFileSync(generatedKey), certPath: generatedCert };
}
