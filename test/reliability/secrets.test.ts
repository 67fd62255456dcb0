import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { connect, type BrokerGrpcClient } from '../../src/client/grpcClient.js';
import { BPBROKER, removeDir, ROOT, runCli, startBroker, tempDir, type RunningBroker } from '../helpers/broker.js';
import { configHolds } from '../helpers/configFile.js';
import { call, qs } from '../helpers/https.js';
import { discoveryReplies } from '../helpers/udp.js';
import { waitFor } from '../helpers/wait.js';
import { rawRequest } from './raw.js';

// Counts calls to crypto.timingSafeEqual while keeping its behaviour.
const timingSafe = vi.hoisted(() => ({ calls: 0 }));
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return {
    ...real,
    timingSafeEqual: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
      timingSafe.calls++;
      return real.timingSafeEqual(a, b);
    },
  };
});
const { accessKeyMatches } = await import('../../src/core/accessKey.js');

/** Distinctive, so that a search of logs and files finds nothing else. */
const SERVICES_KEY = 'svc-KEY-7f3a9c1e5b';
const PING_KEY = 'ping-KEY-2d8e4b6a0c';
const EXT_KEY = 'ext-KEY-9b1d3f5a7e';

/** Every file under `dir`, with its path relative to `dir`. */
function filesUnder(dir: string, rel = ''): string[] {
  return readdirSync(join(dir, rel), { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? filesUnder(dir, join(rel, d.name)) : [join(rel, d.name)],
  );
}

describe('access key comparison', () => {
  it('matches exactly, through a constant-time comparison of fixed-length digests', () => {
    const before = timingSafe.calls;
    expect(accessKeyMatches('secret', 'secret')).toBe(true);
    for (const wrong of ['Secret', 'secret ', 'secre', 'secretsecret', '', undefined, 's\u0000ecret']) {
      expect(accessKeyMatches('secret', wrong), String(wrong)).toBe(false);
    }
    // Every comparison went through timingSafeEqual, whatever the lengths (no early exit on a length mismatch).
    expect(timingSafe.calls - before).toBe(8);
  });
});

describe('secrets on a running broker', () => {
  let b: RunningBroker;
  let client: BrokerGrpcClient;
  const seen: string[] = [];

  beforeAll(async () => {
    const home = tempDir();
    mkdirSync(join(home, 'etc'));
    const file = join(home, 'etc', 'bpbroker.json');
    // Written by an operator with a lax mode: the broker's own rewrite must tighten it.
    writeFileSync(file, JSON.stringify({ services: { _access_key: SERVICES_KEY }, ping: { _access_key: PING_KEY }, ossec: { _access_key: EXT_KEY } }));
    chmodSync(file, 0o644);
    b = await startBroker({ home, args: ['--log-level', 'debug'] });
    client = connect(`127.0.0.1:${b.port}`, { insecureSkipVerify: true, accessKey: SERVICES_KEY });
  });
  afterAll(async () => {
    client?.close();
    await b?.stop();
    if (b) removeDir(b.home);
  });

  const legacy = async (path: string, params: Record<string, string>) => {
    const r = await call(b.port, `${path}?${qs(params)}`);
    seen.push(r.text, r.reason, JSON.stringify(r.headers));
    return r;
  };

  it('the registry API can neither read nor change settings (`_` names), over either protocol', async () => {
    expect((await legacy('/services/Register/', { name: 'visible', data: '{"a":1}', access_key: SERVICES_KEY })).json.success).toBe(true);
    for (const method of ['Get', 'List', 'Delete', 'Register', 'Replace', 'Update']) {
      for (const name of ['_access_key', '_anything']) {
        const r = await legacy(`/services/${method}/`, { name, data: '{"x":1}', access_key: SERVICES_KEY });
        expect(r.status, `${method} ${name}`).toBe(400);
        expect(r.json.message).toBe(`Reserved name ${name}`);
      }
    }
    const grpcCalls: Array<[string, () => Promise<unknown>]> = [
      ['get', () => client.get('_access_key')],
      ['delete', () => client.delete('_access_key')],
      ['register', () => client.register('_access_key', '"x"')],
      ['replace', () => client.replace('_access_key', '"x"')],
      ['update', () => client.update('_access_key', '{"x":1}')],
    ];
    for (const [what, run] of grpcCalls) {
      const err = await run().then(() => undefined, (e: grpc.ServiceError) => e);
      expect(err?.code, what).toBe(grpc.status.INVALID_ARGUMENT);
      seen.push(err?.details ?? '');
    }
    const listed = [];
    for await (const e of client.listAll('')) listed.push(e);
    expect(listed.map((e) => e.name)).toEqual(['visible']);
    seen.push(JSON.stringify(listed));
    const underscore = await client.list('_');
    expect(underscore.entries).toEqual([]);
    // The key is unchanged: it still opens the namespace, and nothing else does.
    expect((await legacy('/services/Get/', { name: 'visible', access_key: SERVICES_KEY })).json.success).toBe(true);
    expect((await legacy('/services/Get/', { name: 'visible', access_key: 'x' })).status).toBe(401);
    // Discovery never answers for a setting.
    expect((await discoveryReplies(b.port, '_access_key\n', 'visible')).map(String)).toEqual([]);
    expect((await discoveryReplies(b.port, 'visible\n', 'visible')).map(String)).toEqual(['Key Exists\n']);
  });

  it('internal sections are never callable, over either protocol', async () => {
    for (const ns of ['api', '_config', 'worker', 'grpc', '_global', '_registry', 'ossec', '__proto__', 'constructor']) {
      for (const method of ['x', 'Get', 'StringIO', '_access_key']) {
        for (const key of [undefined, SERVICES_KEY, EXT_KEY]) {
          const params: Record<string, string> = key ? { access_key: key } : {};
          const r = await legacy(`/${ns}/${method}/`, params);
          expect(r.status, `/${ns}/${method}`).toBe(401);
          expect(r.json, `/${ns}/${method}`).toEqual({ success: false, message: 'Unauthorized package', data: {} });
        }
      }
      const err = await client.execute(ns, 'x').then(() => undefined, (e: grpc.ServiceError) => e);
      expect(err?.code, ns).toBe(grpc.status.PERMISSION_DENIED);
      expect(err?.details).toBe('Unauthorized package');
    }
  });

  it('keys are never returned or logged, and live only in bpbroker.json (mode 0600)', async () => {
    // Wrong keys, right keys, malformed requests and errors on every path that could echo or log one.
    for (const key of [SERVICES_KEY, PING_KEY, EXT_KEY, 'wrong']) {
      await legacy('/services/Get/', { name: 'visible', access_key: key });
      await legacy('/services/Register/', { name: `n-${key}`, access_key: key });
      await legacy('/ping/Ping/', { access_key: key });
      await legacy('/ossec/AddAgent/', { access_key: key });
      await legacy('/nosuch/X/', { access_key: key });
      const r = await rawRequest(b.port, Buffer.from(`POST /services/Get/?access_key=${key} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`));
      seen.push(r.body.toString('utf8'), r.reason);
      for (const err of await Promise.all([
        client.get('visible', { accessKey: key }).then(() => undefined, (e: grpc.ServiceError) => e),
        client.ping('1', { accessKey: key }).then(() => undefined, (e: grpc.ServiceError) => e),
        client.execute('ossec', 'AddAgent', { data: 'h' }, { accessKey: key }).then(() => undefined, (e: grpc.ServiceError) => e),
      ])) {
        seen.push(err?.details ?? '', JSON.stringify(err?.metadata?.getMap() ?? {}));
      }
    }
    for (const secret of [SERVICES_KEY, PING_KEY, EXT_KEY]) {
      for (const text of seen) expect(text).not.toContain(secret);
      expect(b.stdout()).not.toContain(secret);
      expect(b.stderr()).not.toContain(secret);
    }
    expect(b.stderr()).toContain('"level":"debug"'); // the log ran at its most verbose level

    // Files: the key is only in bpbroker.json (and backups of it), each written with mode 0600.
    const etc = join(b.home, 'etc');
    // The files once the broker has folded the writes into bpbroker.json (and rewritten it with its own mode).
    await waitFor(() => configHolds(b.home, 'visible'), 20_000, 20, 'the fold of the writes into bpbroker.json');
    for (const rel of filesUnder(b.home)) {
      const text = readFileSync(join(b.home, rel), 'utf8');
      const holdsKey = [SERVICES_KEY, PING_KEY, EXT_KEY].some((k) => text.includes(k));
      const isConfig = rel === join('etc', 'bpbroker.json') || rel.startsWith(join('etc', 'backups'));
      if (holdsKey) expect(isConfig, `${rel} holds an access key`).toBe(true);
    }
    expect(statSync(join(etc, 'bpbroker.json')).mode & 0o777).toBe(0o600);
    expect(statSync(join(etc, 'bpbroker.key')).mode & 0o777).toBe(0o600);
    for (const seg of readdirSync(join(etc, 'bpbroker.journal'))) expect(statSync(join(etc, 'bpbroker.journal', seg)).mode & 0o777).toBe(0o600);
  });

  it('configure writes the file with mode 0600 and never prints a key', async () => {
    const home = tempDir();
    try {
      const r = await runCli(BPBROKER, ['configure'], { env: { BPBROKER_HOME: home }, input: JSON.stringify({ services: { _access_key: SERVICES_KEY } }) });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout + r.stderr).not.toContain(SERVICES_KEY);
      expect(statSync(join(home, 'etc', 'bpbroker.json')).mode & 0o777).toBe(0o600);
    } finally {
      removeDir(home);
    }
  });
});

describe('TLS', () => {
  let b: RunningBroker;
  beforeAll(async () => {
    b = await startBroker();
  });
  afterAll(async () => {
    await b.stop();
    removeDir(b.home);
  });

  const handshake = (opts: { minVersion?: 'TLSv1' | 'TLSv1.2'; maxVersion: 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3' }) =>
    new Promise<string>((resolve, reject) => {
      // SECLEVEL=0 lets this client offer the old versions at all, so any refusal is the broker's.
      const s = tlsConnect({ host: '127.0.0.1', port: b.port, rejectUnauthorized: false, ciphers: 'DEFAULT@SECLEVEL=0', minVersion: opts.minVersion ?? 'TLSv1', maxVersion: opts.maxVersion }, () => {
        const v = s.getProtocol() ?? '';
        s.destroy();
        resolve(v);
      });
      s.on('error', reject);
    });

  it('refuses TLS 1.1 and older, accepts 1.2 and 1.3', async () => {
    await expect(handshake({ maxVersion: 'TLSv1.1' })).rejects.toThrow(/protocol version|unsupported protocol/i);
    expect(await handshake({ maxVersion: 'TLSv1.2' })).toBe('TLSv1.2');
    expect(await handshake({ maxVersion: 'TLSv1.3' })).toBe('TLSv1.3');
    expect((await call(b.port, '/ping/Ping/?data=1')).json.data).toBe(1);
  });

  it('ships no private key: each installation generates its own (fixed)', async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[] };
    for (const entry of pkg.files) {
      const path = join(ROOT, entry);
      const files = statSync(path, { throwIfNoEntry: false })?.isDirectory() ? filesUnder(path).map((f) => join(path, f)) : statSync(path, { throwIfNoEntry: false }) ? [path] : [];
      for (const f of files) expect(readFileSync(f, 'latin1'), f).not.toMatch(/PRIVATE KEY-----/);
    }
    const fingerprint = (port: number) =>
      new Promise<string>((resolve, reject) => {
        const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
          resolve(s.getPeerCertificate().fingerprint256);
          s.destroy();
        });
        s.on('error', reject);
      });
    const other = await startBroker();
    try {
      expect(await fingerprint(other.port)).not.toBe(await fingerprint(b.port));
    } finally {
      await other.stop();
      removeDir(other.home);
    }
  });
});
