// A fleet of broker clients in a process of its own, driven by the bench over IPC (bench/lib/fleet.mjs):
// watchers (gRPC Watch streams through the generated grpc-js stubs, or raw HTTPS long-polls), or lease keepers
// renewing entries at a steady rate. Its own process, so that receiving a thousand watch messages never shares
// an event loop with the load generator, and so that it can be stopped (SIGSTOP) as a client that never reads.
//
// Times are process.hrtime (CLOCK_MONOTONIC on Linux), which the bench process reads on the same clock.
import { connect as tlsConnect } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { RegistryServiceClient } from '../dist/generated/bpbroker/v1/registry.js';

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const send = (msg) => process.send?.(msg);

const stats = { messages: 0, events: 0, errors: 0, lastError: undefined, renewals: 0, notFound: 0 };
let stopping = false;
const closers = [];

process.on('message', (msg) => {
  try {
    handlers[msg.type](msg);
  } catch (err) {
    send({ type: 'failed', message: String(err?.stack ?? err) });
  }
});
process.on('disconnect', () => stop());

const handlers = {
  start(msg) {
    const start = { 'watch-grpc': watchGrpc, 'watch-https': watchHttps, keep: keepLeases }[msg.config.mode];
    start(msg.config);
  },
  await(msg) {
    awaitDelivery(msg);
  },
  keep(msg) {
    keeper?.(msg.on);
    send({ type: 'reply', id: msg.id });
  },
  stats(msg) {
    const cpu = process.cpuUsage();
    send({ type: 'reply', id: msg.id, ...stats, cpuMs: (cpu.user + cpu.system) / 1000 });
  },
  stop() {
    stop();
  },
};

function stop() {
  if (stopping) return;
  stopping = true;
  for (const close of closers) close();
  setImmediate(() => process.exit(0));
}

function fail(err) {
  stats.errors++;
  stats.lastError = String(err?.details ?? err?.message ?? err);
}

// --- watchers --------------------------------------------------------------------------------------------

/** Per watcher: the newest event revision it received, and when. */
let watchers = [];
/** The write the bench waits on: every watcher must receive its revision. */
let pending;

function received(w, revision, at) {
  if (revision <= w.revision) return;
  const before = w.revision;
  w.revision = revision;
  w.at = at;
  if (pending && before < pending.revision && revision >= pending.revision && ++pending.count === watchers.length) answerPending();
}

function awaitDelivery({ id, revision, ack, timeoutMs }) {
  pending = { id, revision, ack, count: watchers.filter((w) => w.revision >= revision).length };
  pending.timer = setTimeout(answerPending, timeoutMs);
  if (pending.count === watchers.length) answerPending();
}

function answerPending() {
  const p = pending;
  pending = undefined;
  clearTimeout(p.timer);
  const latencies = [];
  for (const w of watchers) if (w.revision >= p.revision) latencies.push(w.at - p.ack);
  send({ type: 'reply', id: p.id, latencies, missing: watchers.length - latencies.length });
}

/** `filters` over `channels` connections (the broker allows grpc.max_concurrent_streams, 100, per connection). */
function watchGrpc({ port, filters, after, channels }) {
  const creds = grpc.credentials.createSsl(null, null, null, { rejectUnauthorized: false, checkServerIdentity: () => undefined });
  const clients = Array.from(
    { length: channels },
    () => new RegistryServiceClient(`127.0.0.1:${port}`, creds, { 'grpc.use_local_subchannel_pool': 1, 'grpc.ssl_target_name_override': 'localhost' }),
  );
  closers.push(() => {
    for (const c of clients) c.close();
  });
  let started = 0;
  watchers = filters.map((filter, i) => {
    const w = { revision: after ?? 0, at: 0 };
    const call = clients[i % channels].watch({ ...filter, afterRevision: after });
    closers.push(() => call.cancel());
    let first = true;
    call.on('data', (msg) => {
      const at = nowMs();
      stats.messages++;
      if (first) {
        first = false;
        // The first message comes at once: the watch is in place.
        if (++started === filters.length) send({ type: 'ready' });
      }
      const n = msg.events.length;
      if (n === 0) return;
      stats.events += n;
      received(w, msg.events[n - 1].revision, at);
    });
    call.on('error', (err) => {
      if (!stopping && err.code !== grpc.status.CANCELLED) fail(err);
    });
    return w;
  });
}

/**
 * Raw HTTPS long-polls: one TLS connection per poller, HTTP/1.1 keep-alive, the request written by hand and the
 * answer framed by its Content-Length, as a small client in any language would. (Node's own http client costs
 * this process about half a millisecond per answer and re-poll: with a thousand pollers in one process that,
 * not the broker, would set the figure.) A poller receives the event when the answer's last byte arrives.
 * Polls wait the longest the broker allows (300 s), so that a thousand idle polls do not all time out and
 * re-poll in the middle of another side's round.
 */
function watchHttps({ port, filters, after, waitSecs = 300 }) {
  let started = 0;
  watchers = filters.map((filter) => {
    const w = { revision: after ?? 0, at: 0 };
    const which = filter.name !== undefined ? `name=${encodeURIComponent(filter.name)}` : `prefix=${encodeURIComponent(filter.prefix)}`;
    let socket;
    let from = w.revision;
    let buf = '';
    let first = true;
    const poll = () => {
      if (stopping) return;
      socket.write(`GET /services/Watch/?${which}&revision=${from}&wait=${waitSecs} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    };
    const connect = () => {
      buf = '';
      socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
        if (first) {
          first = false;
          if (++started === filters.length) send({ type: 'ready' });
        }
        poll();
      });
      socket.setEncoding('utf8');
      socket.on('data', (chunk) => {
        buf += chunk;
        for (;;) {
          const head = buf.indexOf('\r\n\r\n');
          if (head < 0) return;
          const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(buf.slice(0, head))?.[1] ?? 0);
          // The body is ASCII (the broker escapes the rest), so characters are bytes.
          if (buf.length < head + 4 + length) return;
          const at = nowMs();
          const status = buf.slice(9, 12);
          const body = buf.slice(head + 4, head + 4 + length);
          buf = buf.slice(head + 4 + length);
          answered(status, body, at);
        }
      });
      socket.on('error', (err) => stopping || fail(err));
      socket.on('close', () => stopping || setTimeout(connect, 100));
    };
    const answered = (status, body, at) => {
      stats.messages++;
      let answer;
      try {
        answer = JSON.parse(body);
      } catch {
        answer = undefined;
      }
      if (status !== '200' || !answer?.success) {
        fail(`HTTP ${status}: ${body.slice(0, 200)}`);
        setTimeout(poll, 100);
        return;
      }
      const n = answer.events.length;
      if (n > 0) {
        stats.events += n;
        received(w, answer.events[n - 1].revision, at);
      }
      from = answer.revision;
      poll();
    };
    closers.push(() => socket.destroy());
    connect();
    return w;
  });
}

// --- lease keepers ---------------------------------------------------------------------------------------

let keeper;

/**
 * Renews `count` leases (`${prefix}${i}`) round-robin so that each is renewed every `everyMs` while keeping is
 * on: an open loop at count/everyMs calls per second, as that many nodes each renewing their own would send.
 */
function keepLeases({ port, prefix, count, everyMs, channels }) {
  const creds = grpc.credentials.createSsl(null, null, null, { rejectUnauthorized: false, checkServerIdentity: () => undefined });
  const clients = Array.from(
    { length: channels },
    () => new RegistryServiceClient(`127.0.0.1:${port}`, creds, { 'grpc.use_local_subchannel_pool': 1, 'grpc.ssl_target_name_override': 'localhost' }),
  );
  closers.push(() => {
    for (const c of clients) c.close();
  });
  const perMs = count / everyMs;
  let next = 0;
  let issued = 0;
  let since = 0;
  let timer;
  const tick = () => {
    const due = Math.floor((nowMs() - since) * perMs) - issued;
    for (let k = 0; k < due; k++, issued++) {
      const i = next++ % count;
      clients[i % channels].keepAlive({ name: `${prefix}${i}` }, (err) => {
        if (!err) stats.renewals++;
        else if (err.code === grpc.status.NOT_FOUND) stats.notFound++;
        else if (!stopping) fail(err);
      });
    }
  };
  keeper = (on) => {
    clearInterval(timer);
    timer = undefined;
    if (!on) return;
    // A fresh start: no burst to catch up with the time spent paused.
    since = nowMs();
    issued = 0;
    timer = setInterval(tick, 5);
  };
  closers.push(() => clearInterval(timer));
  send({ type: 'ready' });
}
