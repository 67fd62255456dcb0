import { Command, Flags } from '@oclif/core';
import { clientContext, clientFlags, printResult, rawFlag, nameFlag, secondsOption } from '../../../cli/clientFlags.js';
import { registryCommand } from '../../../client/bpclient.js';

export default class ServiceGet extends Command {
  static override summary = "Print a registry entry.";
  static override description =
    "The `_str` text for plain-text data, else the data as JSON (written like Python's json.dumps). Fails with `Fatal error: Entry 'NAME' not found`.\n\n" +
    'With --wait S, an absent entry is waited for: printed as soon as it is written, or `Fatal error: Entry ' +
    "'NAME' not found within S seconds` (exit status 1). No write is missed between the read and the wait: the " +
    'wait is set up first.';
  static override examples = [
    '<%= config.bin %> --bpbroker 10.0.0.5:20443 <%= command.id %> --name web-1',
    '<%= config.bin %> --format csv --cols ip port <%= command.id %> --name web-1',
    {
      description: 'Wait until ossec-manager is registered (at once when it already is), even before its broker is up:',
      command: 'until <%= config.bin %> <%= command.id %> --name ossec-manager --wait 30 >/dev/null 2>&1; do sleep 1; done',
    },
  ];
  static override flags = {
    ...clientFlags,
    ...nameFlag,
    ...rawFlag,
    wait: Flags.string({ char: 'w', summary: 'Wait up to this many seconds for the entry to be written when it is absent.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ServiceGet);
    const get = async (): Promise<string> => {
      const waitSecs = secondsOption('wait', flags.wait);
      return registryCommand(clientContext(flags), 'get', { name: flags.name, raw: flags.raw, waitSecs });
    };
    await printResult(this, get());
  }
}
