import { statSync } from 'node:fs';
import { mkdir, stat, unlink } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { ConfigWriter, type FilePlan } from '../../config/ConfigWriter.js';
import type { Sections } from '../../config/schema.js';
import { BrokerError } from '../../core/BrokerError.js';
import type { Logger } from '../../log/Logger.js';
import { commitTemp, writeParts, writeTemp, type TempFile } from '../../fs/atomicWrite.js';
import { identityOf, sameFile, type FileIdentity } from '../../fs/fileIdentity.js';
import type { Registry } from './Registry.js';
import type { StorageGuard } from './StorageGuard.js';

const MAX_SPACING_MS = 1000;

export interface SnapshotterOptions {
  /** At most one snapshot per this many ms (default 500). */
  delayMs?: number;
  /** The registry revision bpbroker.json already holds, when it holds exactly what would be written. */
  fileRevision?: number;
}

/**
 * Folds the journal into bpbroker.json soon after writes (within `delayMs`) and on shutdown.
 * Order matters: start a new journal segment, read the registry at revision R, write it to a temp file, wait
 * until R is durable in the journal, atomically replace the file, and only then drop the segments it covers.
 *
 * It also guards the journal's files (StorageGuard): it knows which bpbroker.json it last wrote, tells the
 * journal when that file is gone or replaced, and writes the whole registry again when the journal asks.
 */
export class Snapshotter implements StorageGuard {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private dirty = false;
  private closed = false;
  /** Remembers encoded entry lines between snapshots. */
  private readonly writer = new ConfigWriter();
  /** How long the last snapshot took, fsync included. */
  private lastMs = 0;
  /** bpbroker.json as this broker last read or wrote it. */
  private identity: FileIdentity | undefined;
  /** The registry revision that file holds (-1: not known to hold the registry). */
  private writtenRevision: number;
  /** Counts undone changes: a snapshot read before one must not replace the file. */
  private undos = 0;
  /** Replacing the file is one step at a time (a recovery and a regular snapshot may both want to). */
  private fileLock: Promise<unknown> = Promise.resolve();
  private renaming = false;
  private readonly delayMs: number;

  constructor(
    private readonly path: string,
    private readonly registry: Registry,
    private readonly sections: () => Sections,
    private readonly log: Logger,
    opts: SnapshotterOptions = {},
  ) {
    this.delayMs = opts.delayMs ?? 500;
    this.writtenRevision = opts.fileRevision ?? -1;
    try {
      this.identity = identityOf(statSync(path, { bigint: true }));
    } catch {
      // Not written yet.
    }
    registry.guardStorage(this);
  }

  /** Called after each snapshot lands (the status file follows the registry with it). */
  onSnapshot: () => void = () => {};
  /** Called with the seconds each snapshot took, fsync included. */
  onDuration: (seconds: number) => void = () => {};

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
      void this.writeNow().catch((err: unknown) => {
        // Refused writes while the storage is unavailable are logged once, by availability().
        if (err instanceof BrokerError && err.code === 'UNAVAILABLE') this.log.debug('snapshot postponed', { err: err.message });
        else this.log.error('writing the configuration file failed', { file: this.path, err });
      });
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
      this.onDuration(this.lastMs / 1000);
    } finally {
      this.running = undefined;
      if (this.dirty && !this.closed) this.schedule();
    }
  }

  /** Final write at shutdown; no more scheduling after it. Throws when the registry could not be saved. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.running) await this.running.catch(() => {});
    // The file already holds this very state and is still the one written: nothing to do (a big registry
    // stops in no time).
    if (this.writtenRevision === this.registry.revision && (await this.check()) === undefined && this.identity) return;
    try {
      // A snapshot whose changes were undone meanwhile does not land: the next one holds what is left.
      for (let attempt = 0; attempt < 3; attempt++) {
        await this.writeNow();
        if (!this.dirty) break;
      }
    } catch (err) {
      if (!(err instanceof BrokerError && err.code === 'UNAVAILABLE')) throw err;
      // The journal takes no more writes, and every change it refused was undone: what is in memory is what
      // was acknowledged. Saving it whole is all a stop needs.
      await this.persist(err.message, () => {});
    }
  }

  // StorageGuard

  async check(): Promise<string | undefined> {
    const before = this.identity;
    if (!before) return undefined;
    try {
      const now = identityOf(await stat(this.path, { bigint: true }));
      if (sameFile(now, before) || (this.identity && sameFile(now, this.identity)) || this.renaming) return undefined;
      return `${basename(this.path)} was replaced or changed by another program`;
    } catch (err) {
      if (this.renaming) return undefined;
      return `${basename(this.path)} is gone (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
    }
  }

  persist(reason: string, captured: () => void): Promise<void> {
    return this.exclusive(async () => {
      this.log.warn('storage lost: writing the whole registry to the configuration file again', { file: this.path, reason });
      await mkdir(dirname(this.path), { recursive: true, mode: 0o755 });
      const plan = this.plan();
      captured();
      await this.registry.syncHistory();
      const temp = await this.writeFile(plan);
      await this.replace(temp, plan.revision);
      this.onSnapshot();
    });
  }

  undone(): void {
    this.undos++;
  }

  availability(reason: string | undefined): void {
    if (reason) this.log.error('storage unavailable: refusing writes until the registry can be saved again', { file: this.path, reason });
    else this.log.warn('storage available again: the registry is saved and writes are accepted', { file: this.path });
  }

  private async snapshot(): Promise<void> {
    const segment = await this.registry.rotateJournal();
    const undos = this.undos;
    const plan = this.plan();
    const temp = await this.writeFile(plan);
    try {
      // Every change in the file must be durable in the journal first: a write that fails is undone in memory.
      await this.registry.sync();
      await this.registry.syncHistory();
    } catch (err) {
      await unlink(temp.tmp).catch(() => {});
      throw err;
    }
    const landed = await this.exclusive(async () => {
      // A change in this plan was undone, or a recovery already wrote a newer state: this file must not land.
      if (this.undos !== undos || this.writtenRevision > plan.revision) {
        await unlink(temp.tmp).catch(() => {});
        return false;
      }
      await this.replace(temp, plan.revision);
      return true;
    });
    if (!landed) {
      this.dirty = true;
      return;
    }
    await this.registry.dropJournalBefore(segment);
    this.onSnapshot();
  }

  /** The registry now, read synchronously. */
  private plan(): FilePlan {
    const view = this.registry.view();
    return this.writer.plan(this.sections(), view.entries, view.revision, { lapsed: this.registry.lapsedNames() });
  }

  private writeFile(plan: FilePlan): Promise<TempFile> {
    return writeTemp(this.path, (fh) => writeParts(fh, plan.parts()), 0o600);
  }

  private async replace(temp: TempFile, revision: number): Promise<void> {
    this.renaming = true;
    try {
      await commitTemp(temp, this.path);
      this.identity = temp.identity;
      this.writtenRevision = revision;
    } finally {
      this.renaming = false;
    }
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.fileLock.then(fn, fn);
    this.fileLock = run.catch(() => {});
    return run;
  }
}
