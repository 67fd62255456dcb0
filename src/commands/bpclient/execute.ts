import { Command, Flags } from '@oclif/core';
import { clientContext, clientFlags, printResult } from '../../cli/clientFlags.js';
import { executeCommand } from '../../client/bpclient.js';

export default class Execute extends Command {
  static override summary = "Call an extension's method on the broker and print its response body.";
  static override description =
    'The extension must be enabled in the broker\'s configuration. A status other than 200 fails with `Fatal error: Response Error STATUS (REASON)`, REASON being the broker\'s reason phrase.';
  static override examples = [
    '<%= config.bin %> --bpbroker $IP:20443 --access-key "$KEY" <%= command.id %> --method ossec.AddAgent --data $HOSTNAME',
    '<%= config.bin %> <%= command.id %> --method myext.Echo --data x --param mode=fast',
  ];
  static override flags = {
    ...clientFlags,
    method: Flags.string({ char: 'm', summary: 'NAMESPACE.Method to call, e.g. ossec.AddAgent.', required: true }),
    data: Flags.string({ char: 'd', summary: 'The `data` parameter passed to the method.' }),
    param: Flags.string({ summary: 'Another parameter for the method, NAME=VALUE (repeatable).', multiple: true, multipleNonGreedy: true }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Execute);
    const params: Record<string, string> = {};
    for (const p of flags.param ?? []) {
      const eq = p.indexOf('=');
      if (eq <= 0) this.error(`Invalid --param '${p}': expected NAME=VALUE`, { exit: 1 });
      params[p.slice(0, eq)] = p.slice(eq + 1);
    }
    await printResult(this, executeCommand(clientContext(flags), { method: flags.method, data: flags.data, params }));
  }
}
