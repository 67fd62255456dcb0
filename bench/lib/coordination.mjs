// Scenarios of the coordination primitives (watches and leases): how fast one write reaches a thousand
// watchers, and what watchers, leases and a watcher that never reads cost the writers. Every broker here is
// fresh; the watchers and lease keepers run in a fleet process of their own (bench/fleet.mjs).
import { request } from 'node:https';
import { startFleet, monotonicMs } from './fleet.mjs';
import { closedLoop, grpcClients, percentile } from './load.mjs';
import { cpuOf, seedCertificate, startBroker, tempHome } from './procs.mjs';
import { entryData } from './seed.mjs';

export const COORDINATION_IDS = ['watch-delivery', 'watch-writes', 'leases', 'slow-watcher'];

/** Watchers per scenario: `cfg.watchers` (1,000 in the full run; fewer in the quick run, which only proves the bench runs). */
let WATCHERS = 1000;
/** Watch streams per gRPC connection from the fleet: under the broker's grpc.max_concurrent_streams (100). */
const STREAMS_PER_CONNECTION = 50;
const WRITERS = 64;

let seq = 0;

/**
 * @param {object} o
 * @param {(id: string) => boolean} o.wanted
 * @param {{ leases: number, watchers?: number }} o.cfg
 * @param {(sides: object[]) => Promise<object[]>} o.sideBySide
 * @param {Function} o.record
 * @param {(msg: string) => void} o.log
 * @param {object} o.cert
 * @param {object[]} o.servers processes to stop if the bench fails half-way
 */
export async function coordinationScenarios(o) {
  WATCHERS = o.cfg.watchers ?? WATCHERS;
  const own = (p) => {
    o.servers.push(p);
    return p;
  };
  const release = async (...ps) => {
    for (const p of ps) {
      await p.stop();
      o.servers.splice(o.servers.indexOf(p), 1);
    }
  };
  const broker = async () => {
    const home = tempHome();
    seedCertificate(home, o.cert);
    const b = own(await startBroker(home));
    return { b, rpc: grpcClients(`127.0.0.1:${b.port}`, 'broker', { channels: 4 }) };
  };
  const ctx = { ...o, own, release, broker };
  if (o.wanted('watch-delivery')) await watchDelivery(ctx);
  if (o.wanted('watch-writes')) await watchWrites(ctx);
  if (o.wanted('leases')) await leases(ctx);
  if (o.wanted('slow-watcher')) await slowWatcher(ctx);
}

/** CPU of the broker (and of fleets) while `run` runs, in cores (1 = one core busy the whole time). */
async function withCpu(pid, fleets, run) {
  const t0 = performance.now();
  const b0 = cpuOf(pid);
  const f0 = await Promise.all(fleets.map((f) => f.stats()));
  const r = await run();
  const secs = (performance.now() - t0) / 1000;
  const b1 = cpuOf(pid);
  const f1 = await Promise.all(fleets.map((f) => f.stats()));
  const cores = (ms) => +(ms / 1000 / secs).toFixed(2);
  // Into `r` itself: it may carry non-enumerable samples (deliveryRound) that a copy would drop.
  return Object.assign(r, {
    secs,
    brokerCores: cores(b1 - b0),
    ...(fleets.length ? { fleetCores: cores(f1.reduce((a, s, i) => a + s.cpuMs - f0[i].cpuMs, 0)) } : {}),
    ...(fleets.length ? { fleetEvents: f1.reduce((a, s, i) => a + s.events - f0[i].events, 0), fleetErrors: f1.reduce((a, s) => a + s.errors, 0) } : {}),
  });
}

/** Half of the watchers follow the name, half a prefix of it: both lookups of the broker's watch hub. */
const watchingOne = (name, prefix) => Array.from({ length: WATCHERS }, (_, i) => (i % 2 ? { prefix } : { name }));

/**
 * watch-delivery: one broker, 1,000 gRPC watchers and 1,000 HTTPS long-pollers (each side on its own name).
 * One Update at a time; the next once every watcher of the side has the event. A watcher's delay: from the
 * write being sent to the watcher's receipt of the message holding the event (see deliveryRound).
 */
async function watchDelivery({ sideBySide, record, log, own, release, broker }) {
  log(`watch-delivery: one write at a time delivered to ${WATCHERS} gRPC watchers, and to ${WATCHERS} HTTPS long-pollers`);
  const { b, rpc } = await broker();
  const sides = [];
  for (const [label, mode, name] of [
    [`${WATCHERS} gRPC watchers`, 'watch-grpc', 'delivery/grpc/leader'],
    [`${WATCHERS} HTTPS long-polls`, 'watch-https', 'delivery/https/leader'],
  ]) {
    const { entry } = await rpc.unary('update', { name, json: '{"seq":0}' });
    const fleet = own(
      await startFleet({ mode, port: b.port, filters: watchingOne(name, name.replace(/leader$/, '')), after: entry.modRevision, channels: WATCHERS / STREAMS_PER_CONNECTION }),
    );
    // One write every watcher has received before the rounds: every poll is in place (TLS handshakes done).
    const settle = await rpc.unary('update', { name, json: '{"seq":0}' });
    const { missing } = await fleet.delivery(settle.entry.modRevision, monotonicMs(), 60_000);
    if (missing > 0) throw new Error(`watch-delivery: ${missing} of ${WATCHERS} ${mode} watchers did not get the first write`);
    sides.push({ label, fleet, run: (ms) => withCpu(b.pid, [fleet], () => deliveryRound(rpc, fleet, name, ms, () => allWaiting(b.port, 2 * WATCHERS))) });
  }
  const results = await sideBySide(sides);
  rpc.close();
  await release(...sides.map((s) => s.fleet), b);
  for (const [i, suffix] of ['grpc', 'https'].entries()) {
    const s = results[i];
    const r = s.rounds;
    // The figures judged: percentiles of every delivery of every measured round together (not a median of the
    // rounds' percentiles, which would hide a bad round).
    const all = r.flatMap((x) => x.delays).sort((a, b) => a - b);
    s.p50 = percentile(all, 50);
    s.p99 = percentile(all, 99);
    s.max = all.at(-1);
    record(`watch-delivery-${suffix}`, `one write delivered to ${s.label}: delay from sending the write to each watcher's receipt`, [s], {
      unit: 'writes/s',
      maxP99: 50,
      note: `${all.length.toLocaleString('en-US')} deliveries of ${r.reduce((a, x) => a + x.writes, 0).toLocaleString('en-US')} writes, ${s.errors} missing; p50/p99 of all deliveries, from sending the write: ${ms(s.p50)}/${ms(s.p99)} ms (max ${ms(s.max)}; p99 per round ${r.map((x) => ms(x.p99)).join(', ')}); after the writer had its answer: p50 ${ms(median(r.map((x) => x.afterAckP50)))}, p99 ${ms(median(r.map((x) => x.afterAckP99)))} ms; the write's own answer: p50 ${ms(median(r.map((x) => x.writeP50)))}, p99 ${ms(median(r.map((x) => x.writeP99)))} ms; broker ${median(r.map((x) => x.brokerCores))} cores (${ms(cpuMs(r, (x) => x.rps))} ms of CPU per write and its ${WATCHERS} deliveries), watchers' process ${median(r.map((x) => x.fleetCores))} cores`,
    });
  }
}

/** Resolves once the broker has `n` watches waiting (its `bpbroker_watchers` gauge): every poll is back in place. */
async function allWaiting(port, n) {
  for (const t0 = performance.now(); performance.now() - t0 < 30_000; ) {
    const text = await new Promise((resolve, reject) => {
      request({ host: '127.0.0.1', port, path: '/_metrics', rejectUnauthorized: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c) => (body += c)).on('end', () => resolve(body));
      })
        .on('error', reject)
        .end();
    });
    const m = /^bpbroker_watchers (\d+)/m.exec(text);
    if (!m) throw new Error('watch-delivery: no bpbroker_watchers gauge in /_metrics');
    if (Number(m[1]) >= n) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`watch-delivery: fewer than ${n} watches waiting after 30 s`);
}

/**
 * Writes one at a time for `durationMs`. Each write is sent once every watcher waits again (`settled`): the
 * delay is one write's fan-out to watchers in place, not a queue behind the re-polls of the write before (whose
 * cost shows in the broker's CPU per write).
 */
async function deliveryRound(rpc, fleet, name, durationMs, settled) {
  const afterAck = [];
  const afterSend = [];
  const writeMs = [];
  let missing = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < durationMs) {
    await settled();
    const sent = monotonicMs();
    const { entry } = await rpc.unary('update', { name, json: `{"seq":${++seq}}` });
    const ack = monotonicMs();
    const d = await fleet.delivery(entry.modRevision, ack);
    // The broker publishes a write as it answers it, and its answer may queue behind the deliveries: a watcher
    // can have the event before the writer has its answer. The figure judged is therefore the delay from
    // sending the write (an upper bound of the delay after the acknowledgement); the delay after the answer
    // reached the writer, at least 0, is kept beside it.
    for (const l of d.latencies) {
      afterAck.push(Math.max(0, l));
      afterSend.push(l + ack - sent);
    }
    writeMs.push(ack - sent);
    missing += d.missing;
  }
  const secs = (performance.now() - t0) / 1000;
  for (const xs of [afterAck, afterSend, writeMs]) xs.sort((a, b) => a - b);
  const result = {
    rps: writeMs.length / secs,
    p50: percentile(afterSend, 50),
    p99: percentile(afterSend, 99),
    max: afterSend.at(-1),
    afterAckP50: percentile(afterAck, 50),
    afterAckP99: percentile(afterAck, 99),
    writeP50: percentile(writeMs, 50),
    writeP99: percentile(writeMs, 99),
    errors: missing,
    writes: writeMs.length,
    deliveries: afterAck.length,
  };
  // Every delay, for percentiles over all rounds; not enumerable, so the report's JSON stays small.
  return Object.defineProperty(result, 'delays', { value: afterSend });
}

/**
 * watch-writes: Update at 64 clients over 10,000 names `fleet/G/node-I` (100 groups G of 100 nodes I), on a
 * broker with 1,000 gRPC watchers vs one with none. The watchers: 900 nodes each following its own entry
 * (I < 9 in every group: 9% of the writes reach one of them) and 100 group managers following their group's
 * prefix `fleet/G/` (every write reaches one). About 1.09 deliveries per write.
 */
async function watchWrites({ sideBySide, record, log, own, release, broker }) {
  // In the full run every one of the 100 groups has its manager and 9 watched nodes; fewer watchers, fewer groups.
  const groups = WATCHERS / 10;
  log(`watch-writes: Update at ${WRITERS} clients over 10,000 names, with ${WATCHERS} gRPC watchers (${groups * 9} on their own names, ${groups} on group prefixes) vs none`);
  const names = [];
  const bodies = [];
  for (let g = 0; g < 100; g++) for (let i = 0; i < 100; i++) names.push(`fleet/${g}/node-${i}`);
  for (let k = 0; k < names.length; k++) bodies.push(JSON.stringify(entryData(k)).slice(0, -1));
  const filters = [];
  for (let g = 0; g < groups; g++) for (let i = 0; i < 9; i++) filters.push({ name: `fleet/${g}/node-${i}` });
  for (let g = 0; g < groups; g++) filters.push({ prefix: `fleet/${g}/` });
  // Every name in turn, in a scattered order (7919 is prime to 10,000).
  const update = (rpc) => () => {
    const s = ++seq;
    const k = (s * 7919) % names.length;
    return rpc.unary('update', { name: names[k], json: `${bodies[k]},"seq":${s}}` });
  };
  const [w, n] = await Promise.all([broker(), broker()]);
  const { entry } = await w.rpc.unary('update', { name: 'fleet-start', json: '{}' });
  const fleet = own(await startFleet({ mode: 'watch-grpc', port: w.b.port, filters, after: entry.modRevision, channels: WATCHERS / STREAMS_PER_CONNECTION }));
  const sides = await sideBySide([
    { label: `${WATCHERS} watchers`, run: (ms) => withCpu(w.b.pid, [fleet], () => closedLoop({ call: update(w.rpc), concurrency: WRITERS, durationMs: ms })) },
    { label: 'no watchers', run: (ms) => withCpu(n.b.pid, [], () => closedLoop({ call: update(n.rpc), concurrency: WRITERS, durationMs: ms })) },
  ]);
  const final = await fleet.stats();
  w.rpc.close();
  n.rpc.close();
  await release(fleet, w.b, n.b);
  const r = sides[0].rounds;
  const written = r.reduce((a, x) => a + x.rps * x.secs, 0);
  const delivered = r.reduce((a, x) => a + x.fleetEvents, 0);
  record('watch-writes', `durable Update at ${WRITERS} clients over 10,000 names: ${WATCHERS} watchers attached vs none`, sides, {
    ratio: { value: sides[0].rps / sides[1].rps, of: 'with watchers / without' },
    target: 0.8,
    note: `watchers received ${delivered.toLocaleString('en-US')} events of ${Math.round(written).toLocaleString('en-US')} writes in all rounds (${(delivered / written).toFixed(2)} per write), ${final.errors} watch errors; broker ${median(r.map((x) => x.brokerCores))} cores with watchers vs ${median(sides[1].rounds.map((x) => x.brokerCores))} without, watchers' process ${median(r.map((x) => x.fleetCores))} cores`,
  });
}

/**
 * leases: Register of new names at 64 clients on a broker holding `cfg.leases` leased entries (TTL 60 s), each
 * renewed every 10 s by KeepAlive from the fleet (cfg.leases / 10 renewals per second), vs the same writes on a
 * broker holding as many entries without leases. Renewals run only during the leased side's rounds.
 */
async function leases({ cfg, sideBySide, record, log, own, release, broker }) {
  const count = cfg.leases;
  const everyMs = 10_000;
  log(`leases: Register at ${WRITERS} clients with ${count.toLocaleString('en-US')} leased entries kept alive (each every ${everyMs / 1000} s) vs ${count.toLocaleString('en-US')} entries without leases`);
  const [l, p] = await Promise.all([broker(), broker()]);
  const json = JSON.stringify(entryData(0));
  await Promise.all([
    inParallel(count, WRITERS, (i) => l.rpc.unary('register', { name: `lease/node-${i}`, json, ttl: 60 })),
    inParallel(count, WRITERS, (i) => p.rpc.unary('register', { name: `lease/node-${i}`, json })),
  ]);
  const keeper = own(await startFleet({ mode: 'keep', port: l.b.port, prefix: 'lease/node-', count, everyMs, channels: 4 }));
  const register = (rpc) => () => rpc.unary('register', { name: `new-${++seq}`, json });
  const sides = await sideBySide([
    {
      label: `${count / 1000}k leases kept alive`,
      run: (ms) =>
        withCpu(l.b.pid, [keeper], async () => {
          await keeper.keep(true);
          try {
            return await closedLoop({ call: register(l.rpc), concurrency: WRITERS, durationMs: ms });
          } finally {
            await keeper.keep(false);
          }
        }),
    },
    { label: 'no leases', run: (ms) => withCpu(p.b.pid, [], () => closedLoop({ call: register(p.rpc), concurrency: WRITERS, durationMs: ms })) },
  ]);
  const kept = await keeper.stats();
  l.rpc.close();
  p.rpc.close();
  await release(keeper, l.b, p.b);
  const r = sides[0].rounds;
  record('leases', `durable Register at ${WRITERS} clients: ${count.toLocaleString('en-US')} leased entries kept alive vs as many without leases`, sides, {
    ratio: { value: sides[0].rps / sides[1].rps, of: 'with leases / without' },
    target: 0.8,
    note: `${kept.renewals.toLocaleString('en-US')} renewals in all (${count / (everyMs / 1000)}/s while the leased side ran), ${kept.notFound} found no lease, ${kept.errors} failed; broker ${median(r.map((x) => x.brokerCores))} cores with leases vs ${median(sides[1].rounds.map((x) => x.brokerCores))} without (CPU per call: ${cpuMs(r, (x) => x.rps + count / (everyMs / 1000)).toFixed(2)} ms per write or renewal vs ${cpuMs(sides[1].rounds, (x) => x.rps).toFixed(2)} ms per write), keeper's process ${median(r.map((x) => x.fleetCores))} cores`,
  });
}

/**
 * slow-watcher: Register of new names at 64 clients, on one broker, with a gRPC watcher of every entry (prefix
 * "") whose process is stopped (SIGSTOP) once its watch is in place, so that it reads nothing more from its
 * connection, vs the same writes without it. A fresh stopped watcher for each of its rounds.
 */
async function slowWatcher({ sideBySide, record, log, broker, release }) {
  log(`slow-watcher: Register at ${WRITERS} clients with a watcher of every entry that never reads vs without`);
  const s = await broker();
  const json = JSON.stringify(entryData(0));
  const register = () => s.rpc.unary('register', { name: `new-${++seq}`, json });
  const sides = await sideBySide([
    {
      label: 'a watcher that never reads',
      run: async (ms) => {
        const stuck = await startFleet({ mode: 'watch-grpc', port: s.b.port, filters: [{ prefix: '' }], channels: 1 });
        await stuck.freeze();
        try {
          const r = await withCpu(s.b.pid, [], () => closedLoop({ call: register, concurrency: WRITERS, durationMs: ms }));
          // What the broker sent it that it never read: proof that it was sent events and read none of them.
          return { ...r, unreadBytes: stuck.unreadBytes() };
        } finally {
          await stuck.kill();
        }
      },
    },
    { label: 'no watcher', run: (ms) => withCpu(s.b.pid, [], () => closedLoop({ call: register, concurrency: WRITERS, durationMs: ms })) },
  ]);
  s.rpc.close();
  await release(s.b);
  const r = sides[0].rounds;
  record('slow-watcher', `durable Register at ${WRITERS} clients: a watcher of every entry that never reads vs none`, sides, {
    ratio: { value: sides[0].rps / sides[1].rps, of: 'with the stuck watcher / without' },
    target: 0.9,
    note: `the stopped watcher's socket held ${Math.round(median(r.map((x) => x.unreadBytes))).toLocaleString('en-US')} unread bytes at the end of a round (median); broker ${median(r.map((x) => x.brokerCores))} cores with it vs ${median(sides[1].rounds.map((x) => x.brokerCores))} without`,
  });
}

/** Calls `fn(i)` for i in [0, count), `concurrency` at a time. */
async function inParallel(count, concurrency, fn) {
  let next = 0;
  const worker = async () => {
    while (next < count) await fn(next++);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

const ms = (x) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');

/** The broker's CPU time per operation, in ms: the median over rounds, `perSecond(round)` operations a second. */
const cpuMs = (rounds, perSecond) => median(rounds.map((x) => (x.brokerCores * 1000) / perSecond(x)));

function median(xs) {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
