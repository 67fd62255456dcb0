/**
 * A registry larger than any string or Buffer Node can hold (issue: 560 entries of 1 MB were accepted, then
 * `start` failed forever with "Cannot create a string longer than 0x1fffffe8 characters"). bpbroker.json,
 * backups, restore and configure are read and written a piece at a time, so a registry of more than 1 GiB
 * stops and starts again.
 */
import { closeSync, mkdirSync, openSync, readFileSync, readSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BPBROKER, removeDir, runCli, startBroker, tempDir, type RunningBroker } from '../helpers/broker.js';
import { call, qs } from '../helpers/https.js';
import { report, runs } from './soak.js';

const GiB = 1024 ** 3;
const ENTRIES = 1100;
const PAD = 1_000_000;
const name = (i: number) => `big-${String(i).padStart(5, '0')}`;
/** What each entry holds besides its padding: numbers a JavaScript number would change. */
const numbers = (i: number) => `"i":${i},"f":1.0,"id":12345678901234567890,"e":1e3`;

/** Writes an old broker's bpbroker.json (indented by four spaces, no revisions) of more than 1 GiB, a piece at a time. */
function writeOldFormat(path: string): void {
  const fd = openSync(path, 'w');
  try {
    const pad = Buffer.alloc(PAD, 'x');
    writeSync(fd, '{\n    "services": {\n        "_access_key": "",\n');
    for (let i = 0; i < ENTRIES; i++) {
      writeSync(fd, `        "${name(i)}": {\n            ${numbers(i).replaceAll(',', ',\n            ').replaceAll(':', ': ')},\n            "pad": "`);
      writeSync(fd, pad);
      writeSync(fd, `",\n            "last_write_ip": "10.0.0.1",\n            "last_write_ts": 1700000000\n        }${i < ENTRIES - 1 ? ',' : ''}\n`);
    }
    writeSync(fd, '    }\n}\n');
  } finally {
    closeSync(fd);
  }
}

/** A bpbroker command at a terminal: its output (standard output and error, as a terminal shows them) and exit status. */
function atTerminal(args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const proc = spawn('script', ['-qefc', [process.execPath, BPBROKER, ...args].join(' '), '/dev/null'], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (output += d.toString()));
  return new Promise((resolve, reject) => {
    proc.once('error', (err) => reject(new Error(`util-linux script (package bsdutils) is needed: ${err.message}`)));
    proc.once('close', (code) => {
      proc.stdin.end();
      resolve({ code, output });
    });
  });
}

/** The first or last bytes of a file (the whole of one is more than a string can hold). */
function part(path: string, bytes: number, from: 'head' | 'tail'): string {
  const buf = Buffer.alloc(bytes);
  const fd = openSync(path, 'r');
  try {
    const at = from === 'head' ? 0 : Math.max(0, statSync(path).size - bytes);
    return buf.subarray(0, readSync(fd, buf, 0, bytes, at)).toString('utf8');
  } finally {
    closeSync(fd);
  }
}
const has = (path: string, from: 'head' | 'tail', text: string) => part(path, 4 << 20, from).includes(text);

/** Peak resident memory of a running process, MB. */
function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Math.round(Number(m![1]) / 1024);
}

const running = new Set<RunningBroker>();
async function started(home: string): Promise<{ b: RunningBroker; ms: number; rssMb: number }> {
  const t = performance.now();
  // A start that converts an old layout also writes the file back (1 GiB) before it is ready.
  const b = await startBroker({ home, readyTimeoutMs: 180_000 });
  running.add(b);
  return { b, ms: Math.round(performance.now() - t), rssMb: peakRssMb(b.proc.pid!) };
}

const present = async (port: number, n: string) => (await call(port, `/services/Get/?${qs({ name: n })}`)).json?.success === true;

async function expectEntries(port: number, names: string[]): Promise<void> {
  for (const n of names) {
    const r = await call(port, `/services/Get/?${qs({ name: n })}`);
    expect(r.json?.success, n).toBe(true);
    if (n.startsWith('big-')) {
      // Every number exactly as written, the padding whole.
      expect(r.text.startsWith(`{"success":true,"message":"Success","data":{${numbers(Number(n.slice(4)))},"pad":"xxx`), n).toBe(true);
      expect(r.json.data.pad.length).toBe(PAD);
    }
  }
}

describe('a registry of more than 1 GiB', () => {
  it('is imported by configure, stops and starts, is configured, backed up and restored', async () => {
    const dir = tempDir('bpbroker-big-');
    const home = join(dir, 'home');
    const env = { BPBROKER_HOME: home };
    const config = join(home, 'etc', 'bpbroker.json');
    const some = [name(0), name(1), name(ENTRIES / 2), name(ENTRIES - 1)];
    try {
      const input = join(dir, 'old-bpbroker.json');
      writeOldFormat(input);
      expect(statSync(input).size).toBeGreaterThan(GiB);

      // The registry budget is for new writes: lifted here so that one more can be written to a registry this
      // big (a file of any size loads whatever the budget).
      mkdirSync(join(home, 'etc'), { recursive: true });
      writeFileSync(config, '{"api": {"max_registry_bytes": 1099511627776}}');
      // An old broker's whole file through configure: read a value at a time, written in the broker's layout.
      // At a terminal (a pseudo-terminal from util-linux `script`), so its progress bar is drawn as it reads.
      const imported = await atTerminal(['configure', '--config-file', input], env);
      expect(imported.code, imported.output).toBe(0);
      // biome-ignore lint/suspicious/noControlCharactersInRegex: the terminal's escape that redraws the bar
      expect(imported.output).toMatch(/\r\x1b\[2KReading .*old-bpbroker\.json \[#+\.*\] \d+% /);
      expect(imported.output).toContain('100% 1.');
      expect(imported.output).toContain('Configuration saved to');
      expect(statSync(config).size).toBeGreaterThan(GiB);
      expect(has(config, 'head', `"${name(0)}": {${numbers(0)},"pad":"xxx`)).toBe(true);

      const first = await started(home);
      await expectEntries(first.b.port, [...some, 'missing'].slice(0, -1));
      expect((await call(first.b.port, `/services/Register/?${qs({ name: 'added', data: '{"n": 1}' })}`)).json.success).toBe(true);
      expect(await first.b.stop('SIGINT')).toBe(0);

      const cycles = runs(1, 3);
      let slowest = 0;
      let peak = 0;
      for (let c = 0; c < cycles; c++) {
        const again = await started(home);
        slowest = Math.max(slowest, again.ms);
        peak = Math.max(peak, again.rssMb);
        await expectEntries(again.b.port, [...some, 'added']);
        expect(await again.b.stop('SIGINT')).toBe(0);
      }
      console.log(`1 GiB registry: start-up ${slowest} ms, peak RSS at ready ${peak} MB`);
      report({ suite: 'big-registry', cycles, rssPeakMb: peak });

      // configure on the big registry: adds a section, keeps every entry.
      const configured = await runCli(BPBROKER, ['configure'], { env, input: '{"ossec": {"_access_key": "k"}}' });
      expect(configured.stderr).toBe('');
      expect(configured.code).toBe(0);
      expect(has(config, 'tail', '"ossec": {')).toBe(true);

      // Restore the old broker's file: validated while streaming, the current state saved as a backup (a
      // streamed copy), then the file replaced by a copy of it.
      const restored = await runCli(BPBROKER, ['backup', 'restore', '--from', input, '--json'], { env });
      expect(restored.stderr).toBe('');
      expect(restored.code).toBe(0);
      const saved = JSON.parse(restored.stdout).savedCurrent as string;
      expect(has(saved, 'tail', '"ossec": {')).toBe(true);
      expect(statSync(saved).size).toBeGreaterThan(GiB);

      // The broker starts on the old layout too (and writes it back in its own).
      const last = await started(home);
      await expectEntries(last.b.port, some);
      expect(await present(last.b.port, 'added')).toBe(false);
      expect(await last.b.stop('SIGINT')).toBe(0);
      expect(has(config, 'head', `"${name(0)}": {${numbers(0)},"pad":"xxx`)).toBe(true);
    } finally {
      for (const b of running) await b.stop('SIGKILL');
      removeDir(dir);
    }
  }, 600_000);
});
