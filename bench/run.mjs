#!/usr/bin/env node
// `npm run bench [-- --quick] [-- --out FILE] [-- --only ID,ID]`: every scenario of the performance issue side
// by side in one run, printed as a table of ratios with absolute figures, and written as JSON. `--only` takes
// scenario ids, or `coordination` for the watch and lease scenarios (bench/lib/coordination.mjs).
// Servers run in child processes; the load generator runs here. All share the machine's cores.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { cpus, freemem, totalmem, release } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { closedLoop, grpcClients, httpsLoad, udpLoad } from './lib/load.mjs';
import { ROOT, certificateOf, cleanupHomes, memoryOf, seedCertificate, startBare, startBroker, tempHome } from './lib/procs.mjs';
import { seedRegistry, entryData } from './lib/seed.mjs';
import { startEtcd } from './lib/etcd.mjs';
import { extensionSupport, installBenchExtension } from './lib/extension.mjs';
import { formatTable } from './lib/report.mjs';
import { COORDINATION_IDS, coordinationScenarios } from './lib/coordination.mjs';
import { ETCD_BACKED_IDS, etcdBackedScenarios } from './lib/etcdBacked.mjs';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    out: { type: 'string', default: join(ROOT, 'bench-results/latest.json') },
    only: { type: 'string' },
  },
});

const QUICK = args.quick;
const cfg = QUICK
  ? { warmMs: 100, roundMs: 300, rounds: 1, bigEntries: 10_000, smallEntries: 1_000, startRounds: 1, leases: 500, watchers: 200 }
  : { warmMs: 1000, roundMs: 2000, rounds: 5, bigEntries: 100_000, smallEntries: 1_000, startRounds: 5, leases: 10_000, watchers: 1000 };
const GROUPS = { coordination: COORDINATION_IDS };
const IDS = ['https-get', 'grpc-get', 'writes', 'etcd', ...ETCD_BACKED_IDS, 'discovery', 'extension', 'startup', 'big-writes', ...COORDINATION_IDS];
const only = args.only ? new Set(args.only.split(',').flatMap((id) => GROUPS[id] ?? [id])) : undefined;
for (const id of only ?? []) {
  if (!IDS.includes(id)) {
    process.stderr.write(`Unknown scenario '${id}': expected one of ${[...IDS, ...Object.keys(GROUPS)].join(', ')}\n`);
    process.exit(2);
  }
}
const wanted = (id) => !only || only.has(id);

const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// Every line carries the time since the start and how many results are in, so a long run shows how far it is.
const T0 = Date.now();
const elapsed = () => {
  const s = Math.round((Date.now() - T0) / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
};
const log = (msg) => process.stderr.write(`[${elapsed()} · ${results.length} results] ${msg}\n`);

/** A measured side: warm-up once, then its rounds interleaved with the other side's (fair under drifting load). */
async function sideBySide(sides) {
  for (const s of sides) if (cfg.warmMs > 0) await s.run(cfg.warmMs);
  const rounds = sides.map(() => []);
  for (let r = 0; r < cfg.rounds; r++) {
    for (const [i, s] of sides.entries()) rounds[i].push(await s.run(cfg.roundMs));
  }
  return sides.map((s, i) => ({
    label: s.label,
    rps: median(rounds[i].map((x) => x.rps)),
    p50: median(rounds[i].map((x) => x.p50)),
    p99: median(rounds[i].map((x) => x.p99)),
    errors: rounds[i].reduce((a, x) => a + (x.errors ?? 0), 0),
    rounds: rounds[i],
  }));
}

function httpsJson(port, path, method = 'GET') {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, rejectUnauthorized: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

const results = [];
const skip = (id, title, reason) => {
  results.push({ id, title, skipped: reason });
  log(`  skipped ${id}: ${reason}`);
};

/** `maxP99`: a latency target instead of a ratio; met when every side's p99 (ms) is below it. */
function record(id, title, sides, { ratio, target, unit = 'req/s', note, maxP99 } = {}) {
  const r = { id, title, unit, sides, note };
  if (maxP99 !== undefined) {
    r.targetP99Ms = maxP99;
    r.met = sides.every((s) => s.p99 < maxP99);
  }
  if (ratio) {
    r.ratio = ratio.value;
    r.ratioOf = ratio.of;
    if (target !== undefined) {
      r.target = target;
      r.met = ratio.value >= target;
    }
  }
  results.push(r);
  const fig = sides.map((s) => `${s.label} ${fmt(s.rps)} ${unit}`).join(', ');
  log(`  ${id}: ${fig}${ratio ? `, ratio ${ratio.value.toFixed(2)}` : ''}${maxP99 !== undefined ? `, p99 ${sides.map((s) => s.p99.toFixed(1)).join('/')} ms` : ''}`);
}

const fmt = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');

async function main() {
  const t0 = Date.now();
  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGb: +(totalmem() / 2 ** 30).toFixed(1),
    freeMemoryGb: +(freemem() / 2 ** 30).toFixed(1),
    kernel: release(),
    node: process.version,
    etcd: etcdVersion(),
  };
  log(`bpbroker bench (${QUICK ? 'quick' : 'full'}): ${machine.cpus} × ${machine.cpuModel}, node ${machine.node}`);
  log('load generator, broker and baselines share these cores; figures are relative to each other, not to a dedicated server.');
  log(`scenarios (${IDS.filter(wanted).length}): ${IDS.filter(wanted).join(', ')}`);

  const servers = [];
  try {
    // The main broker: also generates the certificate every other server here uses.
    const homeA = tempHome();
    const a = await startBroker(homeA);
    servers.push(a);
    const cert = certificateOf(homeA);
    const target = `127.0.0.1:${a.port}`;
    const brokerRpc = grpcClients(target, 'broker', { channels: 4 });
    const entryJson = JSON.stringify(entryData(0));
    await brokerRpc.unary('register', { name: 'bench-entry', json: entryJson });
    await brokerRpc.unary('register', { name: 'bench-hot', json: entryJson });
    const legacyGet = await httpsJson(a.port, '/services/Get/?name=bench-entry');
    const { entry: grpcEntry } = await brokerRpc.unary('get', { name: 'bench-entry' });

    // --- HTTPS Get vs bare https ---------------------------------------------------------------------------
    if (wanted('https-get')) {
      log('https-get: legacy HTTPS Get vs a bare Node https server answering the same bytes');
      const bare = await startBare('bare-https.mjs', { BENCH_CERT: cert.certPath, BENCH_KEY: cert.keyPath, BENCH_BODY: legacyGet.body });
      servers.push(bare);
      const sides = await sideBySide([
        { label: 'broker', run: (ms) => httpsLoad({ url: `https://127.0.0.1:${a.port}/services/Get/?name=bench-entry`, connections: 32, durationMs: ms }) },
        { label: 'bare https', run: (ms) => httpsLoad({ url: `https://127.0.0.1:${bare.port}/services/Get/?name=bench-entry`, connections: 32, durationMs: ms }) },
      ]);
      await bare.stop();
      record('https-get', 'HTTPS Get vs bare https (32 keep-alive connections)', sides, { ratio: { value: sides[0].rps / sides[1].rps, of: 'broker / bare https' }, target: 0.8 });
    }

    // --- gRPC Get vs bare grpc-js ----------------------------------------------------------------------------
    if (wanted('grpc-get')) {
      log('grpc-get: gRPC Get vs a bare grpc-js server answering the same message');
      const bare = await startBare('bare-grpc.mjs', { BENCH_CERT: cert.certPath, BENCH_KEY: cert.keyPath, BENCH_ENTRY: JSON.stringify(grpcEntry) });
      servers.push(bare);
      const bareRpc = grpcClients(`127.0.0.1:${bare.port}`, 'broker', { channels: 4 });
      const sides = await sideBySide([
        { label: 'broker', run: (ms) => closedLoop({ call: () => brokerRpc.unary('get', { name: 'bench-entry' }), concurrency: 32, durationMs: ms }) },
        { label: 'bare grpc-js', run: (ms) => closedLoop({ call: () => bareRpc.unary('get', { name: 'bench-entry' }), concurrency: 32, durationMs: ms }) },
      ]);
      bareRpc.close();
      await bare.stop();
      record('grpc-get', 'gRPC Get vs bare grpc-js (32 in flight, 4 connections)', sides, { ratio: { value: sides[0].rps / sides[1].rps, of: 'broker / bare grpc-js' }, target: 0.8 });
    }

    // --- durable writes, and etcd doing the same -------------------------------------------------------------
    let etcd;
    if (wanted('writes') || wanted('etcd') || ETCD_BACKED_IDS.some(wanted)) {
      if (!machine.etcd) {
        const why = 'etcd is not on PATH (Debian: apt-get install etcd-server)';
        if (wanted('writes') || wanted('etcd')) skip('etcd', 'etcd Range/Put over gRPC', `${why}; broker figures are shown alone`);
        for (const id of ETCD_BACKED_IDS.filter(wanted)) skip(id, 'brokers with their registry on etcd', why);
      } else {
        etcd = await startEtcd(tempHome('bpbroker-bench-etcd-'), cert);
        servers.push(etcd);
      }
    }
    const etcdRpc = etcd ? grpcClients(`127.0.0.1:${etcd.port}`, 'etcd', { channels: 4 }) : undefined;
    let seq = 0;
    const register = (rpc, prefix) => () => rpc.unary('register', { name: `${prefix}-${seq++}`, json: entryJson });
    const update = (rpc) => () => rpc.unary('update', { name: 'bench-hot', json: `{"n":${seq++}}` });
    const value = Buffer.from(entryJson);
    const etcdPut = (prefix) => () => etcdRpc.unary('put', { key: Buffer.from(`${prefix}-${seq++}`), value });
    const etcdPutOne = () => etcdRpc.unary('put', { key: Buffer.from('bench-hot'), value: Buffer.from(`{"n":${seq++}}`) });
    if (wanted('writes')) {
      for (const concurrency of [1, 64]) {
        log(`writes-${concurrency}: durable Register of new names and Update of one name, ${concurrency} client(s)${etcd ? ', and etcd Put' : ''}`);
        const sides = await sideBySide([
          { label: 'broker Register', run: (ms) => closedLoop({ call: register(brokerRpc, `new${concurrency}`), concurrency, durationMs: ms }) },
          ...(etcd ? [{ label: 'etcd Put (new keys)', run: (ms) => closedLoop({ call: etcdPut(`new${concurrency}`), concurrency, durationMs: ms }) }] : []),
          { label: 'broker Update', run: (ms) => closedLoop({ call: update(brokerRpc), concurrency, durationMs: ms }) },
          ...(etcd ? [{ label: 'etcd Put (one key)', run: (ms) => closedLoop({ call: etcdPutOne, concurrency, durationMs: ms }) }] : []),
        ]);
        const [reg, etcdNew, upd, etcdOne] = etcd ? sides : [sides[0], undefined, sides[1], undefined];
        const target = concurrency === 64 ? 1 : undefined;
        record(`register-${concurrency}`, `durable Register of new names, ${concurrency} client(s), gRPC`, etcd ? [reg, etcdNew] : [reg], {
          ratio: etcd ? { value: reg.rps / etcdNew.rps, of: 'broker Register / etcd Put new keys' } : undefined,
          target,
        });
        record(`update-${concurrency}`, `durable Update of one name, ${concurrency} client(s), gRPC`, etcd ? [upd, etcdOne] : [upd], {
          ratio: etcd ? { value: upd.rps / etcdOne.rps, of: 'broker Update / etcd Put one key' } : undefined,
          target,
        });
      }
    }
    if (etcd && wanted('etcd')) {
      log('etcd-get: gRPC Get of the broker vs etcd Range (linearizable, its default) of one key');
      await etcdRpc.unary('put', { key: Buffer.from('bench-entry'), value });
      const sides = await sideBySide([
        { label: 'broker Get', run: (ms) => closedLoop({ call: () => brokerRpc.unary('get', { name: 'bench-entry' }), concurrency: 32, durationMs: ms }) },
        { label: 'etcd Range', run: (ms) => closedLoop({ call: () => etcdRpc.unary('range', { key: Buffer.from('bench-entry') }), concurrency: 32, durationMs: ms }) },
      ]);
      record('etcd-get', 'gRPC Get vs etcd Range of one key (32 in flight)', sides, { ratio: { value: sides[0].rps / sides[1].rps, of: 'broker / etcd' } });
    }
    // --- brokers whose registry is on that etcd ----------------------------------------------------------------
    if (etcd) await etcdBackedScenarios({ wanted, sideBySide, record, log, cert, servers, etcd, etcdRpc, entryJson, cpus: machine.cpus });
    etcdRpc?.close();
    if (etcd) {
      await etcd.stop();
      servers.splice(servers.indexOf(etcd), 1);
    }

    // --- discovery -------------------------------------------------------------------------------------------
    if (wanted('discovery')) {
      log('discovery: UDP datagrams answered per second (32 outstanding) and their latency');
      const sides = await sideBySide([{ label: 'discovery', run: (ms) => udpLoad({ port: a.port, name: 'bench-entry', window: 32, durationMs: ms }) }]);
      record('discovery', 'UDP discovery answers (32 outstanding)', sides, { unit: 'answers/s' });
    }

    // --- extension call vs ping ------------------------------------------------------------------------------
    if (wanted('extension')) {
      const support = extensionSupport();
      if (!support.ok) skip('extension', 'extension call vs ping', `skipped: extensions not available (${support.reason})`);
      else {
        log('extension: an extension method call vs a ping, both over the legacy HTTPS API');
        const homeE = tempHome();
        seedCertificate(homeE, cert);
        const ext = installBenchExtension(homeE);
        const e = await startBroker(homeE);
        servers.push(e);
        const probe = await httpsJson(e.port, ext.path);
        if (probe.status !== 200) skip('extension', 'extension call vs ping', `extension call answered ${probe.status}: ${probe.body.slice(0, 200)}`);
        else {
          const sides = await sideBySide([
            { label: 'extension call', run: (ms) => httpsLoad({ url: `https://127.0.0.1:${e.port}${ext.path}`, connections: 32, durationMs: ms }) },
            { label: 'ping', run: (ms) => httpsLoad({ url: `https://127.0.0.1:${e.port}/ping/Ping/?data=1`, connections: 32, durationMs: ms }) },
          ]);
          record('extension', 'extension call vs ping, legacy HTTPS (32 connections)', sides, { ratio: { value: sides[0].rps / sides[1].rps, of: 'extension / ping' }, target: 0.5 });
        }
        await e.stop();
        servers.splice(servers.indexOf(e), 1);
      }
    }
    brokerRpc.close();
    await a.stop();
    servers.splice(servers.indexOf(a), 1);

    // --- start-up and memory with a big registry, then writes with a big vs a small registry -----------------
    if (wanted('startup') || wanted('big-writes')) {
      log(`seeding registries of ${cfg.bigEntries.toLocaleString('en-US')} and ${cfg.smallEntries.toLocaleString('en-US')} entries of ~200 bytes`);
      const homeBig = tempHome();
      const homeSmall = tempHome();
      // Both at once (start-up is measured below, one broker at a time).
      await Promise.all(
        [[homeBig, cfg.bigEntries], [homeSmall, cfg.smallEntries]].map(async ([home, n]) => {
          seedCertificate(home, cert);
          seedRegistry(home, n);
          // One start/stop folds the seeded file into the broker's own format, as after any earlier run.
          await (await startBroker(home)).stop();
        }),
      );
      if (wanted('startup')) {
        log('startup: spawn to "ready" and resident memory at ready');
        const big = [];
        const small = [];
        for (let r = 0; r < cfg.startRounds; r++) {
          for (const [home, into] of [[homeBig, big], [homeSmall, small]]) {
            const b = await startBroker(home);
            into.push({ readyMs: b.readyMs, ...memoryOf(b.pid) });
            await b.stop();
          }
        }
        const side = (label, xs) => ({ label, readyMs: median(xs.map((x) => x.readyMs)), rssMb: median(xs.map((x) => x.rssMb)), peakMb: median(xs.map((x) => x.peakMb)), rounds: xs });
        const s = [side(`${cfg.bigEntries / 1000}k entries`, big), side(`${cfg.smallEntries / 1000}k entries`, small)];
        results.push({ id: 'startup', title: `start-up and memory with ${cfg.bigEntries.toLocaleString('en-US')} entries`, unit: 'ms', sides: s, targets: { readyMs: 1000, rssMb: 200 }, met: s[0].readyMs <= 1000 && s[0].rssMb <= 200 });
        log(`  startup: ${s.map((x) => `${x.label} ${Math.round(x.readyMs)} ms, RSS ${Math.round(x.rssMb)} MB (peak ${Math.round(x.peakMb)} MB)`).join('; ')}`);
      }
      if (wanted('big-writes')) {
        log(`big-writes: Register of new names at 64 clients with ${cfg.bigEntries.toLocaleString('en-US')} vs ${cfg.smallEntries.toLocaleString('en-US')} entries`);
        const [big, small] = await Promise.all(
          [homeBig, homeSmall].map(async (home) => {
            const b = await startBroker(home);
            servers.push(b);
            return b;
          }),
        );
        const bigRpc = grpcClients(`127.0.0.1:${big.port}`, 'broker', { channels: 4 });
        const smallRpc = grpcClients(`127.0.0.1:${small.port}`, 'broker', { channels: 4 });
        const sides = await sideBySide([
          { label: `${cfg.bigEntries / 1000}k entries`, run: (ms) => closedLoop({ call: register(bigRpc, 'grow'), concurrency: 64, durationMs: ms }) },
          { label: `${cfg.smallEntries / 1000}k entries`, run: (ms) => closedLoop({ call: register(smallRpc, 'grow'), concurrency: 64, durationMs: ms }) },
        ]);
        bigRpc.close();
        smallRpc.close();
        record('big-writes', `durable Register at 64 clients: ${cfg.bigEntries.toLocaleString('en-US')} vs ${cfg.smallEntries.toLocaleString('en-US')} entries`, sides, {
          ratio: { value: sides[0].rps / sides[1].rps, of: 'big / small registry' },
          target: 0.9,
        });
      }
    }

    // --- watches and leases ----------------------------------------------------------------------------------
    await coordinationScenarios({ wanted, cfg, sideBySide, record, log, cert, servers });
  } finally {
    for (const s of servers.reverse()) await s.stop().catch(() => {});
    cleanupHomes();
  }

  const report = { mode: QUICK ? 'quick' : 'full', date: new Date().toISOString(), seconds: Math.round((Date.now() - t0) / 1000), machine, config: cfg, sharedCores: true, results };
  mkdirSync(dirname(args.out), { recursive: true });
  writeFileSync(args.out, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(formatTable(report));
  log(`wrote ${args.out} (${report.seconds} s)`);
}

function etcdVersion() {
  try {
    return /etcd Version: (\S+)/.exec(execFileSync('etcd', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))?.[1] ?? 'unknown';
  } catch {
    return undefined;
  }
}

await main();
