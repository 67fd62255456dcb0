import { execFileSync, spawn } from 'node:child_process';
import { connect as netConnect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, type RunningBroker } from '../helpers/broker.js';
import { call } from '../helpers/https.js';
import { waitFor } from '../helpers/wait.js';
import { mustPing, openTls, startConfigured } from './raw.js';

/**
 * Slowloris and floods: many connections that never finish (or never start) a handshake or a request must
 * neither stop service to others nor be held for longer than the configured timeouts; a flood of UDP
 * datagrams must not starve the TLS port. Only generous timeouts are asserted, never a latency.
 */
const TIMEOUT_SECS = 2;
let b: RunningBroker;

beforeAll(async () => {
  b = await startConfigured({ api: { headers_timeout_secs: TIMEOUT_SECS, idle_timeout_secs: TIMEOUT_SECS, request_timeout_secs: TIMEOUT_SECS * 2 } });
});
afterAll(async () => {
  await b.stop();
  removeDir(b.home);
});

/** Connections the slowloris test holds open at once. */
const STALLED = 1000;

/** The open-file limit this process (and the broker it started) runs under. */
function descriptorLimit(): number {
  const text = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
  return text === 'unlimited' ? Infinity : Number(text);
}

interface Tracked {
  kind: string;
  socket: Socket;
  closedAt: number | undefined;
}

describe('slow and idle clients', () => {
  it('1,000 stalled connections do not stop service, and each is cut off by its timeout', { timeout: 120_000 }, async () => {
    // Each connection costs a descriptor here and one in the broker: fewer would test less, so fail instead.
    const limit = descriptorLimit();
    expect(limit, `ulimit -n is ${limit}; holding ${STALLED} connections needs ${STALLED + 200} (raise it, as .ci/run does: ulimit -n 4096)`).toBeGreaterThanOrEqual(STALLED + 200);
    const total = STALLED;
    const tracked: Tracked[] = [];
    const track = (kind: string, socket: Socket): void => {
      const t: Tracked = { kind, socket, closedAt: undefined };
      socket.on('error', () => {});
      socket.resume(); // read what the broker sends (a 408), so its close is seen
      socket.on('close', () => (t.closedAt = Date.now()));
      tracked.push(t);
    };
    const drips: NodeJS.Timeout[] = [];
    const kinds = ['tcp-no-handshake', 'tls-idle', 'tls-drip-headers', 'tls-drip-body', 'h2-idle'] as const;
    try {
      for (let i = 0; i < total; i += 50) {
        await Promise.all(
          Array.from({ length: Math.min(50, total - i) }, async (_, j) => {
            const kind = kinds[(i + j) % kinds.length]!;
            if (kind === 'tcp-no-handshake') {
              const s = netConnect(b.port, '127.0.0.1');
              await new Promise<void>((r) => s.once('connect', () => r()).once('error', () => r()));
              track(kind, s);
              return;
            }
            const s = await openTls(b.port, kind === 'h2-idle' ? ['h2'] : ['http/1.1']);
            track(kind, s);
            if (kind === 'tls-drip-headers') {
              s.write('GET /ping/Ping/ HTTP/1.1\r\nHost: x\r\n');
              drips.push(setInterval(() => s.writable && s.write('X-Drip: 1\r\n'), 500));
            } else if (kind === 'tls-drip-body') {
              s.write('POST /ping/Ping/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n');
              drips.push(setInterval(() => s.writable && s.write('a'), 500));
            }
          }),
        );
        // Others are served while the stalled connections pile up: a new connection and a kept-alive one.
        if (i % 200 === 0) {
          await mustPing(b.port, `during-${i}`);
          expect((await call(b.port, '/ping/Ping/?data=1', { agent: false })).json.data).toBe(1);
        }
      }
      expect(tracked.length).toBe(total);
      await mustPing(b.port, 'all-open');
      // Everything stalled is cut off by its timeout: left alone, the dripping ones would stay open for ever. The
      // bound counts from the last one opened, with the once-a-second check and a wide margin for a busy machine.
      const deadline = Date.now() + (TIMEOUT_SECS * 2 + 20) * 1000;
      await waitFor(
        async () => {
          await mustPing(b.port, 'waiting');
          return tracked.every((t) => t.closedAt !== undefined) || Date.now() > deadline;
        },
        (TIMEOUT_SECS * 2 + 30) * 1000,
        250,
      );
      const summary = kinds.map((k) => `${k}: ${tracked.filter((t) => t.kind === k && t.closedAt !== undefined).length}/${tracked.filter((t) => t.kind === k).length} closed`).join(', ');
      const open = tracked.filter((t) => t.closedAt === undefined).map((t) => t.kind);
      expect(open, `connections still open after their timeouts (${summary})`).toEqual([]);
      await mustPing(b.port, 'after');
    } finally {
      for (const d of drips) clearInterval(d);
      for (const t of tracked) t.socket.destroy();
    }
  });

  it('a UDP flood does not starve the TLS port', { timeout: 60_000 }, async () => {
    // The flood comes from another process, so it measures the broker, not this test's event loop.
    const flooder = spawn(
      process.execPath,
      [
        '-e',
        `const s = require('node:dgram').createSocket('udp4');
         const junk = [Buffer.alloc(1200, 0x41), Buffer.from('nosuch\\n'), Buffer.alloc(60000, 0x42)];
         let n = 0; const end = Date.now() + 4000;
         (function burst() {
           for (let i = 0; i < 200; i++) s.send(junk[n++ % 3], ${b.port}, '127.0.0.1');
           if (Date.now() < end) setImmediate(burst); else s.close(() => console.log(n));
         })();`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let sent = '';
    flooder.stdout.on('data', (d: Buffer) => (sent += d.toString()));
    const done = new Promise<void>((r) => flooder.once('exit', () => r()));
    const latencies: number[] = [];
    let finished = false;
    void done.then(() => (finished = true));
    try {
      while (!finished) {
        const t = Date.now();
        await mustPing(b.port, 'flood', 10_000);
        latencies.push(Date.now() - t);
        await new Promise((r) => setTimeout(r, 50)); // pacing: a ping every 50 ms while the flood runs, not a wait for it
      }
    } finally {
      flooder.kill();
      await done;
    }
    latencies.sort((x, y) => x - y);
    console.log(`UDP flood: ${sent.trim()} datagrams; ${latencies.length} pings, median ${latencies[latencies.length >> 1]} ms, max ${latencies.at(-1)} ms`);
    expect(latencies.length).toBeGreaterThan(5);
    expect(b.proc.exitCode).toBeNull();
  });
});
