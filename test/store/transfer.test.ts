/**
 * `bpbroker registry export` / `import` as users run them (the real CLI, a real etcd member, real files): a
 * registry goes embedded → etcd → embedded with every entry's text, writer and lease as they were; imports that
 * must be refused write nothing; etcd down and a running broker give clear errors at once.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/loadConfig.js';
import { configPathFrom, journalDirFor } from '../../src/config/paths.js';
import { makeEntryJson } from '../../src/core/entryJson.js';
import type { Entry } from '../../src/core/Entry.js';
import { Registry } from '../../src/store/embedded/Registry.js';
import { EmbeddedStore } from '../../src/store/embedded/EmbeddedStore.js';
import { EtcdStore } from '../../src/store/etcd/EtcdStore.js';
import { BPBROKER, removeDir, runCli, startBroker, tempDir } from '../helpers/broker.js';
import { type EtcdCluster, startEtcd } from '../helpers/etcd.js';
import { waitFor } from '../helpers/wait.js';

const PREFIX = '/transfer/';

/** Entries whose text a parse and re-serialize would change, under names that test the name order. */
const SEEDS: Array<{ name: string; data: string; ip: string; ts: number; ttl?: number }> = [
  { name: 'numbers', data: '{"one":1.0,"negzero":-0,"huge":1e400,"id":18446744073709551615,"min":-9223372036854775808,"e":1E+2}', ip: '10.0.0.1', ts: 1767322800 },
  { name: 'deep', data: `{"d":${'['.repeat(90)}{"x":1.50}${']'.repeat(90)}}`, ip: '10.0.0.2', ts: 1767322801.25 },
  { name: 'text', data: '{"s":"h\\u00e9llo \u2028 \\ud800 \\"q\\" \\\\","e":"😀","k":"é"}', ip: '::1', ts: 1 },
  { name: 'svc/😀 emoji', data: '{"port":8080}', ip: '10.0.0.3', ts: 2 },
  // U+FF5A sorts after 😀 by UTF-16 code unit, before it by code point: the order etcd must keep.
  { name: 'svc/ｚ', data: '{}', ip: '10.0.0.4', ts: 3 },
  { name: 'svc/ünïcode "quoted" \\ line\nbreak', data: '{"a":[]}', ip: '10.0.0.5', ts: 4 },
  { name: '_store/ns/key', data: '{"v":{"private":true,"n":0.10}}', ip: '127.0.0.1', ts: 5 },
  { name: 'leased', data: '{"alive":true}', ip: '10.0.0.6', ts: 6, ttl: 300 },
];
const TEXT = new Map(SEEDS.map((s) => [s.name, makeEntryJson(s.data, s.ip, s.ts)]));
const NAMES = [...TEXT.keys()].sort();

let etcd: EtcdCluster;
const dir = tempDir('bpbroker-transfer-');
/** The source installation: its embedded registry is seeded; its file's etcd settings point at `etcd`. */
const homeA = join(dir, 'a');
/** Where the etcd registry comes back to, in the embedded store. */
const homeB = join(dir, 'b');

function writeSettings(home: string, registry: Record<string, unknown>): void {
  mkdirSync(join(home, 'etc'), { recursive: true });
  writeFileSync(configPathFrom(home), JSON.stringify({ registry }));
}

const cli = (...args: string[]) => runCli(BPBROKER, args);
const lines = (file: string): string[] => readFileSync(file, 'utf8').split('\n');

/** The entries of an installation's embedded registry as a stopped broker left them (file and journal). */
async function embeddedEntries(home: string): Promise<Map<string, Entry>> {
  const loaded = loadConfig({ home });
  const registry = await Registry.open({ journalDir: journalDirFor(loaded.path), snapshot: { revision: loaded.revision, entries: loaded.entries.values() }, holdLeases: true });
  const out = new Map(Array.from(registry.view().entries, (e) => [e.name, e]));
  await registry.close();
  return out;
}

function expectOriginals(entries: Map<string, Entry>): void {
  expect([...entries.keys()].sort()).toEqual(NAMES);
  for (const s of SEEDS) {
    const e = entries.get(s.name)!;
    expect({ name: e.name, json: e.json, ip: e.lastWriteIp, ts: e.lastWriteTs, ttl: e.ttl }).toEqual({ name: s.name, json: TEXT.get(s.name), ip: s.ip, ts: s.ts, ttl: s.ttl });
  }
}

beforeAll(async () => {
  etcd = await startEtcd();
  writeSettings(homeA, { etcd_endpoints: etcd.endpoints, etcd_prefix: PREFIX });
  // Seeded through the store, as a broker writes: the journal holds them until the export reads it.
  const registry = await Registry.open({ journalDir: journalDirFor(configPathFrom(homeA)), snapshot: { revision: 0, entries: [] } });
  const store = new EmbeddedStore(registry);
  for (const s of SEEDS) await store.write(s.name, () => ({ json: TEXT.get(s.name)!, ip: s.ip, ts: s.ts, ...(s.ttl ? { ttl: s.ttl } : {}) }));
  await store.close();
}, 60_000);

afterAll(async () => {
  await etcd?.stop();
  removeDir(dir);
});

describe('bpbroker registry export / import', () => {
  it('moves a registry embedded → etcd → embedded with every text, writer and lease as it was', { timeout: 60_000 }, async () => {
    const fromEmbedded = join(dir, 'embedded.jsonl');
    const exported = await cli('registry', 'export', '--home', homeA, '--backend', 'embedded', '-o', fromEmbedded);
    expect(exported.stderr).toBe('');
    expect(exported.code).toBe(0);
    const bytes = readFileSync(fromEmbedded).length;
    expect(exported.stdout).toBe(`Exported ${SEEDS.length} entries (${bytes} bytes) from the embedded registry to ${fromEmbedded}\n`);
    const [header, ...rest] = lines(fromEmbedded);
    expect(JSON.parse(header!)).toMatchObject({ format: 'bpbroker-registry', version: 1, backend: 'embedded', revision: SEEDS.length });
    // In name order, each text spliced in as stored, then the end line (and the final newline).
    expect(rest).toEqual([
      ...NAMES.map((name) => {
        const s = SEEDS.find((x) => x.name === name)!;
        return `{"name":${JSON.stringify(name)},"ip":${JSON.stringify(s.ip)},"ts":${s.ts},${s.ttl ? `"ttl":${s.ttl},` : ''}"json":${TEXT.get(name)}}`;
      }),
      `{"end":true,"entries":${SEEDS.length}}`,
      '',
    ]);

    const intoEtcd = await cli('registry', 'import', '--home', homeA, '--backend', 'etcd', fromEmbedded, '--json');
    expect(intoEtcd.code).toBe(0);
    expect(JSON.parse(intoEtcd.stdout)).toMatchObject({ entries: SEEDS.length, bytes, replaced: 0, backend: 'etcd' });
    const etcdStore = await EtcdStore.open({ endpoints: etcd.endpoints, prefix: PREFIX });
    try {
      const inEtcd = new Map<string, Entry>();
      for (const name of NAMES) inEtcd.set(name, (await etcdStore.get(name))!);
      expectOriginals(inEtcd);
      // A new lease of the entry's TTL, running from the import.
      const left = await etcdStore.leaseLeft(inEtcd.get('leased')!);
      expect(left).toBeGreaterThan(250);
      expect(left).toBeLessThanOrEqual(300);
    } finally {
      await etcdStore.close();
    }

    // The file's registry.backend (embedded) names the store unless --backend says otherwise.
    writeSettings(homeB, { backend: 'etcd', etcd_endpoints: etcd.endpoints, etcd_prefix: PREFIX });
    const fromEtcd = join(dir, 'etcd.jsonl');
    expect((await cli('registry', 'export', '--home', homeB, '-o', fromEtcd)).code).toBe(0);
    expect(lines(fromEtcd).slice(1)).toEqual(rest);
    expect(JSON.parse(lines(fromEtcd)[0]!)).toMatchObject({ backend: 'etcd' });

    const back = await cli('registry', 'import', '--home', homeB, '--backend', 'embedded', fromEtcd);
    expect(back.stderr).toBe('');
    expect(back.stdout).toBe(`Imported ${SEEDS.length} entries (${readFileSync(fromEtcd).length} bytes) into the embedded registry\n`);
    // Folded into bpbroker.json: the file alone holds them (no journal records left to replay).
    const file = loadConfig({ home: homeB });
    expectOriginals(file.entries);
    expectOriginals(await embeddedEntries(homeB));
  });

  it('refuses names the target holds unless --overwrite, and a bad line anywhere, writing nothing', { timeout: 60_000 }, async () => {
    const source = join(dir, 'embedded.jsonl'); // from the first case
    const fileBefore = readFileSync(configPathFrom(homeB));
    const again = await cli('registry', 'import', '--home', homeB, '--backend', 'embedded', source);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(
      `Fatal error: ${SEEDS.length} entries exist already in the embedded registry ("_store/ns/key", "deep", "leased", "numbers", "svc/ünïcode \\"quoted\\" \\\\ line\\nbreak" and 3 more); nothing was imported. Import with --overwrite to replace them.\n`,
    );
    expect(readFileSync(configPathFrom(homeB)).equals(fileBefore)).toBe(true);
    const overwrite = await cli('registry', 'import', '--home', homeB, '--backend', 'embedded', '--overwrite', source);
    expect(overwrite.code).toBe(0);
    expect(overwrite.stdout).toContain(`, ${SEEDS.length} replaced) into the embedded registry`);
    expectOriginals(loadConfig({ home: homeB }).entries);

    // Line 5 is cut short: the four lines before it are fine, yet none of them is written.
    const all = lines(source);
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, [...all.slice(0, 4), all[4]!.slice(0, 40), ...all.slice(5)].join('\n'));
    const homeC = join(dir, 'c');
    const refused = await cli('registry', 'import', '--home', homeC, '--backend', 'embedded', bad);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(new RegExp(`^Fatal error: ${bad.replace(/[.]/g, '\\.')} line 5: not JSON \\(.+\\); nothing was imported\\n$`));
    expect((await embeddedEntries(homeC)).size).toBe(0);
  });

  it('says at once that etcd cannot be reached', { timeout: 30_000 }, async () => {
    const homeD = join(dir, 'd');
    writeSettings(homeD, { backend: 'etcd', etcd_endpoints: ['http://127.0.0.1:9'], etcd_prefix: PREFIX });
    const started = Date.now();
    const r = await cli('registry', 'export', '--home', homeD);
    expect(Date.now() - started).toBeLessThan(8_000); // a process start, and the store's 2 s deadline
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^Fatal error: Registry unavailable: .*127\.0\.0\.1:9.* \(etcd endpoints http:\/\/127\.0\.0\.1:9, from .*bpbroker\.json\)\n$/);
  });

  it('refuses the embedded store while a broker runs with the file, and tells to stop it', { timeout: 60_000 }, async () => {
    const homeC = join(dir, 'c'); // embedded by default
    const broker = await startBroker({ home: homeC });
    try {
      const path = configPathFrom(homeC);
      const [exported, imported] = await Promise.all([
        cli('registry', 'export', '--home', homeC),
        cli('registry', 'import', '--home', homeC, '--backend', 'embedded', join(dir, 'embedded.jsonl')),
      ]);
      const refusal = `Fatal error: A broker (pid ${broker.proc.pid}) is running with ${path}. Stop it first (e.g. systemctl stop bpbroker), then try again.\n`;
      expect(exported).toEqual({ code: 1, stdout: '', stderr: refusal });
      expect(imported).toEqual({ code: 1, stdout: '', stderr: refusal });
    } finally {
      await broker.stop();
    }
  });
});

describe('an embedded registry opened with its leases held', () => {
  it('keeps a leased entry past its TTL, where a running registry expires it', { timeout: 20_000 }, async () => {
    const open = (name: string, holdLeases: boolean) => Registry.open({ journalDir: join(dir, name), snapshot: { revision: 0, entries: [] }, holdLeases });
    const [held, running] = await Promise.all([open('held', true), open('running', false)]);
    try {
      for (const r of [held, running]) await r.put('short', makeEntryJson('{}', '', 0), '', 0, { ttl: 1 }).durable;
      await waitFor(() => !running.has('short'), 10_000, 50, 'the running lease to expire');
      expect(held.peek('short')?.ttl).toBe(1);
    } finally {
      await Promise.all([held.close(), running.close()]);
    }
  });
});
