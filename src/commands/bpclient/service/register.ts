import { Command } from '@oclif/core';
import { clientContext, clientFlags, printResult, rawFlag, nameFlag, dataFlag, writeExamples, ttlFlag } from '../../../cli/clientFlags.js';
import { registryCommand } from '../../../client/bpclient.js';

export default class ServiceRegister extends Command {
  static override summary = "Create a registry entry; fails if NAME exists.";
  static override description = "Prints the stored entry (its data plus last_write_ip and last_write_ts): the `_str` text for plain-text data, else the data as JSON.";
  static override examples = writeExamples;
  static override flags = {
    ...clientFlags,
    ...nameFlag,
    ...dataFlag,
    ...ttlFlag,
    ...rawFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ServiceRegister);
    await printResult(this, registryCommand(clientContext(flags), 'register', { name: flags.name, data: flags.data, raw: flags.raw, ttl: flags.ttl }));
  }
}
