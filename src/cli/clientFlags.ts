import { Flags, type Command } from '@oclif/core';
import { ClientFailure, type ClientContext } from '../client/bpclient.js';
import { OUTPUT_FORMATS, type OutputFormat } from '../client/output.js';
import { fatal } from './fatal.js';
import { interruptSignal } from './interrupt.js';

/**
 * Flags every bpclient command takes. Old scripts put them before the command
 * (`bpclient --bpbroker H:P --access-key K service get --name N`); bin/bpclient.js moves them behind it.
 */
export const clientFlags = {
  bpbroker: Flags.string({
    char: 'b',
    summary: 'Broker address, HOST:PORT (port defaults to 20443).',
    description: 'Find one with `bpclient discover --name NAME`.',
    env: 'BPBROKER',
    helpGroup: 'GLOBAL',
  }),
  'access-key': Flags.string({
    char: 'a',
    summary: "Access key of the namespace called (its `_access_key` in the broker's configuration).",
    helpGroup: 'GLOBAL',
  }),
  format: Flags.string({
    char: 'f',
    summary: 'Output format.',
    options: [...OUTPUT_FORMATS],
    default: 'text',
    helpGroup: 'GLOBAL',
  }),
  cols: Flags.string({
    summary: 'Columns of the entry to print (text, json and csv formats).',
    multiple: true,
    helpGroup: 'GLOBAL',
  }),
  grpc: Flags.boolean({
    summary: 'Talk gRPC instead of the legacy HTTPS API (same port).',
    helpGroup: 'GLOBAL',
  }),
  ca: Flags.string({
    summary: "PEM file of the CA (or the broker's certificate) to verify the broker against.",
    description: 'Without it the certificate is not verified, as with the old client.',
    helpGroup: 'GLOBAL',
  }),
};

export const rawFlag = {
  raw: Flags.boolean({ summary: "Print the broker's whole JSON response." }),
};

/** `--name`, which every `service` command takes. */
export const nameFlag = {
  name: Flags.string({ char: 'n', summary: 'Entry name (case-sensitive).' }),
};

/** `--data`, which the writing `service` commands take. */
export const dataFlag = {
  data: Flags.string({ char: 'd', summary: 'The data: a JSON object is stored as its members, anything else as text (`_str`).' }),
};

/** `--ttl`, which register, replace and update take. */
export const ttlFlag = {
  ttl: Flags.string({
    summary: 'Lease in seconds (1 to 86400): the entry is deleted when that long passes without a renewal.',
    description: 'Renew it with `service keepalive`. 0 removes the lease; without --ttl a write keeps the lease the entry has.',
  }),
};

/** `--if-revision`, which replace, update and delete take. */
export const ifRevisionFlag = {
  'if-revision': Flags.string({
    summary: "Write only if the entry is at this revision (0: only if it does not exist).",
    description:
      "Compare-and-swap: the entry's revision is `revision` in the --raw answer of get or of a write. Otherwise fails with " +
      '`Fatal error: Revision mismatch: NAME is at revision M` (M is 0 when the entry does not exist) and exit status 1.',
  }),
};

/** Examples shared by register, replace and update. */
export const writeExamples = [
  '<%= config.bin %> --bpbroker 10.0.0.5:20443 <%= command.id %> --name web-1 --data x',
  `<%= config.bin %> --bpbroker $IP:20443 --access-key "$KEY" <%= command.id %> --name web-1 --data '{"ip": "10.0.0.7"}'`,
  '<%= config.bin %> <%= command.id %> --name web-1 --data x --ttl 10',
];

/** Examples of replace and update, which also take --if-revision. */
export const casWriteExamples = [
  ...writeExamples,
  `<%= config.bin %> <%= command.id %> --name config --data '{"v": 2}' --if-revision 41`,
];

interface ClientFlagValues {
  bpbroker?: string | undefined;
  'access-key'?: string | undefined;
  format: string;
  cols?: string[] | undefined;
  grpc: boolean;
  ca?: string | undefined;
}

export function clientContext(flags: ClientFlagValues): ClientContext {
  return { bpbroker: flags.bpbroker, accessKey: flags['access-key'], format: flags.format as OutputFormat, cols: flags.cols, grpc: flags.grpc, ca: flags.ca };
}

/** Prints what a client action returns; its known failures as `Fatal error: MESSAGE`, exit 1. */
export async function printResult(cmd: Command, action: Promise<string>): Promise<void> {
  let text: string;
  try {
    text = await action;
  } catch (err) {
    if (err instanceof ClientFailure) return fatal(cmd, err.message);
    throw err;
  }
  if (text !== '') process.stdout.write(text);
}

/**
 * Runs a command that goes on until interrupted: SIGINT and SIGTERM end it cleanly (exit 0); its known
 * failures print as `Fatal error: MESSAGE`, exit 1.
 */
export async function runUntilInterrupted(cmd: Command, action: (signal: AbortSignal) => Promise<void>): Promise<void> {
  const interrupt = interruptSignal();
  try {
    await action(interrupt.signal);
  } catch (err) {
    if (err instanceof ClientFailure) return fatal(cmd, err.message);
    throw err;
  } finally {
    interrupt.dispose();
  }
}

/**
 * A seconds option as typed (`--wait 1.5`): undefined when not given; `Invalid --NAME 'TEXT': expected a number of
 * seconds` when it is not a finite number, or is 0 where `positive` asks for more.
 */
export function secondsOption(flag: string, text: string | undefined, opts: { positive?: boolean } = {}): number | undefined {
  if (text === undefined) return undefined;
  const secs = Number(text);
  if (!Number.isFinite(secs) || secs < 0 || (opts.positive && secs === 0)) throw new ClientFailure(`Invalid --${flag} '${text}': expected a number of seconds`);
  return secs;
}
