#!/usr/bin/env node
// `node bench/profile.mjs SCENARIO [seconds]`: runs one load against a broker started with --cpu-prof and
// prints where the broker spent its CPU (self time by function, and by file). SCENARIO: https-get,
// grpc-get, register-64, update-64, big-writes, ping; watch-grpc and watch-https (one write at a time to 1,000
// watchers of it), watch-writes (Update at 64 clients over 10,000 names with 1,000 watchers), leases (Register
// at 64 clients while 10,000 leases are renewed every 10 s), slow-watcher (Register at 64 clients with a stopped
// watcher of every entry). The .cpuprofile is kept for Chrome DevTools.
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closedLoop, grpcClients, httpsLoad } from './lib/load.mjs';
import { cleanupHomes, seedRegistry, tempHome, startBroker } from './lib/index.mjs';
import { entryData } from './lib/seed.mjs';
import { summarizeProfile } from './lib/cpuprofile.mjs';
import { startFleet, monotonicMs } from './lib/fleet.mjs';

const [scenario = 'https-get', secs = '5'] = process.argv.slice(2);
const durationMs = Number(secs) * 1000;
const profDir = mkdtempSync(join(tmpdir(), 'bpbroker-prof-'));
const home = tempHome();
if (scenario === 'big-writes') seedRegistry(home, 100_000);
const b = await startBroker(home, { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profDir] });
const rpc = grpcClients(`127.0.0.1:${b.port}`, 'broker', { channels: 4 });
const json = JSON.stringify(entryData(0));
await rpc.unary('register', { name: 'bench-entry', json });
let seq = 0;
let r;
switch (scenario) {
  case 'https-get':
    r = await httpsLoad({ url: `https://127.0.0.1:${b.port}/services/Get/?name=bench-entry`, connections: 32, durationMs });
    break;
  case 'ping':
    r = await httpsLoad({ url: `https://127.0.0.1:${b.port}/ping/Ping/?data=1`, connections: 32, durationMs });
    break;
  case 'grpc-get':
    r = await closedLoop({ call: () => rpc.unary('get', { name: 'bench-entry' }), concurrency: 32, durationMs });
    break;
  case 'register-64':
  case 'big-writes':
    r = await closedLoop({ call: () => rpc.unary('register', { name: `n-${seq++}`, json }), concurrency: 64, durationMs });
    break;
  case 'update-64':
    r = await closedLoop({ call: () => rpc.unary('update', { name: 'bench-entry', json: `{"n":${seq++}}` }), concurrency: 64, durationMs });
    break;
  case 'watch-grpc':
  case 'watch-https': {
    const name = 'w/leader';
    const { entry } = await rpc.unary('update', { name, json: '{"seq":0}' });
    const filters = Array.from({ length: 1000 }, (_, i) => (i % 2 ? { prefix: 'w/' } : { name }));
    const fleet = await startFleet({ mode: scenario, port: b.port, filters, after: entry.modRevision, channels: 20 });
    const lat = [];
    const t0 = performance.now();
    let writes = 0;
    while (performance.now() - t0 < durationMs) {
      const { entry: e } = await rpc.unary('update', { name, json: `{"seq":${++seq}}` });
      const d = await fleet.delivery(e.modRevision, monotonicMs());
      lat.push(...d.latencies.map((l) => Math.max(0, l)));
      writes++;
    }
    await fleet.stop();
    lat.sort((x, y) => x - y);
    r = { rps: writes / ((performance.now() - t0) / 1000), p50: `${lat[lat.length >> 1].toFixed(1)} ms, p99 ${lat[Math.floor(lat.length * 0.99)].toFixed(1)} (delivery)` };
    break;
  }
  case 'watch-writes': {
    const filters = [];
    for (let g = 0; g < 100; g++) for (let i = 0; i < 9; i++) filters.push({ name: `fleet/${g}/node-${i}` });
    for (let g = 0; g < 100; g++) filters.push({ prefix: `fleet/${g}/` });
    const fleet = await startFleet({ mode: 'watch-grpc', port: b.port, filters, channels: 20 });
    r = await closedLoop({ call: () => rpc.unary('update', { name: `fleet/${seq % 100}/node-${Math.floor(seq++ / 100) % 100}`, json }), concurrency: 64, durationMs });
    await fleet.stop();
    break;
  }
  case 'leases': {
    await Promise.all(Array.from({ length: 64 }, async (_, w) => {
      for (let i = w; i < 10_000; i += 64) await rpc.unary('register', { name: `lease/node-${i}`, json, ttl: 60 });
    }));
    const keeper = await startFleet({ mode: 'keep', port: b.port, prefix: 'lease/node-', count: 10_000, everyMs: 10_000, channels: 4 });
    await keeper.keep(true);
    r = await closedLoop({ call: () => rpc.unary('register', { name: `n-${seq++}`, json }), concurrency: 64, durationMs });
    await keeper.stop();
    break;
  }
  case 'slow-watcher': {
    const stuck = await startFleet({ mode: 'watch-grpc', port: b.port, filters: [{ prefix: '' }], channels: 1 });
    await stuck.freeze();
    r = await closedLoop({ call: () => rpc.unary('register', { name: `n-${seq++}`, json }), concurrency: 64, durationMs });
    await stuck.kill();
    break;
  }
  default:
    throw new Error(`unknown scenario ${scenario}`);
}
rpc.close();
await b.stop();
cleanupHomes();
console.log(`${scenario}: ${Math.round(r.rps)} req/s, p50 ${r.p50} ms`);

const file = join(profDir, readdirSync(profDir).find((f) => f.endsWith('.cpuprofile')));
console.log(`\n${summarizeProfile(file)}\nprofile: ${file}`);
