import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Command, Flags } from '@oclif/core';
import { brokerFlags, homeFrom } from '../../cli/brokerFlags.js';
import { brokerFailure } from '../../cli/fatal.js';
import { progressBar } from '../../cli/progressBar.js';
import { configure } from '../../app/configure.js';

export default class Configure extends Command {
  static override summary = 'Apply additional configuration to the broker (strictly additive).';
  static override description =
    'Only values the file does not have yet are applied; existing values and registry entries stay untouched, ' +
    'so it is safe to run many times. Reads JSON from --config-file or standard input. ' +
    'While a broker runs with the same file, settings are handed to it and take effect on its next call; settings it ' +
    'reads only at start (api, grpc, worker...) and registry entries are refused then: stop the service, configure, start it.';
  static override examples = [
    '<%= config.bin %> <%= command.id %> --config-file ossec.json',
    `<%= config.bin %> <%= command.id %> <<HERE\n{"services": {"_access_key": "secret"}}\nHERE`,
  ];
  static override flags = {
    ...brokerFlags,
    'config-file': Flags.string({ summary: 'JSON file to import (default: standard input).' }),
    json: Flags.boolean({ summary: 'Print what was applied as JSON.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Configure);
    // Standard input may be a whole registry: it goes to a private temp file, which is read a value at a time.
    const stdinDir = flags['config-file'] === undefined ? mkdtempSync(join(tmpdir(), 'bpbroker-configure-')) : undefined;
    try {
      const inputName = flags['config-file'] ?? 'standard input';
      let path = flags['config-file'];
      if (stdinDir) {
        path = join(stdinDir, 'input.json');
        // At a terminal nothing says input is awaited: say what, and how to end it.
        if (process.stdin.isTTY) process.stderr.write('Type the configuration to add as JSON, then Ctrl-D on a new line to apply it (or pass --config-file FILE):\n');
        await pipeline(process.stdin, createWriteStream(path, { mode: 0o600 }));
      }
      const progress = progressBar();
      const result = await configure({ home: homeFrom(flags), configPath: flags.config, input: { path: path! }, inputName, progress }).finally(() =>
        progress.end(),
      );
      if (flags.json) {
        this.log(JSON.stringify(result, null, 2));
        return;
      }
      this.log(`Configuration saved to ${result.path}`);
      if (result.runningBroker !== undefined) this.log(`The running broker (pid ${result.runningBroker}) applied it: it takes effect on the next call.`);
      this.log(result.applied.length ? `Applied (${result.applied.length}): ${result.applied.join(', ')}` : 'Applied: nothing new');
      if (result.untouched.length) this.log(`Left untouched, already set (${result.untouched.length}): ${result.untouched.join(', ')}`);
    } catch (err) {
      return brokerFailure(this, err, homeFrom(flags));
    } finally {
      if (stdinDir) rmSync(stdinDir, { recursive: true, force: true });
    }
  }
}
