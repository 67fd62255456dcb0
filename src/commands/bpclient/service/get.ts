import { Command } from '@oclif/core';
import { clientContext, clientFlags, printResult, rawFlag, nameFlag } from '../../../cli/clientFlags.js';
import { registryCommand } from '../../../client/bpclient.js';

export default class ServiceGet extends Command {
  static override summary = "Print a registry entry.";
  static override description = "The `_str` text for plain-text data, else the data as JSON (written like Python's json.dumps). Fails with `Fatal error: Entry 'NAME' not found`.";
  static override examples = [
    '<%= config.bin %> --bpbroker 10.0.0.5:20443 <%= command.id %> --name web-1',
    '<%= config.bin %> --format csv --cols ip port <%= command.id %> --name web-1',
  ];
  static override flags = {
    ...clientFlags,
    ...nameFlag,
    ...rawFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ServiceGet);
    await printResult(this, registryCommand(clientContext(flags), 'get', { name: flags.name, raw: flags.raw }));
  }
}
