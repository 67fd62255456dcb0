import type { Command } from '@oclif/core';
import { fatal, userMessage } from './fatal.js';

/** Runs install-service or uninstall-service and prints its steps (or the report as JSON). */
export async function runServiceAction(cmd: Command, json: boolean, action: () => Promise<{ steps: string[] }>): Promise<void> {
  try {
    const report = await action();
    if (json) cmd.log(JSON.stringify(report, null, 2));
    else for (const step of report.steps) cmd.log(step);
  } catch (err) {
    const message = userMessage(err);
    if (message === undefined) throw err;
    return fatal(cmd, (err as NodeJS.ErrnoException).code === 'EACCES' ? `${message} (run it as root)` : message);
  }
}
