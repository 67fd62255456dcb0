import { BPBROKER, BPCLIENT, runCli } from '../helpers/broker.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs bpclient with a clean environment: no BPBROKER unless given. */
export function bpclient(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return runCli(BPCLIENT, args, { env: { BPBROKER: undefined, ...env } });
}

export function bpbroker(args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Promise<CliResult> {
  return runCli(BPBROKER, args, { env, ...(input !== undefined ? { input } : {}) });
}

/** `last_write_ts` changes with the clock: tests compare the rest. */
export function stampsAsTs(text: string): string {
  return text.replace(/"last_write_ts": \d+/g, '"last_write_ts": TS').replace(/(127\.0\.0\.1),\d{9,}/g, '$1,TS');
}
