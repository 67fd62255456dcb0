import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { FromWorker, ToWorker } from '../protocol.js';

/** The runner script, shipped beside this module (the build copies it into dist/). */
const RUNNER = fileURLToPath(new URL('./runner.py', import.meta.url));

/**
 * How often a Python process's resident memory is compared with its limit. A thread's heap limit stops JavaScript
 * at the allocation that crosses it; a process can only be watched, so one that allocates fast may pass its limit
 * by what it allocates in this time before it is stopped.
 */
const MEMORY_CHECK_MS = 100;

/** The Python 3 interpreter extensions run in: $BPBROKER_PYTHON (a virtualenv's python, say), else python3 on PATH. */
export function pythonCommand(): string {
  return process.env.BPBROKER_PYTHON || 'python3';
}

/**
 * A Python extension process that looks like a worker thread to WorkerSlot: the same messages, as JSON lines on
 * its stdin and stdout ('message', 'error' and 'exit' events, postMessage, terminate). Its stderr (the
 * extension's print output and Python's own fatal errors) goes to the broker's stderr, as a JS worker's console does.
 */
export class PythonWorker extends EventEmitter {
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;
  private ended = false;

  constructor(opts: { memoryMb?: number | undefined } = {}, python = pythonCommand()) {
    super();
    // -B and PYTHONDONTWRITEBYTECODE: no __pycache__ folders written into the extensions folder.
    this.child = spawn(python, ['-B', RUNNER], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONIOENCODING: 'utf-8', PYTHONUNBUFFERED: '1' },
    });
    let resolveExited!: () => void;
    this.exited = new Promise((r) => (resolveExited = r));
    const end = (code: number): void => {
      if (this.ended) return;
      this.ended = true;
      resolveExited();
      this.emit('exit', code);
    };
    this.child.on('error', (err: NodeJS.ErrnoException) => {
      const why =
        err.code === 'ENOENT'
          ? `${python} not found: Python extensions need Python 3 (Debian: apt-get install python3; or set BPBROKER_PYTHON)`
          : `${python} could not be started: ${err.message}`;
      this.emit('error', new Error(why));
      // A process that never started has no 'close' to wait for.
      if (this.child.pid === undefined) end(1);
    });
    this.child.on('close', (code, signal) => {
      if (signal && signal !== 'SIGKILL') this.emit('error', new Error(`${python} was killed by ${signal}`));
      end(code ?? 1);
    });
    // A write after the process died fails with EPIPE; 'close' reports the death.
    this.child.stdin!.on('error', () => undefined);
    const lines = createInterface({ input: this.child.stdout!, crlfDelay: Number.POSITIVE_INFINITY });
    lines.on('line', (line) => this.onLine(line));
    if (opts.memoryMb) this.watchMemory(opts.memoryMb);
    // Not unref'd: a check (install-extension) waits on it with nothing else to do. The host ends every process
    // on shutdown, and the runner exits by itself when the broker goes away (its stdin closes).
  }

  postMessage(msg: ToWorker): void {
    if (this.ended || !this.child.stdin?.writable) return;
    this.child.stdin.write(`${JSON.stringify(msg)}\n`);
  }

  terminate(): Promise<void> {
    if (!this.ended) this.child.kill('SIGKILL');
    return this.exited;
  }

  /**
   * Stops the process once its resident memory passes `limitMb` (worker.memory_mb), as a worker thread is
   * stopped at its heap limit: its calls fail with "ran out of memory", and a fresh process serves the next one.
   */
  private watchMemory(limitMb: number): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    const timer = setInterval(() => {
      let rssKb: number;
      try {
        const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
        if (!m) return;
        rssKb = Number(m[1]);
      } catch {
        return; // gone (its 'close' follows), or no /proc: nothing to watch
      }
      if (rssKb <= limitMb * 1024) return;
      clearInterval(timer);
      this.emit('error', Object.assign(new Error(`resident memory ${Math.round(rssKb / 1024)} MB passed its limit`), { code: 'ERR_WORKER_OUT_OF_MEMORY' }));
      void this.terminate();
    }, MEMORY_CHECK_MS);
    timer.unref();
    void this.exited.then(() => clearInterval(timer));
  }

  private onLine(line: string): void {
    let msg: FromWorker;
    try {
      msg = JSON.parse(line) as FromWorker;
    } catch {
      msg = { type: 'log', level: 'warn', message: 'python extension runner wrote a line that is not a message', fields: { line: line.slice(0, 200) } };
    }
    this.emit('message', msg);
  }
}
