// The long runs of test/reliability: many SIGKILL cycles and many more hostile inputs than `npm test` tries.
// Prints the figures: cycles, writes acknowledged, writes lost, inputs tried, crashes.
// BPBROKER_SOAK_CYCLES sets the number of kills (default 50); BPBROKER_SEED repeats a run.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'bpbroker-soak-'));
const reportFile = join(dir, 'figures.jsonl');
const started = Date.now();
const vitest = spawnSync(process.execPath, [join(root, 'node_modules/vitest/vitest.mjs'), 'run', 'test/reliability'], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, BPBROKER_SOAK: '1', BPBROKER_SOAK_REPORT: reportFile },
});

let lines = [];
try {
  lines = readFileSync(reportFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
} catch {
  /* no suite reported: the run failed before */
}
rmSync(dir, { recursive: true, force: true });
const sum = (key, suites) => lines.filter((l) => !suites || suites.includes(l.suite)).reduce((n, l) => n + (l[key] ?? 0), 0);
const inputsBy = Object.fromEntries(lines.filter((l) => l.inputs !== undefined).map((l) => [l.suite, l.inputs]));
const figures = {
  cycles: sum('cycles'),
  'writes acknowledged': sum('acknowledged'),
  'writes lost': sum('lost'),
  'kills in recovery': sum('startupKills'),
  'inputs tried': sum('inputs'),
  crashes: sum('crashes'),
};
console.log('\nbpbroker soak');
for (const [k, v] of Object.entries(figures)) console.log(`  ${k.padEnd(20)} ${v}`);
console.log(`  ${'inputs by suite'.padEnd(20)} ${Object.entries(inputsBy).map(([s, n]) => `${s} ${n}`).join(', ')}`);
for (const l of lines.filter((l) => l.rssPeakMb !== undefined || l.worstPingMs !== undefined)) {
  const rss = [['before', l.rssBeforeMb], ['peak', l.rssPeakMb], ['after', l.rssAfterMb]]
    .filter(([, mb]) => mb !== undefined)
    .map(([when, mb]) => `${mb} MB ${when}`)
    .join(', ');
  const ping = l.worstPingMs === undefined ? '' : `worst ping ${l.worstPingMs} ms`;
  console.log(`  ${`flood ${l.suite}`.padEnd(20)} ${[rss && `RSS ${rss}`, ping].filter(Boolean).join('; ')}`);
}
console.log(`  ${'duration'.padEnd(20)} ${Math.round((Date.now() - started) / 1000)} s`);
const ok = vitest.status === 0 && figures['writes lost'] === 0 && figures.crashes === 0 && figures.cycles > 0;
console.log(ok ? '  result               PASS' : '  result               FAIL');
process.exit(ok ? 0 : 1);
