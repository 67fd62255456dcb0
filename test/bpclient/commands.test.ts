/**
 * bpclient against a real broker: every command, every output format, the error messages and exit codes
 * scripts rely on, and the option order old scripts use (global options before the command).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../helpers/https.js';
import { removeDir, startBroker, type RunningBroker } from '../helpers/broker.js';
import { bpclient, stampsAsTs } from './harness.js';

let broker: RunningBroker;
let B: string;

beforeAll(async () => {
  broker = await startBroker();
  B = `127.0.0.1:${broker.port}`;
});

afterAll(async () => {
  await broker?.stop();
  if (broker) removeDir(broker.home);
});

const ENTRY_RE = /"last_write_ip": "127\.0\.0\.1", "last_write_ts": \d+\}$/;

// Each case spawns bpclient several times; on a busy machine that takes a while.
describe.concurrent('bpclient', { timeout: 120_000 }, () => {
  it('lists its commands in --help', async () => {
    const r = await bpclient(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['ping', 'execute', 'discover', 'service']) expect(r.stdout).toContain(c);
    const s = await bpclient(['service', '--help']);
    for (const c of ['register', 'replace', 'update', 'get', 'delete']) expect(s.stdout).toContain(`service ${c}`);
  });

  it('ping echoes the data as the old client printed it', async () => {
    expect((await bpclient(['--bpbroker', B, 'ping', '--data', 'hello'])).stdout).toBe('hello\n');
    expect((await bpclient(['-b', B, 'ping', '--data', '5'])).stdout).toBe('5\n');
    expect((await bpclient(['-b', B, 'ping', '--data', '[1,2,"x"]'])).stdout).toBe('[1, 2, "x"]\n');
    expect((await bpclient(['-b', B, 'ping'])).stdout).toBe('null\n');
    expect((await bpclient(['-b', B, 'ping', '--data', '{"a":1,"b":{"c":true}}'])).stdout).toBe('{"a": 1, "b": {"c": true}}\n');
    const raw = await bpclient(['-b', B, 'ping', '--data', 'hello', '--raw']);
    expect(raw).toEqual({ code: 0, stdout: '{"src": "127.0.0.1", "data": {"_str": "hello"}}\n', stderr: '' });
  });

  it('service register prints the stored entry; a second register fails with the broker message', async () => {
    const r = await bpclient(['--bpbroker', B, 'service', 'register', '--name', 'reg1', '--data', '{"ip":"10.0.0.7","port":8080}']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^\{"ip": "10\.0\.0\.7", "port": 8080, "last_write_ip": "127\.0\.0\.1", "last_write_ts": \d+\}\n$/);
    const again = await bpclient(['--bpbroker', B, 'service', 'register', '--name', 'reg1', '--data', '{"ip":"x"}']);
    expect(again).toEqual({ code: 1, stdout: '', stderr: "Fatal error: Entry 'reg1' already exists\n" });
  });

  it('text output of a plain-text entry is the text itself', async () => {
    const r = await bpclient(['-b', B, 'service', 'register', '--name', 'str1', '--data', 'hello world']);
    expect(r.stdout).toBe('hello world\n');
    expect((await bpclient(['-b', B, 'service', 'get', '--name', 'str1'])).stdout).toBe('hello world\n');
    // JSON that is not an object is kept as the text sent.
    await bpclient(['-b', B, 'service', 'register', '--name', 'str2', '--data', '"quoted"']);
    expect((await bpclient(['-b', B, 'service', 'get', '--name', 'str2'])).stdout).toBe('"quoted"\n');
  });

  it('get in every format, with and without --cols', async () => {
    await bpclient(['-b', B, 'service', 'register', '--name', 'fmt1', '--data', '{"ip":"10.0.0.9","port":80,"tags":["a","b"],"note":"x, \\"y\\"","on":true,"none":null}']);
    const get = (...args: string[]) => bpclient(['-b', B, ...args, 'service', 'get', '--name', 'fmt1']);

    const [text, json, textCols, oneCol, jsonCols, csv, csvCols, csvNoHeader, csvMissing] = await Promise.all([
      get(),
      get('--format', 'json'),
      get('-f', 'text', '--cols', 'ip', 'port'),
      get('--cols', 'ip'),
      get('-f', 'json', '--cols', 'ip', 'port'),
      get('--format', 'csv'),
      get('--format', 'csv', '--cols', 'ip', 'port'),
      get('--format', 'csv-noheader', '--cols', 'ip', 'port'),
      get('--format', 'csv-noheader', '--cols', 'missing'),
    ]);
    expect(stampsAsTs(text.stdout)).toBe(
      '{"ip": "10.0.0.9", "port": 80, "tags": ["a", "b"], "note": "x, \\"y\\"", "on": true, "none": null, "last_write_ip": "127.0.0.1", "last_write_ts": TS}\n',
    );
    expect(json.stdout).toBe(text.stdout);
    expect(textCols.stdout).toBe('10.0.0.9 80\n');
    expect(oneCol.stdout).toBe('10.0.0.9\n');
    expect(jsonCols.stdout).toBe('{"ip": "10.0.0.9", "port": 80}\n');
    expect(stampsAsTs(csv.stdout)).toBe(
      'ip,port,tags,note,on,none,last_write_ip,last_write_ts\r\n10.0.0.9,80,"[""a"", ""b""]","x, ""y""",True,,127.0.0.1,TS\r\n',
    );
    expect(csvCols.stdout).toBe('ip,port\r\n10.0.0.9,80\r\n');
    expect(csvNoHeader.stdout).toBe('10.0.0.9,80\r\n');
    expect(csvMissing.stdout).toBe('""\r\n');

    const raw = await bpclient(['-b', B, 'service', 'get', '--name', 'fmt1', '--raw']);
    // The whole answer as the broker sent it, the entry's revision after the old fields.
    expect(raw.stdout).toMatch(/^\{"success": true, "message": "Success", "data": \{"ip": "10\.0\.0\.9", .*\}, "revision": \d+\}\n$/);
  });

  it('non-ASCII is escaped in JSON output as Python json.dumps does, and printed as is for text entries', async () => {
    const r = await bpclient(['-b', B, 'service', 'register', '--name', 'uni1', '--data', '{"name":"José ☃ 😀\\u007f"}']);
    expect(r.stdout).toMatch(/^\{"name": "Jos\\u00e9 \\u2603 \\ud83d\\ude00\\u007f", "last_write_ip"/);
    const t = await bpclient(['-b', B, 'service', 'register', '--name', 'uni2', '--data', 'José ☃']);
    expect(t.stdout).toBe('José ☃\n');
  });

  it('replace swaps the data entirely, update merges it', async () => {
    await bpclient(['-b', B, 'service', 'register', '--name', 'rep1', '--data', '{"a":1,"b":2}']);
    const rep = await bpclient(['-b', B, 'service', 'replace', '--name', 'rep1', '--data', '{"c":3}']);
    expect(rep.stdout).toMatch(/^\{"c": 3, "last_write_ip"/);
    const upd = await bpclient(['-b', B, 'service', 'update', '--name', 'rep1', '--data', '{"d":{"e":4},"c":5}']);
    expect(upd.stdout).toMatch(/^\{"c": 5, "d": \{"e": 4\}, "last_write_ip"/);
    // Update of an absent entry creates it; replace of an absent entry too.
    expect((await bpclient(['-b', B, 'service', 'update', '--name', 'upd-new', '--data', 'x'])).stdout).toBe('x\n');
    expect((await bpclient(['-b', B, 'service', 'replace', '--name', 'rep-new', '--data', 'y'])).stdout).toBe('y\n');
  });

  it('delete prints nothing, succeeds for absent entries; get then fails', async () => {
    await bpclient(['-b', B, 'service', 'register', '--name', 'del1', '--data', 'x']);
    expect(await bpclient(['-b', B, 'service', 'delete', '--name', 'del1'])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await bpclient(['-b', B, 'service', 'delete', '--name', 'del1'])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await bpclient(['-b', B, 'service', 'get', '--name', 'del1'])).toEqual({ code: 1, stdout: '', stderr: "Fatal error: Entry 'del1' not found\n" });
    expect((await bpclient(['-b', B, 'service', 'delete', '--name', 'del1', '--raw'])).stdout).toBe('{"success": true, "message": "Success"}\n');
  });

  it('registry errors print the broker message and exit 1', async () => {
    const cases: [string[], string][] = [
      [['service', 'get'], 'Missing name parameter'],
      [['service', 'get', '--name', ''], 'Missing name parameter'],
      [['service', 'register', '--name', 'e1'], 'Missing data parameter'],
      [['service', 'update', '--name', 'e1'], 'Missing data parameter'],
      [['service', 'register', '--name', 'e1', '--data', '{"last_write_ip":"x"}'], 'Used reserved data name last_write_ip'],
      [['service', 'replace', '--name', 'e1', '--data', '{"last_write_ts":1}'], 'Used reserved data name last_write_ts'],
      [['service', 'get', '--name', '_access_key'], 'Reserved name _access_key'],
    ];
    const results = await Promise.all(cases.map(([args]) => bpclient(['-b', B, ...args])));
    cases.forEach(([args, message], i) => {
      expect(results[i], args.join(' ')).toEqual({ code: 1, stdout: '', stderr: `Fatal error: ${message}\n` });
    });
  });

  it("execute prints the response body as is; other statuses are Response Error N with the broker's reason", async () => {
    const r = await bpclient(['-b', B, 'execute', '--method', 'ping.Ping', '--data', '{"k": [1, 2]}']);
    const direct = await call(broker.port, `/ping/Ping/?data=${encodeURIComponent('{"k": [1, 2]}')}`);
    expect(r).toEqual({ code: 0, stdout: `${direct.text}\n`, stderr: '' });
    // Scripts match the `Response Error 401` prefix; the reason says why, the same over gRPC.
    for (const proto of [[], ['--grpc']]) {
      expect(await bpclient([...proto, '-b', B, 'execute', '--method', 'nosuch.Method', '--data', 'x'])).toEqual({
        code: 1,
        stdout: '',
        stderr: 'Fatal error: Response Error 401 (Unauthorized package)\n',
      });
    }
    expect(await bpclient(['-b', B, 'execute', '--method', 'ping._Private'])).toEqual({ code: 1, stdout: '', stderr: 'Fatal error: Response Error 401 (Unauthorized method)\n' });
    const bad = await bpclient(['-b', B, 'execute', '--method', 'nodot']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^Fatal error: Invalid method 'nodot'/);
  });

  it('global options before the command, as old scripts write them', async () => {
    const reg = await bpclient(['--bpbroker', B, '--access-key', 'unused', 'service', 'replace', '--name', 'order1', '--data', '{"ip":"1.2.3.4","port":22}']);
    expect(reg.code).toBe(0);
    const csv = await bpclient(['--bpbroker', B, '--format', 'csv', '--cols', 'ip', 'port', 'service', 'get', '--name', 'order1']);
    expect(csv.stdout).toBe('ip,port\r\n1.2.3.4,22\r\n');
    const short = await bpclient(['-b', B, '-a', 'k', '-f', 'csv-noheader', '--cols', 'port', 'service', 'get', '--name', 'order1']);
    expect(short.stdout).toBe('22\r\n');
    const eq = await bpclient([`--bpbroker=${B}`, '--format=json', 'service', 'get', '--name', 'order1', '--cols', 'ip']);
    expect(eq.stdout).toBe('{"ip": "1.2.3.4"}\n');
    const after = await bpclient(['service', 'get', '--name', 'order1', '--bpbroker', B, '--cols', 'ip']);
    expect(after.stdout).toBe('1.2.3.4\n');
    const exec = await bpclient(['--bpbroker', B, '--access-key', 'k', 'execute', '--method', 'ping.Ping', '--data', 'host-1']);
    expect(exec.code).toBe(0);
  });

  it('BPBROKER is the default broker address', async () => {
    expect((await bpclient(['ping', '--data', 'env'], { BPBROKER: B })).stdout).toBe('env\n');
    const none = await bpclient(['ping']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^Fatal error: No bpbroker address: give --bpbroker HOST:PORT or set BPBROKER/);
  });

  it('a broker that is not there is a clear fatal error', async () => {
    // Port 1 on loopback: nothing listens there.
    expect(await bpclient(['-b', '127.0.0.1:1', 'service', 'get', '--name', 'x'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'Fatal error: Cannot connect to bpbroker at 127.0.0.1:1: connection refused (is the broker running on that port?)\n',
    });
    const bad = await bpclient(['-b', '127.0.0.1:notaport', 'ping']);
    expect(bad).toEqual({ code: 1, stdout: '', stderr: "Fatal error: Invalid bpbroker address '127.0.0.1:notaport': expected HOST or HOST:PORT\n" });
  });

  it('discover over loopback prints the broker IP; no answer is "No results"', async () => {
    await bpclient(['-b', B, 'service', 'replace', '--name', 'disc-cluster1', '--data', 'x']);
    const port = String(broker.port);
    expect(await bpclient(['discover', '--name', 'disc-cluster1', '--address', '127.0.0.1', '--port', port])).toEqual({
      code: 0,
      stdout: '127.0.0.1\n',
      stderr: '',
    });
    expect((await bpclient(['discover', '--name', 'disc-cluster1', '--address', `127.0.0.1:${port}`])).stdout).toBe('127.0.0.1\n');
    const started = Date.now();
    expect(await bpclient(['discover', '--name', 'disc-absent', '--address', `127.0.0.1:${port}`, '--timeout', '0.5'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'Fatal error: No results\n',
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    const all = await bpclient(['discover', '--name', 'disc-cluster1', '--address', '127.0.0.1', '--port', port, '--all', '--timeout', '0.5']);
    expect(all).toEqual({ code: 0, stdout: '127.0.0.1\n', stderr: '' });
  });

  it('--grpc speaks gRPC on the same port with the same output', async () => {
    const reg = await bpclient(['--grpc', '-b', B, 'service', 'register', '--name', 'grpc1', '--data', '{"a":[1,2]}']);
    expect(reg.code).toBe(0);
    expect(reg.stdout).toMatch(/^\{"a": \[1, 2\], "last_write_ip": "127\.0\.0\.1", "last_write_ts": \d+\}\n$/);
    const legacy = await bpclient(['-b', B, 'service', 'get', '--name', 'grpc1']);
    expect((await bpclient(['--grpc', '-b', B, 'service', 'get', '--name', 'grpc1'])).stdout).toBe(legacy.stdout);
    expect(await bpclient(['--grpc', '-b', B, 'service', 'get', '--name', 'grpc-absent'])).toEqual({
      code: 1,
      stdout: '',
      stderr: "Fatal error: Entry 'grpc-absent' not found\n",
    });
    expect((await bpclient(['--grpc', '-b', B, 'ping', '--data', 'hi'])).stdout).toBe('hi\n');
    expect((await bpclient(['--grpc', '-b', B, 'service', 'delete', '--name', 'grpc1'])).stdout).toBe('');
  });
});

it('text output matches ENTRY_RE shape for a fresh entry', async () => {
  const r = await bpclient(['-b', B, 'service', 'register', '--name', 'shape1', '--data', '{}']);
  expect(r.stdout.trimEnd()).toMatch(ENTRY_RE);
});
