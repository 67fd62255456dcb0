import { writeConfigFile } from '../config/ConfigFile.js';
import { ConfigWriter } from '../config/ConfigWriter.js';
import type { Sections } from '../config/defaults.js';
import type { Logger } from '../log/Logger.js';
import type { Registry } from './Registry.js';

const MAX_SPACING_MS = 1000;

/**
 * Folds the journal into bpbroker.json soon after writes (within `delayMs`) and on shutdown.
 * Order matters: start a new journal segment, serialize the registry at revision R, wait until R is durable
 * in the journal, atomically replace the file, and only then drop the segments the file now covers.
 */
export class Snapshotter {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private dirty = false;
  private closed = false;
  /** Remembers encoded entry lines between snapshots. */
  private readonly writer = new ConfigWriter();
  /** How long the last snapshot took, fsync included. */
  private lastMs = 0;

  constructor(
    private readonly path: string,
    private readonly registry: Registry,
    private readonly sections: () => Sections,
    private readonly log: Logger,
    private readonly delayMs = 500,
  ) {}

  /** Called after each snapshot lands (the status file follows the registry with it). */
  onSnapshot: () => void = () => {};

  /**
   * Called after each change: one snapshot per `delayMs` at most, however many writes come. A big registry
   * waits longer, up to a second, so that rewriting the file keeps the disk busy a tenth of the time at most:
   * the journal's fsyncs queue behind the file's (100,000 entries are a 27 MB file; docs/performance.md).
   */
  schedule(): void {
    this.dirty = true;
    if (this.timer || this.running || this.closed) return;
    const delay = Math.max(this.delayMs, Math.min(MAX_SPACING_MS, 10 * this.lastMs));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.writeNow().catch((err: unknown) => this.log.error('writing the configuration file failed', { file: this.path, err }));
    }, delay);
    this.timer.unref();
  }

  /** Writes the file now (waiting for a write in progress first). */
  async writeNow(): Promise<void> {
    while (this.running) await this.running.catch(() => {});
    this.dirty = false;
    const started = performance.now();
    this.running = this.snapshot();
    try {
      await this.running;
      this.lastMs = performance.now() - started;
    } finally {
      this.running = undefined;
      if (this.dirty && !this.closed) this.schedule();
    }
  }

  /** Final write at shutdown; no more scheduling after it. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.writeNow();
  }

  private async snapshot(): Promise<void> {
    const segment = await this.registry.rotateJournal();
    const view = this.registry.view();
    const text = this.writer.serialize(this.sections(), view.entries, view.revision);
    await writeConfigFile(this.path, text, () => this.registry.sync());
    await this.registry.dropJournalBefore(segment);
    this.onSnapshot();
  }
}
