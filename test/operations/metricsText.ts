/**
 * The value of one sample in Prometheus text: the line of `name` whose labels include all of `labels`
 * (exactly those when `labels` is empty and the sample has none); 0 when there is no such line yet.
 */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = m[2] === undefined ? [] : m[2].split(/,(?=[a-zA-Z_]\w*=")/);
    if (wanted.every((w) => have.includes(w)) && (wanted.length > 0 || have.length === 0)) return Number(m[3]);
  }
  return 0;
}
