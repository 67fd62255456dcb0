import { Command, Flags } from '@oclif/core';
import { clientContext, clientFlags, printResult, rawFlag } from '../../../cli/clientFlags.js';
import { registryCommand } from '../../../client/bpclient.js';

export default class ServiceUpdate extends Command {
  static override summary = "Create a registry entry, or merge new members into it (new keys win, nested objects are replaced).";
  static override description = "Prints the stored entry, as register does.";
  static override examples = [
    '<%= config.bin %> --bpbroker 10.0.0.5:20443 <%= command.id %> --name web-1 --data x',
    `<%= config.bin %> --bpbroker $IP:20443 --access-key "$KEY" <%= command.id %> --name web-1 --data '{"ip": "10.0.0.7"}'`,
  ];
  static override flags = {
    ...clientFlags,
    name: Flags.string({ char: 'n', summary: 'Entry name (case-sensitive).' }),
    data: Flags.string({ char: 'd', summary: 'The data: a JSON object is stored as its members, anything else as text (`_str`).' }),
    ...rawFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ServiceUpdate);
    await printResult(this, registryCommand(clientContext(flags), 'update', { name: flags.name, data: flags.data, raw: flags.raw }));
  }
}
