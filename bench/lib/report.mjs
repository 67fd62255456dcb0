// The printed table: one row per scenario, ratio first, absolute figures beside it for context.

const n = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : 'n/a');
const ms = (x) => (Number.isFinite(x) ? (x < 10 ? x.toFixed(2) : x.toFixed(1)) : 'n/a');

function figure(side, unit) {
  const cpu = side.cpuMsPerCall ? `, CPU per call: ${Object.entries(side.cpuMsPerCall).map(([k, v]) => `${k} ${ms(v)} ms`).join(', ')}` : '';
  return `${side.label}: ${n(side.rps)} ${unit} (p50 ${ms(side.p50)} ms, p99 ${ms(side.p99)} ms${cpu})`;
}

export function formatTable(report) {
  const rows = [['scenario', 'ratio', 'target', 'met', 'figures']];
  for (const r of report.results) {
    if (r.skipped) {
      rows.push([r.id, '-', '-', 'skip', r.skipped]);
      continue;
    }
    if (r.id === 'startup') {
      const [big, small] = r.sides;
      rows.push([
        r.id,
        `${n(big.readyMs)} ms, ${n(big.rssMb)} MB`,
        `≤ ${r.targets.readyMs} ms, ≤ ${r.targets.rssMb} MB`,
        r.met ? 'yes' : 'NO',
        `${big.label}: ready ${n(big.readyMs)} ms, RSS ${n(big.rssMb)} MB (peak ${n(big.peakMb)} MB); ${small.label}: ready ${n(small.readyMs)} ms, RSS ${n(small.rssMb)} MB`,
      ]);
      continue;
    }
    if (r.targetP99Ms !== undefined) {
      rows.push([r.id, `p99 ${ms(Math.max(...r.sides.map((s) => s.p99)))} ms`, `p99 < ${r.targetP99Ms} ms`, r.met ? 'yes' : 'NO', r.sides.map((s) => figure(s, r.unit)).join('; ')]);
      continue;
    }
    rows.push([
      r.id,
      r.ratio === undefined ? '-' : `${r.ratio.toFixed(2)}×`,
      r.target === undefined ? '-' : `≥ ${r.target}×`,
      r.target === undefined ? '-' : r.met ? 'yes' : 'NO',
      r.sides.map((s) => figure(s, r.unit)).join('; '),
    ]);
  }
  const widths = rows[0].slice(0, 4).map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const line = (row) => `${row.slice(0, 4).map((c, i) => c.padEnd(widths[i])).join('  ')}  ${row[4]}`;
  const m = report.machine;
  const head = [
    '',
    `bpbroker bench, ${report.mode} mode, ${report.date}`,
    `machine: ${m.cpus} × ${m.cpuModel}, ${m.memoryGb} GB, Linux ${m.kernel}, Node ${m.node}, etcd ${m.etcd ?? 'not installed'}`,
    `load generator, broker and baselines share the ${m.cpus} cores; medians of ${report.config.rounds} round(s) of ${report.config.roundMs} ms after ${report.config.warmMs} ms warm-up`,
    '',
  ];
  return `${[...head, line(rows[0]), ...rows.slice(1).map(line)].join('\n')}\n\n`;
}
