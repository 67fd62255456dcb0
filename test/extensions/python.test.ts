import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, GrpcStatus, type BrokerGrpcClient } from '../../src/client/grpcClient.js';
import { BPBROKER, ROOT, removeDir, runCli, startBroker, tempDir, type RunningBroker } from '../helpers/broker.js';
import { call } from '../helpers/https.js';
import { waitFor } from '../helpers/wait.js';
import { inProcessBroker } from './harness.js';

// Python modules need Python 3 (.ci/run installs Debian's python3): without it this file fails, it never skips.
const python = spawnSync(process.env.BPBROKER_PYTHON || 'python3', ['--version'], { encoding: 'utf8' });
if (python.status !== 0 || !/^Python 3\./.test(python.stdout)) {
  throw new Error(`python3 is missing (${python.error?.message ?? python.stdout + python.stderr}): install it (Debian: apt-get install python3)`);
}

// Hang spins (a loop a thread cannot interrupt) after saying which process runs it; Crash ends its process;
// Hog allocates past the memory limit.
const FAULTS = `import os
import time

def Hang(rh):
    with open(rh.qs["pidfile"], "w") as f:
        f.write(str(os.getpid()))
    while True:
        pass

def Crash(rh):
    os._exit(3)

def Ok(rh):
    return "ok"

def Hog(rh):
    # Touches 16 MiB at a time, up to 1 GiB: far past worker.memory_mb, yet bounded if the limit failed.
    hog = []
    for _ in range(64):
        hog.append(b"x" * (16 * 1024 * 1024))
        time.sleep(0.02)
    return "survived %d MiB" % (16 * len(hog))

def Remember(rh):
    rh.registry.update("py-" + rh.qs["data"], {"seen_by": rh.namespace})
    return rh.registry.entry("py-" + rh.qs["data"])
`;
const MEMORY_MB = 128;
const live = (n: number): string => `def Version(rh):\n    rh.data = "${n}"\n`;

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('Python extension modules on a real broker', () => {
  const home = tempDir('bpbroker-ext-py-');
  const env = { BPBROKER_HOME: home };
  const lib = join(home, 'lib');
  const keys = join(home, 'client.keys');
  let broker: RunningBroker;
  let client: BrokerGrpcClient;
  let installed: { code: number | null; stdout: string; stderr: string };

  beforeAll(async () => {
    installed = await runCli(BPBROKER, ['install-extension', '--script', join(ROOT, 'extensions/python/example.py')], { env });
    mkdirSync(lib, { recursive: true });
    writeFileSync(join(lib, 'faults.py'), FAULTS);
    writeFileSync(join(lib, 'live.py'), live(1));
    copyFileSync(join(ROOT, 'extensions/python/ossec.py'), join(lib, 'ossec.py'));
    const config = { example: { _access_key: 'k' }, faults: { _timeout_secs: 2 }, live: {}, ossec: { _access_key: '', client_keys: keys } };
    expect((await runCli(BPBROKER, ['configure'], { env, input: JSON.stringify(config) })).code).toBe(0);
    // configure only adds (worker.memory_mb is already there, at its default): the limit is set in the file.
    const file = join(home, 'etc', 'bpbroker.json');
    const settings = JSON.parse(readFileSync(file, 'utf8'));
    writeFileSync(file, JSON.stringify({ ...settings, worker: { ...settings.worker, memory_mb: MEMORY_MB } }, null, 2));
    broker = await startBroker({ home });
    client = connect(`127.0.0.1:${broker.port}`, { insecureSkipVerify: true, accessKey: 'k' });
  });
  afterAll(async () => {
    client?.close();
    await broker?.stop();
    removeDir(home);
  });

  it('install-extension checks a .py module, copies it and lists its public functions', () => {
    expect(installed.code, installed.stderr).toBe(0);
    expect(installed.stdout).toContain(`Installed: example -> ${join(lib, 'example.py')}`);
    expect(installed.stdout).toContain('Methods: example.Test\n');
    expect(readFileSync(join(lib, 'example.py'), 'utf8')).toBe(readFileSync(join(ROOT, 'extensions/python/example.py'), 'utf8'));
  });

  it('answers over the legacy API and gRPC Execute, with the access key and private methods checked', async () => {
    const legacy = await call(broker.port, '/example/Test/?data=hi&access_key=k');
    expect(legacy).toMatchObject({ status: 200, json: { data: 'hi', access_key: 'k', src: '127.0.0.1' } });
    expect(legacy.headers['content-type']).toMatch(/^Application\/json/);
    expect(await call(broker.port, '/example/Test/?data=hi&access_key=nope')).toMatchObject({ status: 401, reason: 'Incorrect access key' });
    expect(await call(broker.port, '/example/_helper/?access_key=k')).toMatchObject({ status: 401, reason: 'Unauthorized method' });
    const r = await client.execute('example', 'Test', { data: 'hi' });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ data: 'hi', src: '127.0.0.1' });
    await expect(client.execute('example', 'Test', {}, { accessKey: 'wrong' })).rejects.toMatchObject({ code: GrpcStatus.UNAUTHENTICATED });
    await expect(client.execute('example', '_helper')).rejects.toMatchObject({ code: GrpcStatus.PERMISSION_DENIED, details: 'Unauthorized method' });
    // rh.registry reaches the broker's registry, stamped with the caller's address.
    const remembered = await call(broker.port, '/faults/Remember/?data=a');
    expect(remembered.json).toMatchObject({ data: { seen_by: 'faults', last_write_ip: '127.0.0.1' }, revision: expect.any(Number) });
    expect((await call(broker.port, '/services/Get/?name=py-a')).json).toMatchObject({ success: true, data: { seen_by: 'faults' } });
  });

  it('a call past its time limit answers 504 and its process is killed; a crash answers 500; the next call works', async () => {
    const pidfile = join(home, 'hang.pid');
    const hang = call(broker.port, `/faults/Hang/?pidfile=${encodeURIComponent(pidfile)}`);
    await waitFor(() => existsSync(pidfile) && readFileSync(pidfile, 'utf8') !== '', 10_000, 10, 'the hanging call to start');
    const pid = Number(readFileSync(pidfile, 'utf8'));
    // Other namespaces keep serving while it spins.
    expect((await call(broker.port, '/example/Test/?access_key=k')).status).toBe(200);
    expect((await hang).status).toBe(504);
    await waitFor(() => !alive(pid), 10_000, 10, 'the timed-out process to be killed');
    expect(await call(broker.port, '/faults/Ok/')).toMatchObject({ status: 200, text: 'ok' });
    expect((await call(broker.port, '/faults/Crash/')).status).toBe(500);
    expect(await call(broker.port, '/faults/Ok/')).toMatchObject({ status: 200, text: 'ok' });
  });

  it('a process past worker.memory_mb is stopped: the call answers 500 "ran out of memory", the next call works', async () => {
    const r = await call(broker.port, '/faults/Hog/', { agent: false });
    expect(r.status, r.text).toBe(500);
    expect(r.text).toContain(`Extension faults ran out of memory (limit ${MEMORY_MB} MB)`);
    expect(broker.stdout() + broker.stderr()).toContain('ran out of memory');
    expect(await call(broker.port, '/faults/Ok/')).toMatchObject({ status: 200, text: 'ok' });
  });

  it('hot reload: a module that fails to import leaves the last good version serving and the log says why', async () => {
    expect((await call(broker.port, '/live/Version/')).text).toBe('1');
    writeFileSync(join(lib, 'live.py'), `import json\nimport urllib2\n${live(2)}`);
    const why = "No module named 'urllib2'";
    await waitFor(() => (broker.stdout() + broker.stderr()).includes(why), 10_000, 20, 'the import error in the log');
    const logged = (broker.stdout() + broker.stderr()).split('\n').find((l) => l.includes(why))!;
    expect(logged).toContain('the last good version keeps serving');
    expect(logged).toMatch(/live\.py[^\n]*line 2/);
    expect((await call(broker.port, '/live/Version/')).text).toBe('1');
    writeFileSync(join(lib, 'live.py'), live(3));
    await waitFor(async () => (await call(broker.port, '/live/Version/')).text === '3', 10_000, 20, 'the fixed version to serve');
  });

  it('the OSSEC AddAgent port appends "id name ip key" and refuses a second agent from the same IP', async () => {
    const first = await call(broker.port, '/ossec/AddAgent/?data=web1');
    expect(first.status).toBe(200);
    expect(first.text).toMatch(/^001 web1 127\.0\.0\.1 [0-9a-f]{64}$/);
    expect(readFileSync(keys, 'utf8')).toBe(`${first.text}\n`);
    expect(await call(broker.port, '/ossec/AddAgent/?data=web2')).toMatchObject({ status: 500, reason: 'Unable to add requested host IP in use' });
    expect(await call(broker.port, '/ossec/AddAgent/?data=bad%20name!')).toMatchObject({ status: 500, reason: 'Invalid source host name content' });
  });
});

describe('Python extension modules in process', () => {
  it('OSSEC AddAgent gives concurrent agents distinct ids; a Python 2 module is refused with the reason; a package folder reloads with its modules', async () => {
    const b = await inProcessBroker(
      { 'ossec.py': readFileSync(join(ROOT, 'extensions/python/ossec.py'), 'utf8'), 'old.py': 'def Test(rh):\n    print "hello"\n' },
      { ossec: { _access_key: '' }, old: {}, tools: {} },
    );
    try {
      const keys = join(b.dir, 'client.keys');
      (b.broker.settings.ossec as Record<string, unknown>).client_keys = keys;
      const many = await Promise.all(
        ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5'].map((ip, i) => b.broker.dispatch({ clientIp: ip }, 'ossec', 'AddAgent', { data: `node${i}` })),
      );
      const ids = many.map((r) => (r.kind === 'extension' ? String(r.response.body).split(' ')[0] : ''));
      expect(new Set(ids)).toEqual(new Set(['001', '002', '003', '004']));
      expect(readFileSync(keys, 'utf8').trim().split('\n')).toHaveLength(4);
      const old = b.host.list().find((e) => e.namespace === 'old');
      expect(old?.error).toMatch(/old\.py", line 2[\s\S]*Missing parentheses in call to 'print'/);

      // A package folder: index.py imports a module beside it; changing that module reloads the namespace.
      b.write('tools/helper.py', 'N = 1\n');
      b.write('tools/index.py', 'import helper\n\ndef N(rh):\n    return helper.N\n');
      await waitFor(async () => b.host.hasMethod('tools', 'N'), 10_000, 20, 'the package to load');
      expect((await b.call('tools', 'N')).body).toBe('1');
      b.write('tools/helper.py', 'N = 2\n');
      await waitFor(async () => (await b.call('tools', 'N')).body === '2', 10_000, 20, 'the changed helper to serve');
    } finally {
      await b.close();
    }
  });
});
