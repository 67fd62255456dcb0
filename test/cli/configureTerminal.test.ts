/**
 * `bpbroker configure` typed at a terminal (a real pseudo-terminal, from util-linux `script`): it says what it
 * expects and reads until end of input (Ctrl-D). A --config-file that does not exist is a clear error.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { track } from '../helpers/children.js';
import { BPBROKER, removeDir, runCli, tempDir } from '../helpers/broker.js';

describe('bpbroker configure', () => {
  it('at a terminal: a prompt, then the JSON typed up to Ctrl-D is applied', async () => {
    const home = tempDir();
    try {
      // `script` gives the command a terminal as standard input; Ctrl-D (\x04) on a new line ends the input.
      const proc = track(
        spawn('script', ['-qefc', `${process.execPath} ${BPBROKER} configure`, '/dev/null'], { env: { ...process.env, BPBROKER_HOME: home }, stdio: ['pipe', 'pipe', 'pipe'] }),
      );
      let out = '';
      proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
      proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const code = await new Promise<number | null>((resolve, reject) => {
        proc.once('error', (err) => reject(new Error(`util-linux script (package bsdutils) is needed: ${err.message}`)));
        proc.once('close', resolve);
        proc.stdin.write('{"typed": {"_access_key": ""}}\n\x04');
      });
      proc.stdin.end();
      expect(out).toContain('Type the configuration to add as JSON, then Ctrl-D on a new line to apply it (or pass --config-file FILE):');
      expect(out).toContain('Applied (1): typed');
      expect(out).not.toContain('EAGAIN');
      expect(code, out).toBe(0);
    } finally {
      removeDir(home);
    }
  });

  it('--config-file of a missing file is a clear error', async () => {
    const home = tempDir();
    try {
      const missing = join(home, 'nosuch.json');
      expect(await runCli(BPBROKER, ['configure', '--config-file', missing], { env: { BPBROKER_HOME: home } })).toEqual({
        code: 1,
        stdout: '',
        stderr: `Fatal error: Cannot read ${missing}: no such file\n`,
      });
    } finally {
      removeDir(home);
    }
  });
});
