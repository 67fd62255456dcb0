// Load generators: autocannon for HTTPS, one grpc-js loop for every gRPC server (broker, bare, etcd), and a
// UDP window for discovery. Each returns { rps, p50, p99, errors } for one timed run.
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import autocannon from 'autocannon';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ROOT } from './procs.mjs';

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** HTTPS with keep-alive connections; the certificate is not checked (self-signed, as the old clients). */
export async function httpsLoad({ url, method = 'GET', connections, durationMs }) {
  const result = await autocannon({
    url,
    method,
    connections,
    pipelining: 1,
    duration: durationMs / 1000,
    tlsOptions: { rejectUnauthorized: false },
  });
  const ok = result['2xx'];
  const errors = result.errors + result.timeouts + result.non2xx;
  if (ok === 0) throw new Error(`no successful responses from ${url} (errors ${result.errors}, non-2xx ${result.non2xx})`);
  // autocannon stops on its own one-second sample tick, so a short run lasts longer than asked: divide by the
  // time it really ran (in seconds), or quick mode would overstate the rate threefold.
  return { rps: ok / (result.duration || durationMs / 1000), p50: result.latency.p50, p99: result.latency.p99, errors };
}

const protoOptions = { keepCase: false, longs: Number, defaults: false, oneofs: true };

function loadService(file, service) {
  // etcd's own protos (proto/etcd, shared with the etcd store) import each other from the proto/ root.
  const def = loadSync(file, { ...protoOptions, includeDirs: [join(ROOT, 'proto')] });
  return grpc.loadPackageDefinition(def)[service.split('.')[0]][service.split('.')[1]];
}

/** gRPC clients of one service, `channels` separate connections; calls go round-robin over them. */
export function grpcClients(target, which, { channels = 1, tls = true } = {}) {
  const [file, service] =
    which === 'etcd' ? ['etcd/etcdserverpb/rpc.proto', 'etcdserverpb.KV'] : [join(ROOT, 'proto/bpbroker/v1/registry.proto'), 'bpbroker.v1.RegistryService'];
  const Ctor = which === 'etcd' ? loadService(file, service) : loadBroker(file);
  const creds = tls
    ? grpc.credentials.createSsl(null, null, null, { rejectUnauthorized: false, checkServerIdentity: () => undefined })
    : grpc.credentials.createInsecure();
  const clients = [];
  for (let i = 0; i < channels; i++) {
    // A local subchannel pool per client: otherwise grpc-js shares one connection between them.
    clients.push(new Ctor(target, creds, { 'grpc.use_local_subchannel_pool': 1, 'grpc.ssl_target_name_override': 'localhost' }));
  }
  let next = 0;
  const unary = (method, req) =>
    new Promise((resolve, reject) => {
      const c = clients[next++ % clients.length];
      c[method](req, (err, res) => (err ? reject(err) : resolve(res)));
    });
  return { unary, close: () => {
      for (const c of clients) c.close();
    },
  };
}

function loadBroker(file) {
  const def = loadSync(file, { ...protoOptions, includeDirs: [join(ROOT, 'proto')] });
  return grpc.loadPackageDefinition(def).bpbroker.v1.RegistryService;
}

/**
 * Keeps `concurrency` calls in flight for `durationMs`: each worker waits for its answer before the next call.
 * `call(seq)` makes one call; seq is unique across workers (new names for writes).
 */
export async function closedLoop({ call, concurrency, durationMs, seqStart = 0 }) {
  const latencies = [];
  let seq = seqStart;
  let errors = 0;
  let lastError;
  let ok = 0;
  const t0 = performance.now();
  const end = t0 + durationMs;
  const worker = async () => {
    while (performance.now() < end) {
      const s = performance.now();
      try {
        await call(seq++);
        ok++;
        latencies.push(performance.now() - s);
      } catch (err) {
        errors++;
        lastError = err;
        if (errors > 100 && ok === 0) return;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - t0) / 1000;
  if (ok === 0) throw new Error(`every call failed: ${lastError?.message ?? 'no calls made'}`);
  latencies.sort((a, b) => a - b);
  return { rps: ok / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors, seqEnd: seq };
}

/**
 * Discovery: sends `NAME\n` datagrams keeping `window` unanswered; every answer is matched to the oldest
 * outstanding request (loopback keeps order). A window that stalls for 200 ms counts as lost and is refilled.
 */
export async function udpLoad({ port, name, window, durationMs }) {
  const socket = createSocket('udp4');
  await new Promise((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const msg = Buffer.from(`${name}\n`);
  const sent = [];
  const latencies = [];
  let lost = 0;
  let lastAnswer = performance.now();
  const t0 = performance.now();
  const end = t0 + durationMs;
  const send = () => {
    sent.push(performance.now());
    socket.send(msg, port, '127.0.0.1');
  };
  await new Promise((resolve) => {
    socket.on('message', () => {
      const now = performance.now();
      lastAnswer = now;
      const s = sent.shift();
      if (s !== undefined) latencies.push(now - s);
      if (now < end) send();
      else if (sent.length === 0) resolve();
    });
    const watchdog = setInterval(() => {
      const now = performance.now();
      if (now >= end + 200) {
        lost += sent.length;
        clearInterval(watchdog);
        resolve();
      } else if (now - lastAnswer > 200 && now < end) {
        lost += sent.length;
        sent.length = 0;
        lastAnswer = now;
        for (let i = 0; i < window; i++) send();
      }
    }, 50);
    for (let i = 0; i < window; i++) send();
  });
  socket.close();
  const elapsed = (performance.now() - t0) / 1000;
  if (latencies.length === 0) throw new Error('no discovery answers');
  latencies.sort((a, b) => a - b);
  return { rps: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors: lost };
}
