/** The OSSEC blueprint flow with access keys, as its scripts call bpclient. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, startBroker, tempDir, type RunningBroker } from '../helpers/broker.js';
import { bpbroker, bpclient } from './harness.js';

let broker: RunningBroker;
let B: string;

beforeAll(async () => {
  const home = tempDir();
  const conf = await bpbroker(['configure'], { BPBROKER_HOME: home }, '{"services": {"_access_key": "secret"}, "ping": {"_access_key": "pk"}}');
  expect(conf.code).toBe(0);
  broker = await startBroker({ home });
  B = `127.0.0.1:${broker.port}`;
});

afterAll(async () => {
  await broker?.stop();
  if (broker) removeDir(broker.home);
});

describe.concurrent('bpclient with access keys', { timeout: 120_000 }, () => {
  it('scripts pass the key before the command', async () => {
    const r = await bpclient(['--bpbroker', B, '--access-key', 'secret', 'service', 'replace', '--name', 'ossec', '--data', '10.0.0.5']);
    expect(r).toEqual({ code: 0, stdout: '10.0.0.5\n', stderr: '' });
    expect((await bpclient(['-b', B, '-a', 'secret', 'service', 'get', '--name', 'ossec'])).stdout).toBe('10.0.0.5\n');
  });

  it('a missing or wrong key is the broker message, exit 1', async () => {
    expect(await bpclient(['-b', B, 'service', 'get', '--name', 'ossec'])).toEqual({ code: 1, stdout: '', stderr: 'Fatal error: Incorrect access key\n' });
    expect(await bpclient(['-b', B, '-a', 'wrong', 'service', 'delete', '--name', 'ossec'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'Fatal error: Incorrect access key\n',
    });
    expect(await bpclient(['-b', B, 'ping', '--data', 'x'])).toEqual({ code: 1, stdout: '', stderr: 'Fatal error: Incorrect access key\n' });
    expect((await bpclient(['-b', B, '-a', 'pk', 'ping', '--data', 'x'])).stdout).toBe('x\n');
  });

  it('execute with a wrong key is Response Error 401 with the reason, over either protocol; with the right one the body', async () => {
    for (const proto of [[], ['--grpc']]) {
      expect(await bpclient([...proto, '--bpbroker', B, '--access-key', 'nope', 'execute', '--method', 'ping.Ping', '--data', 'h'])).toEqual({
        code: 1,
        stdout: '',
        stderr: 'Fatal error: Response Error 401 (Incorrect access key)\n',
      });
    }
    const ok = await bpclient(['--bpbroker', B, '--access-key', 'pk', 'execute', '--method', 'ping.Ping', '--data', 'h']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual({ src: '127.0.0.1', data: { _str: 'h' } });
  });

  it('--grpc sends the key too', async () => {
    expect((await bpclient(['--grpc', '-b', B, '-a', 'secret', 'service', 'replace', '--name', 'g1', '--data', 'v'])).stdout).toBe('v\n');
    const denied = await bpclient(['--grpc', '-b', B, 'service', 'get', '--name', 'g1']);
    expect(denied).toEqual({ code: 1, stdout: '', stderr: 'Fatal error: Incorrect access key\n' });
  });
});
