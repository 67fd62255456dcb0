#!/usr/bin/env node
// `node bench/profile.mjs SCENARIO [seconds]`: runs one load against a broker started with --cpu-prof and
// prints where the broker spent its CPU (self time by function, and by file). SCENARIO: https-get,
// grpc-get, register-64, update-64, big-writes, ping. The .cpuprofile is kept for Chrome DevTools.
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closedLoop, grpcClients, httpsLoad } from './lib/load.mjs';
import { cleanupHomes, seedRegistry, tempHome, startBroker } from './lib/index.mjs';
import { entryData } from './lib/seed.mjs';
import { summarizeProfile } from './lib/cpuprofile.mjs';

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
  default:
    throw new Error(`unknown scenario ${scenario}`);
}
rpc.close();
await b.stop();
cleanupHomes();
console.log(`${scenario}: ${Math.round(r.rps)} req/s, p50 ${r.p50} ms`);

const file = join(profDir, readdirSync(profDir).find((f) => f.endsWith('.cpuprofile')));
console.log(`\n${summarizeProfile(file)}\nprofile: ${file}`);
