/** The watches and lease keepers a client started, so that closing the client ends them cleanly. */
interface Stoppable {
  readonly stopped: boolean;
  stop(): void;
}

export class RunningTasks {
  private readonly tasks = new Set<Stoppable>();

  add<T extends Stoppable>(task: T): T {
    // Forget the finished ones as new ones come, so a long-lived client holds only what still runs.
    for (const t of this.tasks) if (t.stopped) this.tasks.delete(t);
    this.tasks.add(task);
    return task;
  }

  stopAll(): void {
    for (const t of this.tasks) t.stop();
    this.tasks.clear();
  }
}
