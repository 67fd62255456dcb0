/**
 * Rate limit for what an extension writes to the console. A loop printing as fast as it can (hundreds of
 * thousands of lines a second) filled the worker's output queue until the worker died, and took the lines with
 * it. Lines within the budget pass; the rest are dropped and counted, and the count is reported once per period.
 */
export interface LogLimiterOptions {
  /** Lines that may pass per second, and at once after a quiet spell. */
  linesPerSec: number;
  /** Bytes that may pass per second, and at once. */
  bytesPerSec: number;
  /** Called at most once per `reportMs` with the lines dropped since the last report. */
  onDropped: (lines: number) => void;
  reportMs: number;
  now?: () => number;
}

export class LogLimiter {
  private lines: number;
  private bytes: number;
  private last: number;
  private dropped = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: LogLimiterOptions) {
    this.lines = opts.linesPerSec;
    this.bytes = opts.bytesPerSec;
    this.last = this.now();
  }

  /** Whether a line of `size` bytes may be written now; false counts it as dropped. */
  admit(size: number): boolean {
    const t = this.now();
    const secs = (t - this.last) / 1000;
    this.last = t;
    this.lines = Math.min(this.opts.linesPerSec, this.lines + secs * this.opts.linesPerSec);
    this.bytes = Math.min(this.opts.bytesPerSec, this.bytes + secs * this.opts.bytesPerSec);
    if (this.lines >= 1 && this.bytes >= size) {
      this.lines -= 1;
      this.bytes -= size;
      return true;
    }
    this.dropped++;
    if (!this.timer) {
      this.timer = setTimeout(() => this.report(), this.opts.reportMs);
      this.timer.unref();
    }
    return false;
  }

  /** Reports the lines dropped so far, if any. */
  report(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const n = this.dropped;
    this.dropped = 0;
    if (n > 0) this.opts.onDropped(n);
  }

  private now(): number {
    return this.opts.now ? this.opts.now() : performance.now();
  }
}
