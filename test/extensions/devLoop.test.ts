import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, GrpcStatus, type BrokerGrpcClient } from '../../src/client/grpcClient.js';
import { BPBROKER, removeDir, runCli, startBroker, tempDir, type RunningBroker } from '../helpers/broker.js';
import { call } from '../helpers/https.js';
import { waitFor } from '../helpers/wait.js';

// Line 6 throws: the stack must say inv.ts:6, not the bundle's line.
const INV = `import type { RequestHandler } from 'bpbroker/extension';
interface Item { sku: string }
const items: Item[] = [];
export function Count(rh: RequestHandler): number { return items.length + Number(rh.qs.n ?? 0); }
export function Fail(): void {
  throw new Error('inventory is empty');
}
`;

// An author's loop: `start --watch DIR` on a fresh home (no lib/ yet), as the author runs it.
describe('extension development loop (start --watch)', () => {
  const home = tempDir('bpbroker-dev-');
  const env = { BPBROKER_HOME: home };
  const dev = join(home, 'dev');
  const lib = join(home, 'lib');
  let broker: RunningBroker;
  let grpc: BrokerGrpcClient;

  beforeAll(async () => {
    mkdirSync(dev);
    writeFileSync(join(dev, 'inv.ts'), INV);
    expect((await runCli(BPBROKER, ['configure'], { env, input: JSON.stringify({ inv: {}, late: {} }) })).code).toBe(0);
    broker = await startBroker({ home, args: ['--watch', dev] });
    grpc = connect(`127.0.0.1:${broker.port}`, { insecureSkipVerify: true });
  });
  afterAll(async () => {
    grpc?.close();
    await broker?.stop();
    removeDir(home);
  });

  it('a failed call answers its stack, naming the author file and line, over HTTPS and gRPC', async () => {
    const r = await call(broker.port, '/inv/Fail/');
    expect(r).toMatchObject({ status: 500, reason: 'inventory is empty', json: { success: false, message: 'inventory is empty', data: {} } });
    expect(r.json.stack).toMatch(new RegExp(`^Error: inventory is empty\\n\\s+at Fail \\(${join(dev, 'inv.ts')}:6:\\d+\\)`));
    const err = (await grpc.execute('inv', 'Fail').catch((e: unknown) => e)) as { code: number; metadata: { get(k: string): unknown[] } };
    expect(err.code).toBe(GrpcStatus.INTERNAL);
    expect(decodeURIComponent(String(err.metadata.get('bpbroker-stack')[0]))).toContain(`${join(dev, 'inv.ts')}:6:`);
    expect(broker.stderr()).toContain('development mode');
  });

  it('lib/ created after start is followed: a file written there is served', async () => {
    expect(existsSync(lib)).toBe(false);
    mkdirSync(lib);
    writeFileSync(join(lib, 'late.mjs'), `export const Hi = () => 'hi';`);
    await waitFor(async () => (await call(broker.port, '/late/Hi/')).text === 'hi', 10_000, 20, 'late.mjs to be served');
  });
});
