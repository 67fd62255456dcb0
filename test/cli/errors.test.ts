/** oclif's own errors and ours read alike: `Fatal error: MESSAGE` on one line, no stack, no `› Error:`. */
import { describe, expect, it } from 'vitest';
import { BPBROKER, BPCLIENT, runCli } from '../helpers/broker.js';

describe('CLI errors', () => {
  it('a command line that does not parse exits 2, a failure 1, both as Fatal error: MESSAGE', async () => {
    const [badValue, unknownOption, unknownCommand, badParam, missingArg] = await Promise.all([
      runCli(BPBROKER, ['start', '--port', 'abc']),
      runCli(BPCLIENT, ['--bogus', 'ping']),
      runCli(BPBROKER, ['frob']),
      runCli(BPCLIENT, ['execute', '--method', 'ping.Ping', '--param', 'no-equals-sign']),
      runCli(BPBROKER, ['extension', 'new']),
    ]);
    expect(badValue).toEqual({ code: 2, stdout: '', stderr: 'Fatal error: Parsing --port: Expected an integer but received: abc (see --help)\n' });
    expect(unknownOption).toEqual({ code: 2, stdout: '', stderr: 'Fatal error: Unknown option --bogus (see --help)\n' });
    expect(unknownCommand).toEqual({ code: 2, stdout: '', stderr: 'Fatal error: command frob not found\n' });
    // An error a command raises through oclif (this.error) reads as every other failure of ours.
    expect(missingArg).toEqual({ code: 2, stdout: '', stderr: 'Fatal error: Missing 1 required arg: name (The namespace: clients call NAME.Method.) (see --help)\n' });
    expect(badParam).toEqual({ code: 1, stdout: '', stderr: "Fatal error: Invalid --param 'no-equals-sign': expected NAME=VALUE\n" });
  });
});
