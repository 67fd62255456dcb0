import { execFileSync } from 'node:child_process';
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

function writePackage(dir: string, v: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'fake-pkg', version: `${v.slice(1)}.0.0`, type: 'module', main: 'index.js' }));
  writeFileSync(join(dir, 'index.js'), `export const v = '${v}';\n`);
}

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
    writeFileSync(join(dev, 'broken.ts'), `const dir: string | undefined = process.env.NO_SUCH_VARIABLE;\nif (!dir) throw new Error('NO_SUCH_VARIABLE is not set');\nexport function X(): void {}\n`);
    // An extensions folder of the configuration (not under development): its namespaces need a section.
    mkdirSync(join(home, 'ext'));
    writeFileSync(join(home, 'ext/stray.mjs'), `export function X() {}`);
    writeFileSync(join(dev, 'auto.mjs'), `export function Hi() { return 'no section needed'; }`);
    // A package as a first npm install left it; the test updates it with npm.
    writePackage(join(dev, 'node_modules/fake-pkg'), 'v1');
    writeFileSync(join(dev, 'uses.mjs'), `import { v } from 'fake-pkg';\nexport function V() { return v; }\n`);
    // A TypeScript project of its own (a tsconfig.json beside it): type-checked when saved; line 2 is a type error.
    mkdirSync(join(dev, 'typed'));
    writeFileSync(join(dev, 'typed/tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true, noEmit: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', types: [] }, include: ['*.ts'] }));
    writeFileSync(join(dev, 'typed/index.ts'), `export function Hi(): string {\n  const n: number = 'text';\n  return \`hi \${n}\`;\n}\n`);
    // ghost: enabled, installed nowhere; stray: installed, not enabled; broken: enabled, fails to load; the
    // namespaces of the watched folder are callable without a section (auto).
    const config = { inv: {}, late: {}, ghost: {}, broken: {}, worker: { extension_dirs: [join(home, 'ext')] } };
    // Written whole, as an operator's file: configure only adds, and worker.extension_dirs has a default.
    mkdirSync(join(home, 'etc'));
    writeFileSync(join(home, 'etc/bpbroker.json'), JSON.stringify(config));
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

  it('look-alike refusals say which they are (development mode): not installed, failed to load (why), not enabled', async () => {
    const ghost = await call(broker.port, '/ghost/X/');
    expect(ghost).toMatchObject({ status: 401, reason: expect.stringMatching(/^Unauthorized package: "ghost" is enabled but not installed: no "ghost" extension in .*lib/) });
    const broken = await call(broker.port, '/broken/X/');
    expect(broken).toMatchObject({ status: 401, reason: expect.stringMatching(/^Unauthorized package: "broken" failed to load: Error: NO_SUCH_VARIABLE is not set$/) });
    expect(broken.json.stack).toContain(`${join(dev, 'broken.ts')}:2:`);
    expect(await call(broker.port, '/stray/X/')).toMatchObject({ status: 401, reason: expect.stringMatching(/^Unauthorized package: "stray" is installed \(.*stray\.mjs\) but not enabled/) });
    expect((await call(broker.port, '/auto/Hi/')).text).toBe('no section needed');
  });

  it('a file in lib/ of the same name as one in the watched folder: a warning, and the watched one serves', async () => {
    writeFileSync(join(lib, 'inv.mjs'), `export function Count() { return -1; }`);
    await waitFor(() => broker.stderr().includes('extension found in more than one folder'), 10_000, 20, 'the shadowing warning');
    expect(broker.stderr()).toMatch(new RegExp(`"serving":"${join(dev, 'inv.ts')}","ignored":\\["${join(lib, 'inv.mjs')}"\\]`));
    expect((await call(broker.port, '/inv/Count/')).text).toBe('0');
  });

  it('updating a package with npm reloads the extension that imports it', async () => {
    expect((await call(broker.port, '/uses/V/')).text).toBe('v1');
    const pkg = tempDir('bpbroker-pkg-');
    try {
      writePackage(join(pkg, 'package'), 'v2');
      execFileSync('tar', ['czf', join(pkg, 'fake-pkg-2.0.0.tgz'), '-C', pkg, 'package']);
      execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', join(pkg, 'fake-pkg-2.0.0.tgz')], { cwd: dev, stdio: 'pipe' });
    } finally {
      removeDir(pkg);
    }
    await waitFor(async () => (await call(broker.port, '/uses/V/')).text === 'v2', 15_000, 50, 'the new package version to serve');
  });

  it('a saved TypeScript extension with a tsconfig.json is type-checked: its errors are logged and in status, and it serves all the same', async () => {
    expect((await call(broker.port, '/typed/Hi/')).text).toBe('hi text');
    const where = `${join(dev, 'typed/index.ts')}:2:9: TS2322: Type 'string' is not assignable to type 'number'.`;
    await waitFor(() => broker.stderr().includes('extension has type errors'), 30_000, 50, 'the type check to report');
    expect(broker.stderr()).toContain(where);
    const json = JSON.parse((await runCli(BPBROKER, ['status', '--json'], { env })).stdout);
    expect(json.extensions.find((e: { namespace: string }) => e.namespace === 'typed')).toMatchObject({ state: 'serving', typeErrors: [where] });
  });

  it('bpbroker status tells them apart, and says when the last good version serves in place of a broken one, and why', async () => {
    writeFileSync(join(dev, 'inv.ts'), `${INV}export const bad = ;\n`);
    await waitFor(() => broker.stderr().includes('extension failed to load; the last good version keeps serving'), 10_000, 20, 'inv.ts to fail to load');
    let text = '';
    const stale = async (): Promise<boolean> => {
      text = (await runCli(BPBROKER, ['status'], { env })).stdout;
      return text.includes('inv: the last good version serves');
    };
    await waitFor(stale, 10_000, 20, 'status to show the stale version');
    expect(text).toContain(`inv: the last good version serves (Count, Fail); the newest failed to load: ${join(dev, 'inv.ts')}:8:`);
    expect(text).toContain('broken: failed to load, nothing serves: Error: NO_SUCH_VARIABLE is not set');
    expect(text).toContain('ghost: enabled in the configuration, but not installed');
    expect(text).toContain('stray: serving (X); not enabled: add its section to the configuration to call it');
    expect(text).toContain(`; from ${join(dev, 'inv.ts')}, hiding ${join(lib, 'inv.mjs')}`);
    expect(text).toContain(`typed: serving (Hi); 1 type error(s), first: ${join(dev, 'typed/index.ts')}:2:9: TS2322`);
    const json = JSON.parse((await runCli(BPBROKER, ['status', '--json'], { env })).stdout);
    expect(json.extensions.find((e: { namespace: string }) => e.namespace === 'inv')).toMatchObject({ state: 'stale', enabled: true, error: expect.stringContaining('inv.ts:8') });
  });
});
