import { readFileSync } from 'node:fs';

/** The resident memory of process `pid` in MB, from /proc (Linux). */
export function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Math.round(Number(m[1]) / 1024);
}

/** Samples a process's RSS every 100 ms and keeps the peak; `over` turns true once it passes `limitMb`. */
export class RssWatch {
  readonly before: number;
  peak: number;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    readonly limitMb: number,
  ) {
    this.before = rssMb(pid);
    this.peak = this.before;
    this.timer = setInterval(() => {
      try {
        this.sample();
      } catch {
        clearInterval(this.timer); // the process is gone: the test that watched it fails on its own
      }
    }, 100);
  }

  sample(): number {
    const now = rssMb(this.pid);
    this.peak = Math.max(this.peak, now);
    return now;
  }

  get over(): boolean {
    return this.peak > this.limitMb;
  }

  stop(): void {
    clearInterval(this.timer);
    try {
      this.sample();
    } catch {
      /* the process is gone */
    }
  }
}

/**
 * Pings in a loop, one at a time, and records the slowest; a ping still running when stopped counts with the
 * time it has taken so far, so a broker that stops answering shows as one very slow ping.
 */
export class Pinger {
  worstMs = 0;
  answered = 0;
  readonly failures: string[] = [];
  private running = true;
  private inFlightSince = 0;
  private readonly loop: Promise<void>;

  constructor(ping: () => Promise<unknown>, pauseMs = 100) {
    this.loop = (async () => {
      while (this.running) {
        this.inFlightSince = Date.now();
        try {
          await ping();
          this.answered++;
        } catch (err) {
          this.failures.push(err instanceof Error ? err.message : String(err));
        }
        this.worstMs = Math.max(this.worstMs, Date.now() - this.inFlightSince);
        this.inFlightSince = 0;
        if (this.running) await new Promise((r) => setTimeout(r, pauseMs));
      }
    })();
  }

  /** Stops after the ping in flight, if it ends within `waitMs`; resolves to the worst latency seen. */
  async stop(waitMs = 60_000): Promise<number> {
    this.running = false;
    const since = this.inFlightSince;
    await Promise.race([this.loop, new Promise((r) => setTimeout(r, waitMs))]);
    if (this.inFlightSince !== 0 && since !== 0) this.worstMs = Math.max(this.worstMs, Date.now() - since);
    return this.worstMs;
  }
}

/** Resolves once `check` holds, polling every `everyMs`; rejects after `timeoutMs` with `what`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
