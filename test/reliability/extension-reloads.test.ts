import { afterEach, describe, expect, it } from 'vitest';
import { inProcessBroker, type InProcessBroker } from '../extensions/harness.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Hot reloads of one extension, each starting a new worker: long, on one core. It times nothing and measures the
 * memory of its own process only, so it runs beside other files (LIGHT_IN_HEAVY, vitest.config.ts). The soak
 * (BPBROKER_SOAK=1) makes a thousand; `npm test` 300, where a leaked worker per reload (~10 MB) would still be 3 GB.
 */
const RELOADS = process.env.BPBROKER_SOAK === '1' ? 1_000 : 300;
let b: InProcessBroker | undefined;
afterEach(async () => {
  await b?.close();
  b = undefined;
});

describe('extension host under many reloads (in process, compiled code)', () => {
  it(`${RELOADS} reloads do not grow memory without bound`, async () => {
    b = await inProcessBroker({ 'r.mjs': `export function V(rh) { rh.data = '0'; }` }, { r: {} });
    const round = async (i: number): Promise<void> => {
      b!.write('r.mjs', `export function V(rh) { rh.data = '${i}'; }`);
      await b!.host.reload('r');
      expect((await b!.call('r', 'V')).body).toBe(String(i));
    };
    const gc = (globalThis as { gc?: () => void }).gc;
    for (let i = 1; i <= 50; i++) await round(i); // warm up allocator arenas and JIT
    gc?.();
    const before = process.memoryUsage();
    const t = Date.now();
    for (let i = 51; i < 51 + RELOADS; i++) await round(i);
    // Replaced workers exit on their own after a reload: wait for them before measuring.
    await waitFor(() => b!.host.liveWorkers <= 2, 10_000, 10, 'replaced workers to exit');
    gc?.();
    const after = process.memoryUsage();
    const mb = (n: number) => (n / 1048576).toFixed(1);
    console.log(
      `${RELOADS} reloads in ${Date.now() - t} ms: rss ${mb(before.rss)} -> ${mb(after.rss)} MB, heapUsed ${mb(before.heapUsed)} -> ${mb(after.heapUsed)} MB, live workers ${b.host.liveWorkers}`,
    );
    // A leaked worker per reload would cost ~10 MB each (10 GB); what remains is allocator slack.
    expect(after.rss - before.rss).toBeLessThan(150 * 1048576);
    expect(after.heapUsed - before.heapUsed).toBeLessThan(20 * 1048576);
    expect(b.host.liveWorkers).toBeLessThanOrEqual(2);
  }, 300_000);
});
