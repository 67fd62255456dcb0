import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type BrokerGrpcClient } from '../../src/client/grpcClient.js';
import { removeDir, runCli, BPBROKER, startBroker, tempDir, type RunningBroker } from '../helpers/broker.js';
import { call, qs } from '../helpers/https.js';

/**
 * The spec's Exactness section: numbers keep their text through storage, merges, restarts (clean and
 * SIGKILL), ping and gRPC; every legacy JSON body is ASCII, so a client decoding it with the wrong charset
 * (Python's requests reads `Application/json` without a charset as Latin-1) still reads the right text.
 */
const NUMBERS = '{"id": 12345678901234567890, "f": 1.0, "e": 1e3, "x": 1e999, "z": -0, "E": 2.50E-3, "n": [1.0, {"big": -98765432109876543210.000}]}';
const NUMBERS_COMPACT = '{"id":12345678901234567890,"f":1.0,"e":1e3,"x":1e999,"z":-0,"E":2.50E-3,"n":[1.0,{"big":-98765432109876543210.000}]}';
const NUMBERS_MEMBERS = NUMBERS_COMPACT.slice(1, -1);

/** The raw body bytes and what a Latin-1-decoding client (Python requests without a charset) reads from them. */
function rawCall(port: number, path: string): Promise<{ status: number; reason: string; body: Buffer; latin1Json: any }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', rejectUnauthorized: false, agent: new Agent({ rejectUnauthorized: false }) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, reason: res.statusMessage ?? '', body, latin1Json: JSON.parse(body.toString('latin1')) });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

const isAscii = (b: Buffer): boolean => b.every((byte) => byte < 0x80);

describe('exactness', () => {
  let b: RunningBroker;
  let grpc: BrokerGrpcClient;
  const restart = async (signal: NodeJS.Signals): Promise<void> => {
    grpc.close();
    await b.stop(signal);
    b = await startBroker({ home: b.home, args: ['--watch', join(b.home, 'ext')] });
    grpc = connect(`127.0.0.1:${b.port}`, { insecureSkipVerify: true });
  };

  beforeAll(async () => {
    const home = tempDir('bpbroker-exact-');
    mkdirSync(join(home, 'ext'));
    writeFileSync(join(home, 'ext', 'uni.mjs'), `export function Echo(rh) { rh.data = { text: rh.qs.data, mark: 'é ✓ 😀' }; }\nexport function Text(rh) { rh.contentType = 'text/plain; charset=utf-8'; rh.data = 'é'; }\n`);
    expect((await runCli(BPBROKER, ['configure'], { env: { BPBROKER_HOME: home }, input: '{"uni": {}}' })).code).toBe(0);
    b = await startBroker({ home, args: ['--watch', join(home, 'ext')] });
    grpc = connect(`127.0.0.1:${b.port}`, { insecureSkipVerify: true });
  });
  afterAll(async () => {
    grpc?.close();
    await b?.stop();
    removeDir(b.home);
  });

  it('keeps every number as written through Register, Get, Update and gRPC', async () => {
    const reg = await call(b.port, `/services/Register/?${qs({ name: 'nums', data: NUMBERS })}`);
    expect(reg.text).toContain(`"data":{${NUMBERS_MEMBERS},"last_write_ip":"127.0.0.1","last_write_ts":`);
    expect((await call(b.port, '/services/Get/?name=nums')).text).toContain(`{${NUMBERS_MEMBERS},"last_write_ip"`);
    expect((await grpc.get('nums')).json).toBe(NUMBERS_COMPACT);

    const upd = await call(b.port, `/services/Update/?${qs({ name: 'nums', data: '{"f": 2.0, "more": 1e-7}' })}`);
    expect(upd.text).toContain(`"data":{${NUMBERS_MEMBERS.replace('"f":1.0', '"f":2.0')},"more":1e-7,"last_write_ip"`);
    await grpc.update('nums', '{"viaGrpc": 10.50}');
    await grpc.register('nums-grpc', NUMBERS);
    expect((await grpc.get('nums-grpc')).json).toBe(NUMBERS_COMPACT);
    expect((await call(b.port, '/services/Get/?name=nums-grpc')).text).toContain(`{${NUMBERS_MEMBERS},"last_write_ip"`);
  });

  it('keeps them across a clean stop and a SIGKILL (journal replay of merges)', async () => {
    const expected = `{${NUMBERS_MEMBERS.replace('"f":1.0', '"f":2.0')},"more":1e-7,"viaGrpc":10.50}`;
    expect((await grpc.get('nums')).json).toBe(expected);
    await restart('SIGTERM');
    expect((await grpc.get('nums')).json).toBe(expected);
    await grpc.update('nums', '{"afterRestart": 3.00}');
    await restart('SIGKILL');
    expect((await grpc.get('nums')).json).toBe(expected.replace(/}$/, ',"afterRestart":3.00}'));
    expect((await grpc.get('nums-grpc')).json).toBe(NUMBERS_COMPACT);
  });

  it('echoes numbers as written in ping, on both protocols; NaN and Infinity are text', async () => {
    expect((await call(b.port, `/ping/Ping/?${qs({ data: NUMBERS })}`)).text).toBe(`{"src":"127.0.0.1","data":${NUMBERS_COMPACT}}`);
    expect((await call(b.port, `/ping/Ping/?${qs({ data: '1.0' })}`)).text).toBe('{"src":"127.0.0.1","data":1.0}');
    expect((await grpc.ping(NUMBERS)).json).toBe(NUMBERS_COMPACT);
    for (const notJson of ['NaN', 'Infinity', '-Infinity']) {
      expect((await call(b.port, `/services/Register/?${qs({ name: `nj-${notJson}`, data: notJson })}`)).json.data._str).toBe(notJson);
    }
  });

  it('takes numbers as written from a JSON request body too', async () => {
    const r = await call(b.port, '/services/Register/', { body: '{"name": "jsonbody", "data": {"n": 1.0, "id": 12345678901234567890}}', headers: { 'Content-Type': 'application/json' } });
    expect(r.text).toContain('"data":{"n":1.0,"id":12345678901234567890,"last_write_ip"');
  });

  it('sends every legacy JSON body as ASCII, so a Latin-1 client reads the right text', async () => {
    await call(b.port, `/services/Register/?${qs({ name: 'ünï', data: '{"u": "é", "e": "😀", "k": "✓"}' })}`);
    for (const path of ['/services/Get/?name=%C3%BCn%C3%AF', `/ping/Ping/?${qs({ data: '{"u": "é"}' })}`, '/services/Get/?name=na%C3%AFve', '/services/Register/?name=%C3%BCn%C3%AF&data=x', `/uni/Echo/?${qs({ data: 'é' })}`]) {
      const r = await rawCall(b.port, path);
      expect(isAscii(r.body), path).toBe(true);
      expect(r.status).toBe(200);
      expect(r.reason).toBe('OK');
    }
    expect((await rawCall(b.port, '/services/Get/?name=%C3%BCn%C3%AF')).latin1Json.data).toMatchObject({ u: 'é', e: '😀', k: '✓' });
    expect((await rawCall(b.port, '/services/Get/?name=na%C3%AFve')).latin1Json).toEqual({ success: false, message: "Entry 'naïve' not found", data: {} });
    expect((await rawCall(b.port, '/services/Register/?name=%C3%BCn%C3%AF&data=x')).latin1Json.message).toBe("Entry 'ünï' already exists");
    expect((await rawCall(b.port, `/uni/Echo/?${qs({ data: 'é' })}`)).latin1Json).toEqual({ text: 'é', mark: 'é ✓ 😀' });
    // The text escaped is the same text: gRPC (UTF-8 protobuf strings) reads it back unchanged.
    expect(JSON.parse((await grpc.get('ünï')).json)).toEqual({ u: 'é', e: '😀', k: '✓' });
    // A body that is not JSON is the extension's own: sent as it is.
    const text = await call(b.port, '/uni/Text/');
    expect(text.text).toBe('é');
  });
});
