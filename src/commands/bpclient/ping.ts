import { Command, Flags } from '@oclif/core';
import { clientContext, clientFlags, printResult, rawFlag } from '../../cli/clientFlags.js';
import { pingCommand } from '../../client/bpclient.js';

export default class Ping extends Command {
  static override summary = 'Check end-to-end connectivity: the broker echoes --data back.';
  static override description = 'Prints the echoed data; with --raw the whole answer, which also holds the address the broker sees you as (`src`).';
  static override examples = [
    '<%= config.bin %> --bpbroker 10.0.0.5:20443 <%= command.id %> --data hello',
    '<%= config.bin %> <%= command.id %> --data \'{"a": 1}\' --raw',
  ];
  static override flags = {
    ...clientFlags,
    data: Flags.string({ char: 'd', summary: 'Value to echo (JSON, or plain text).' }),
    ...rawFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Ping);
    await printResult(this, pingCommand(clientContext(flags), { data: flags.data, raw: flags.raw }));
  }
}
