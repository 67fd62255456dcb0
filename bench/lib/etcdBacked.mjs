// Scenarios of brokers whose registry lives in etcd (registry.backend "etcd"), on the bench's one etcd member:
// what the broker adds over etcd itself (the same calls made directly by the same kind of client), and what
// three brokers on one etcd read compared with one.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { closedLoop, grpcClients } from './load.mjs';
import { cpuOf, seedCertificate, startBroker, tempHome } from './procs.mjs';

export const ETCD_BACKED_IDS = ['etcd-backed', 'etcd-fleet'];

const PREFIX = '/bpbroker/';
/** Direct Puts go outside the brokers' prefix: the brokers' watch of their prefix would otherwise work during etcd's turn. */
const DIRECT = '/bench-direct/';
const READERS = 32;
const CHANNELS = 4;

/** A broker on `etcd` under PREFIX; it trusts etcd's certificate (the bench's own, self-signed). */
async function etcdBroker(o) {
  const home = tempHome();
  seedCertificate(home, o.cert);
  const registry = { backend: 'etcd', etcd_endpoints: [`https://127.0.0.1:${o.etcd.port}`], etcd_prefix: PREFIX, etcd_ca: 'bpbroker.crt' };
  writeFileSync(join(home, 'etc/bpbroker.json'), `${JSON.stringify({ registry })}\n`, { mode: 0o600 });
  const b = await startBroker(home);
  o.servers.push(b);
  return { b, rpc: grpcClients(`127.0.0.1:${b.port}`, 'broker', { channels: CHANNELS }) };
}

async function release(o, ...brokers) {
  for (const { b, rpc } of brokers) {
    rpc.close();
    await b.stop();
    o.servers.splice(o.servers.indexOf(b), 1);
  }
}

/** Calls spread round-robin over several brokers' clients. */
function spread(rpcs) {
  let next = 0;
  return (method, req) => rpcs[next++ % rpcs.length].unary(method, req);
}

/**
 * Where the CPU goes: `run` with the CPU time each process used meanwhile, per call answered, in ms
 * (`procs`: label to a pid or pids, summed; `load generator` is this process). Kept on every round, and the medians on the side.
 */
function costed(procs, run) {
  const cpu = (pids) => [pids].flat().reduce((a, pid) => a + cpuOf(pid), 0);
  return async (ms) => {
    const before = Object.fromEntries(Object.entries(procs).map(([k, pids]) => [k, cpu(pids)]));
    const self0 = process.cpuUsage();
    const t0 = performance.now();
    const r = await run(ms);
    const calls = (r.rps * (performance.now() - t0)) / 1000;
    const self = process.cpuUsage(self0);
    const per = (cpuMs) => +(cpuMs / calls).toFixed(3);
    r.cpuMsPerCall = {
      ...Object.fromEntries(Object.entries(procs).map(([k, pids]) => [k, per(cpu(pids) - before[k])])),
      'load generator': per((self.user + self.system) / 1000),
    };
    return r;
  };
}

function withCpuMedians(sides) {
  for (const s of sides) {
    const keys = Object.keys(s.rounds[0]?.cpuMsPerCall ?? {});
    s.cpuMsPerCall = Object.fromEntries(keys.map((k) => [k, median(s.rounds.map((r) => r.cpuMsPerCall[k]))]));
  }
  return sides;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * @param {object} o
 * @param {(id: string) => boolean} o.wanted
 * @param {Function} o.sideBySide
 * @param {Function} o.record
 * @param {(msg: string) => void} o.log
 * @param {object} o.cert
 * @param {object[]} o.servers processes to stop if the bench fails half-way
 * @param {{ port: number }} o.etcd
 * @param {{ unary: Function }} o.etcdRpc etcd's KV service over CHANNELS connections
 * @param {string} o.entryJson
 * @param {number} o.cpus
 */
export async function etcdBackedScenarios(o) {
  if (!ETCD_BACKED_IDS.some(o.wanted)) return;
  // One broker serves both scenarios (it is the fleet's first): one start fewer.
  const first = await etcdBroker(o);
  if (o.wanted('etcd-backed')) await etcdBacked(o, first);
  if (o.wanted('etcd-fleet')) await etcdFleet(o, first);
  await release(o, first);
}

/**
 * etcd-backed: Get and durable writes through one etcd-backed broker vs the etcd calls they stand for, made
 * directly over gRPC by grpc-js with the same channels and concurrency: Get vs a Range of the entry's key,
 * Register of new names vs Put of new keys, Update of one name vs Put of one key.
 */
async function etcdBacked(o, broker) {
  o.log('etcd-backed: gRPC Get and durable writes through a broker on etcd vs the same key read and written directly in etcd');
  const { rpc } = broker;
  await rpc.unary('register', { name: 'eb-entry', json: o.entryJson });
  await rpc.unary('register', { name: 'eb-hot', json: o.entryJson });
  const key = Buffer.from(`${PREFIX}eb-entry`);
  const procs = { broker: broker.b.pid, etcd: o.etcd.pid };
  const sides = withCpuMedians(
    await o.sideBySide([
      { label: 'broker Get', run: costed(procs, (ms) => closedLoop({ call: () => rpc.unary('get', { name: 'eb-entry' }), concurrency: READERS, durationMs: ms })) },
      { label: 'etcd Range', run: costed(procs, (ms) => closedLoop({ call: () => o.etcdRpc.unary('range', { key }), concurrency: READERS, durationMs: ms })) },
    ]),
  );
  o.record('etcd-backed-get', `gRPC Get through a broker on etcd vs etcd Range of the same key (${READERS} in flight, ${CHANNELS} connections each)`, sides, {
    ratio: { value: sides[0].rps / sides[1].rps, of: 'broker / etcd' },
    target: 0.8,
  });

  let seq = 0;
  const value = Buffer.from(o.entryJson);
  for (const concurrency of [1, 64]) {
    o.log(`etcd-backed writes, ${concurrency} client(s): Register of new names and Update of one name vs etcd Put`);
    const loop = (call) => costed(procs, (ms) => closedLoop({ call, concurrency, durationMs: ms }));
    const w = withCpuMedians(
      await o.sideBySide([
        { label: 'broker Register', run: loop(() => rpc.unary('register', { name: `ebnew${concurrency}-${seq++}`, json: o.entryJson })) },
        { label: 'etcd Put (new keys)', run: loop(() => o.etcdRpc.unary('put', { key: Buffer.from(`${DIRECT}put${concurrency}-${seq++}`), value })) },
        { label: 'broker Update', run: loop(() => rpc.unary('update', { name: 'eb-hot', json: `{"n":${seq++}}` })) },
        { label: 'etcd Put (one key)', run: loop(() => o.etcdRpc.unary('put', { key: Buffer.from(`${DIRECT}hot`), value: Buffer.from(`{"n":${seq++}}`) })) },
      ]),
    );
    const [reg, put, upd, putOne] = w;
    o.record(`etcd-backed-register-${concurrency}`, `durable Register of new names through a broker on etcd vs etcd Put of new keys, ${concurrency} client(s)`, [reg, put], {
      ratio: { value: reg.rps / put.rps, of: 'broker Register / etcd Put' },
      target: 0.8,
    });
    o.record(`etcd-backed-update-${concurrency}`, `durable Update of one name through a broker on etcd vs etcd Put of one key, ${concurrency} client(s)`, [upd, putOne], {
      ratio: { value: upd.rps / putOne.rps, of: 'broker Update / etcd Put' },
      target: 0.8,
    });
  }
}

/**
 * etcd-fleet: gRPC Get through three brokers on one etcd, the calls spread evenly over them, vs the same load
 * on one of them. Everything (load generator, brokers, etcd) shares the machine's cores, which bounds the gain.
 */
async function etcdFleet(o, first) {
  o.log(`etcd-fleet: gRPC Get through 3 brokers on one etcd vs through 1 (${READERS} in flight in all; ${o.cpus} cores shared by everything)`);
  const brokers = [first, ...(await Promise.all([etcdBroker(o), etcdBroker(o)]))]; // started at once: nothing is measured yet
  await brokers[0].rpc.unary('register', { name: 'ef-entry', json: o.entryJson });
  // Each broker reads it from etcd: every one of them serves it before the load starts.
  for (const { rpc } of brokers) await rpc.unary('get', { name: 'ef-entry' });
  const three = spread(brokers.map((x) => x.rpc));
  const one = brokers[0].rpc.unary;
  const procs = { brokers: brokers.map((x) => x.b.pid), etcd: o.etcd.pid };
  const sides = withCpuMedians(
    await o.sideBySide([
      { label: '3 brokers', run: costed(procs, (ms) => closedLoop({ call: () => three('get', { name: 'ef-entry' }), concurrency: READERS, durationMs: ms })) },
      { label: '1 broker', run: costed(procs, (ms) => closedLoop({ call: () => one('get', { name: 'ef-entry' }), concurrency: READERS, durationMs: ms })) },
    ]),
  );
  o.record('etcd-fleet', `gRPC Get through 3 brokers on one etcd vs 1 (${READERS} in flight; ${o.cpus} cores shared by the load generator, the brokers and etcd)`, sides, {
    ratio: { value: sides[0].rps / sides[1].rps, of: '3 brokers / 1 broker' },
    note: `${o.cpus} cores`,
  });
  await release(o, ...brokers.slice(1));
}
