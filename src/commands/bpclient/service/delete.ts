import { Command } from '@oclif/core';
import { clientContext, clientFlags, printResult, rawFlag, nameFlag, ifRevisionFlag } from '../../../cli/clientFlags.js';
import { registryCommand } from '../../../client/bpclient.js';

export default class ServiceDelete extends Command {
  static override summary = "Remove a registry entry (succeeds whether or not it existed); prints nothing.";
  static override description = "With --raw, prints the broker's answer.";
  static override examples = [
    '<%= config.bin %> --bpbroker 10.0.0.5:20443 <%= command.id %> --name web-1',
    '<%= config.bin %> <%= command.id %> --name master --if-revision 42',
  ];
  static override flags = {
    ...clientFlags,
    ...nameFlag,
    ...ifRevisionFlag,
    ...rawFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ServiceDelete);
    await printResult(this, registryCommand(clientContext(flags), 'delete', { name: flags.name, raw: flags.raw, ifRevision: flags['if-revision'] }));
  }
}
