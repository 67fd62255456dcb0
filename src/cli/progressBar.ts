import { noProgress, type Progress } from '../core/progress.js';

/** The bar is redrawn this often at most, once the operation has lasted QUIET_MS: quick ones print nothing. */
const TICK_MS = 100;
const QUIET_MS = 500;

/**
 * Progress on standard error, as a bar redrawn in place, when it is a terminal. Elsewhere (a service log, a
 * script capturing the output) nothing is printed, as git and npm do: the output stays what it always was.
 */
export function progressBar(out: NodeJS.WriteStream = process.stderr): Progress {
  if (out.isTTY !== true) return noProgress;
  const started = Date.now();
  let label = '';
  let total: number | undefined;
  let done = 0;
  let last = 0;
  let drawn = false; // a bar is on the current line
  let wrote = false;
  const text = (): string => {
    if (total === undefined || total <= 0) return done > 0 ? `${label}: ${bytes(done)}` : `${label}...`;
    const pct = Math.min(100, Math.floor((done / total) * 100));
    const width = 24;
    const full = Math.round((pct / 100) * width);
    return `${label} [${'#'.repeat(full)}${'.'.repeat(width - full)}] ${pct}% ${bytes(done)} of ${bytes(total)}`;
  };
  const draw = (force = false): void => {
    const now = Date.now();
    if (now - started < QUIET_MS) return;
    if (!force && now - last < TICK_MS) return;
    out.write(`\r\x1b[2K${text()}`);
    drawn = true;
    wrote = true;
    last = now;
  };
  const closeLine = (): void => {
    if (drawn) out.write('\n');
    drawn = false;
  };
  return {
    phase(next, totalBytes) {
      if (wrote) draw(true); // the step that ends, as far as it got
      closeLine();
      label = next;
      total = totalBytes;
      done = 0;
      draw(true);
    },
    advance(n) {
      done = n;
      draw();
    },
    end() {
      if (wrote) draw(true);
      closeLine();
    },
  };
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
}
