import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { progressBar } from '../../src/cli/progressBar.js';
import { readConfigFile } from '../../src/config/ConfigFile.js';

/** A stream that keeps what is written to it. */
function sink(isTTY: boolean) {
  const out = {
    isTTY,
    text: '',
    write: (s: string): boolean => {
      out.text += s;
      return true;
    },
  };
  return out as typeof out & NodeJS.WriteStream;
}

describe('progress of long operations', () => {
  afterEach(() => vi.useRealTimers());

  it('at a terminal: a bar redrawn in place, a step per line, nothing for a quick operation', () => {
    vi.useFakeTimers({ now: 0, toFake: ['Date'] });
    const quick = sink(true);
    const q = progressBar(quick);
    q.phase('Reading input', 1000);
    q.advance(1000);
    q.end();
    expect(quick.text).toBe('');

    const out = sink(true);
    const p = progressBar(out);
    p.phase('Checking backup.json', 4 << 20);
    vi.setSystemTime(600);
    p.advance(1 << 20);
    expect(out.text).toContain('\r\x1b[2KChecking backup.json [######..................] 25% 1.00 MiB of 4.00 MiB');
    vi.setSystemTime(650); // within a tick: not redrawn
    p.advance(2 << 20);
    expect(out.text).not.toContain('50%');
    vi.setSystemTime(800);
    p.advance(4 << 20);
    expect(out.text).toContain('100% 4.00 MiB of 4.00 MiB');
    p.phase('Restoring bpbroker.json');
    p.end();
    const lines = out.text.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[1]).toContain('Restoring bpbroker.json...');
    expect(lines[2]).toBe('');
  });

  it('away from a terminal (a log, a script capturing it): nothing, however long it lasts', () => {
    vi.useFakeTimers({ now: 0, toFake: ['Date'] });
    const out = sink(false);
    const p = progressBar(out);
    p.phase('Reading old.json', 100);
    for (let t = 0; t <= 12_000; t += 100) {
      vi.setSystemTime(t);
      p.advance(Math.floor(t / 120));
    }
    p.phase('Writing bpbroker.json');
    p.end();
    expect(out.text).toBe('');
  });

  it('a file read reports its bytes up to its size', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bpbroker-progress-'));
    try {
      const path = join(dir, 'big.json');
      const entries = Object.fromEntries(Array.from({ length: 40_000 }, (_, i) => [`name-${i}`, { i, pad: 'x'.repeat(200) }]));
      writeFileSync(path, JSON.stringify({ services: entries }));
      const seen: number[] = [];
      readConfigFile(path, { onEntry: () => {}, onRead: (n, size) => seen.push(n, size) });
      const size = seen[1]!;
      expect(size).toBeGreaterThan(8 << 20);
      expect(seen.filter((_, i) => i % 2 === 0).at(-1)).toBe(size);
      expect(seen.length / 2).toBeGreaterThan(2); // several chunks, several reports
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
