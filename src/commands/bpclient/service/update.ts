import { Command } from '@oclif/core';
import { clientContext, clientFlags, printResult, rawFlag, nameFlag, dataFlag, casWriteExamples, ttlFlag, ifRevisionFlag } from '../../../cli/clientFlags.js';
import { registryCommand } from '../../../client/bpclient.js';

export default class ServiceUpdate extends Command {
  static override summary = "Create a registry entry, or merge new members into it (new keys win, nested objects are replaced).";
  static override description = "Prints the stored entry, as register does.";
  static override examples = casWriteExamples;
  static override flags = {
    ...clientFlags,
    ...nameFlag,
    ...dataFlag,
    ...ttlFlag,
    ...ifRevisionFlag,
    ...rawFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ServiceUpdate);
    await printResult(this, registryCommand(clientContext(flags), 'update', { name: flags.name, data: flags.data, raw: flags.raw, ttl: flags.ttl, ifRevision: flags['if-revision'] }));
  }
}
