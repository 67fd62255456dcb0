// Self time of a .cpuprofile by function and by file: the first look at where a process spends its CPU.
import { readFileSync } from 'node:fs';

export function summarizeProfile(file, { functions = 35, files = 25 } = {}) {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  const dt = new Map();
  for (let i = 0; i < prof.samples.length; i++) dt.set(prof.samples[i], (dt.get(prof.samples[i]) ?? 0) + (prof.timeDeltas[i] ?? 0));
  const self = new Map();
  const byFile = new Map();
  let total = 0;
  for (const node of prof.nodes) {
    const t = (dt.get(node.id) ?? 0) / 1000;
    if (!t) continue;
    total += t;
    const cf = node.callFrame;
    const where = cf.url.replace(/^file:\/\//, '').replace(/.*node_modules\//, 'nm/').replace(/.*\/dist\//, 'dist/');
    const key = `${cf.functionName || '(anonymous)'} ${where}:${cf.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + t);
    const f = where || `(${cf.functionName})`;
    byFile.set(f, (byFile.get(f) ?? 0) + t);
  }
  const top = (m, k) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, k)
      .map(([name, t]) => `${((100 * t) / total).toFixed(1).padStart(5)}%  ${name}`)
      .join('\n');
  return `self time by function (total ${Math.round(total)} ms):\n${top(self, functions)}\n\nby file:\n${top(byFile, files)}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(summarizeProfile(process.argv[2]));
