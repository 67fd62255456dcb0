import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import selfsigned from 'selfsigned';
import { ConfigError } from '../config/ConfigError.js';
import { etcDir } from '../config/paths.js';
import type { ApiSection } from '../config/schema.js';
import type { Logger } from '../log/Logger.js';
import { atomicWriteFile } from '../fs/atomicWrite.js';

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
export async function loadOrCreateCertificate(home: string, api: Pick<ApiSection, 'ssl_cert' | 'ssl_key'>, log: Logger): Promise<TlsMaterial> {
  const certPath = api.ssl_cert;
  const keyPath = api.ssl_key;
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
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const certFile = join(dir, 'bpbroker.crt');
  return { ...(await generatedPair(dir, certFile, join(dir, 'bpbroker.key'), log)), certPath: certFile };
}

/**
 * This installation's own pair, generated on first use. Brokers with different configuration files share it
 * and may start at the same moment: one generates under a lock file while the others wait, and a pair is
 * only used once its key matches its certificate.
 */
async function generatedPair(dir: string, certFile: string, keyFile: string, log: Logger): Promise<{ cert: Buffer; key: Buffer }> {
  const lockFile = join(dir, 'bpbroker.tls.lock');
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const pair = matchingPair(certFile, keyFile);
    if (pair) return pair;
    const release = tryLock(lockFile);
    if (!release) {
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }
    try {
      if (!matchingPair(certFile, keyFile)) {
        if (existsSync(certFile) || existsSync(keyFile)) log.warn('the generated TLS key and certificate do not match; generating a new pair', { dir });
        await generate(certFile, keyFile);
        log.info('generated a self-signed certificate for this installation', { cert: certFile });
      }
    } finally {
      release();
    }
  }
  throw new ConfigError(`Cannot create the TLS certificate in ${dir}: ${lockFile} is held. Remove it if no broker is starting.`);
}

function matchingPair(certFile: string, keyFile: string): { cert: Buffer; key: Buffer } | undefined {
  try {
    const cert = readFileSync(certFile);
    const key = readFileSync(keyFile);
    return new X509Certificate(cert).checkPrivateKey(createPrivateKey(key)) ? { cert, key } : undefined;
  } catch {
    return undefined; // missing, or half written by another process
  }
}

/** Exclusive create; a lock older than a minute is a crashed generator's and is taken over. */
function tryLock(lockFile: string): (() => void) | undefined {
  try {
    closeSync(openSync(lockFile, 'wx', 0o600));
  } catch {
    try {
      if (Date.now() - statSync(lockFile).mtimeMs > 60_000) unlinkSync(lockFile);
    } catch {
      /* gone meanwhile */
    }
    return undefined;
  }
  return () => rmSync(lockFile, { force: true });
}

async function generate(certFile: string, keyFile: string): Promise<void> {
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
  // Each file appears whole (temp file, then rename); readers check the pair matches before using it.
  await atomicWriteFile(keyFile, pems.private, { mode: 0o600 });
  await atomicWriteFile(certFile, pems.cert, { mode: 0o644 });
}
