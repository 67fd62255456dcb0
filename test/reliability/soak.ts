import { appendFileSync } from 'node:fs';

/** `npm run soak` sets BPBROKER_SOAK=1: the same suites run many more cycles and inputs. */
export const SOAK = process.env.BPBROKER_SOAK === '1';

/** Picks the short count for `npm test`, the long one for the soak. */
export function runs(short: number, soak: number): number {
  return SOAK ? soak : short;
}

export interface Figures {
  suite: string;
  cycles?: number;
  acknowledged?: number;
  lost?: number;
  /** Restarts killed during recovery, before they were ready. */
  startupKills?: number;
  inputs?: number;
  /** Times the broker process died on its own (not killed by the harness). */
  crashes?: number;
  /** Floods: the broker's resident memory before, at the peak of, and after the flood (MB). */
  rssBeforeMb?: number;
  rssPeakMb?: number;
  rssAfterMb?: number;
  /** Floods: the slowest ping answered while the flood ran (ms). */
  worstPingMs?: number;
}

/** Appends one line of figures to the soak report, when the soak script asked for one. */
export function report(f: Figures): void {
  const file = process.env.BPBROKER_SOAK_REPORT;
  if (file) appendFileSync(file, `${JSON.stringify(f)}\n`);
}

/**
 * The seed of a randomised suite: BPBROKER_SEED when set, a fresh one otherwise. Printed at once, when the file
 * is collected and before anything can time out, so that a run that fails or hangs can be repeated with it;
 * suites put it in their test names too, which every failure report shows.
 */
export function seedFor(suite: string): number {
  const given = process.env.BPBROKER_SEED;
  const seed = given !== undefined && given !== '' ? Number(given) : Math.floor(Math.random() * 2 ** 31);
  if (!Number.isSafeInteger(seed)) throw new Error(`BPBROKER_SEED must be an integer, not '${given}'`);
  console.log(`${suite}: seed ${seed} (repeat with BPBROKER_SEED=${seed})`);
  return seed;
}
