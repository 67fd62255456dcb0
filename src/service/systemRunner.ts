import { spawn } from 'node:child_process';

export interface RunResult {
  code: number;
  output: string;
}

/** Runs the init system's commands, or (dry run) only records them: tests must never touch the machine's init system. */
export interface SystemRunner {
  readonly dryRun: boolean;
  /** Commands asked for, in order. */
  readonly commands: string[][];
  run(cmd: string[]): Promise<RunResult>;
}

/** A command line as a shell would read it (for printing). */
export function shellLine(cmd: string[]): string {
  return cmd.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

export function createRunner(dryRun: boolean): SystemRunner {
  const commands: string[][] = [];
  return {
    dryRun,
    commands,
    run(cmd) {
      commands.push(cmd);
      if (dryRun) return Promise.resolve({ code: 0, output: '' });
      return new Promise((resolve) => {
        const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
        let output = '';
        child.stdout.on('data', (d: Buffer) => (output += d.toString()));
        child.stderr.on('data', (d: Buffer) => (output += d.toString()));
        child.on('error', (err) => resolve({ code: 127, output: err.message }));
        child.on('close', (code) => resolve({ code: code ?? 1, output }));
      });
    },
  };
}
