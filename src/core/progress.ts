/**
 * How a long operation (a restore, an import) tells its caller how far it is: phases, each with the bytes done
 * out of a known total when there is one. The CLI draws it (src/cli/progressBar.ts); everyone else passes nothing.
 */
export interface Progress {
  /** A new step begins; `totalBytes` when its size is known. */
  phase(label: string, totalBytes?: number): void;
  /** Bytes done so far in the current step. Called often: implementations throttle. */
  advance(doneBytes: number): void;
  /** The operation is over (finished or failed). */
  end(): void;
}

export const noProgress: Progress = { phase() {}, advance() {}, end() {} };
