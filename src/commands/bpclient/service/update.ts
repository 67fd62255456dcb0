import { Command } from '@oclif/core';
import { clientContext, clientFlags, printResult, rawFlag, nameFlag, dataFlag, writeExamples } from '../../../cli/clientFlags.js';
import { registryCommand } from '../../../client/bpclient.js';

export default class ServiceUpdate extends Command {
  static override summary = "Create a registry entry, or merge new members into it (new keys win, nested objects are replaced).";
  static override description = "Prints the stored entry, as register does.";
  static override examples = writeExamples;
  static override flags = {
    ...clientFlags,
    ...nameFlag,
    ...dataFlag,
    ...rawFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ServiceUpdate);
    await printResult(this, registryCommand(clientContext(flags), 'update', { name: flags.name, data: flags.data, raw: flags.raw }));
  }
}
