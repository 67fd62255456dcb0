import { Worker } from 'node:worker_threads';

/** The compiled worker script beside this module (dist/src/extensions/worker.js). */
const WORKER_URL = new URL('./worker.js', import.meta.url);

/**
 * Starts extension worker threads. Booting a thread costs tens of milliseconds, so one idle spare is kept
 * booted: a reload or the replacement of a dead worker then only loads the extension's code.
 */
export class WorkerFactory {
  private spare: Worker | undefined;
  private closed = false;

  constructor(
    /** V8 old-generation limit of each worker, in MB; 0 or undefined: Node's default. Python processes get it too. */
    readonly memoryMb: number | undefined,
    private readonly keepSpare: boolean,
  ) {
    if (keepSpare) this.spare = this.create();
  }

  /** A booted (or booting) worker waiting for its `init` message. */
  take(): Worker {
    let w = this.spare;
    this.spare = undefined;
    if (!w || w.threadId === -1) w = this.create();
    if (this.keepSpare && !this.closed) {
      setImmediate(() => {
        if (!this.closed && !this.spare) this.spare = this.create();
      });
    }
    return w;
  }

  async close(): Promise<void> {
    this.closed = true;
    const w = this.spare;
    this.spare = undefined;
    if (w) await w.terminate();
  }

  private create(): Worker {
    const w = new Worker(WORKER_URL, {
      resourceLimits: this.memoryMb ? { maxOldGenerationSizeMb: this.memoryMb } : {},
      // The parent's flags (test runners, --inspect) are not meant for extension code.
      execArgv: [],
    });
    // Workers never keep the broker alive on their own; the host ends them on shutdown.
    w.unref();
    w.once('exit', () => {
      if (this.spare === w) this.spare = undefined;
    });
    // A spare that fails to boot just exits; the next take() starts another.
    w.on('error', () => undefined);
    return w;
  }
}
