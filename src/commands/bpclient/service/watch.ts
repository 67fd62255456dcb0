import { Command, Flags } from '@oclif/core';
import { clientContext, clientFlags, runUntilInterrupted, secondsOption } from '../../../cli/clientFlags.js';
import { watchCommand } from '../../../client/watchCommand.js';

export default class ServiceWatch extends Command {
  static override summary = 'Print registry changes as they happen, one line each, until interrupted.';
  static override description =
    'Each line is `TYPE NAME DATA`: TYPE is put, delete or expire (a lease ran out), DATA the entry as `service get` ' +
    'prints it (nothing for delete and expire). With -f json each line is a JSON object with type, name, revision ' +
    'and data. A lost connection (a broker restart) is resumed from the last change printed, so none is missed ' +
    'or repeated; a warning goes to stderr.\n\n' +
    'Exit status: 0 when interrupted (SIGINT, SIGTERM) and after --once printed its changes; 1 with ' +
    '`Fatal error: No change within S seconds` when --wait passed without one, and with `Fatal error: MESSAGE` ' +
    'on any failure (a broker not reachable at the start, a --revision older than the broker keeps).';
  static override examples = [
    '<%= config.bin %> --bpbroker 10.0.0.5:20443 <%= command.id %> --prefix web-',
    '<%= config.bin %> -f json <%= command.id %> --name master --revision 41',
    '<%= config.bin %> <%= command.id %> --name ossec-manager --once --wait 30',
  ];
  static override flags = {
    ...clientFlags,
    name: Flags.string({ char: 'n', summary: 'Watch this entry (case-sensitive).', exactlyOne: ['name', 'prefix'] }),
    prefix: Flags.string({ char: 'p', summary: "Watch every entry whose name starts with this ('' for all).", exactlyOne: ['name', 'prefix'] }),
    revision: Flags.integer({
      char: 'r',
      summary: 'Print the changes after this revision first (default: only changes from now on).',
      description: 'Fails when the broker no longer keeps that revision (it keeps the last registry.history_revisions).',
      min: 0,
    }),
    once: Flags.boolean({ summary: 'Exit after the first batch of changes (all changes the broker had at once).' }),
    wait: Flags.string({
      char: 'w',
      summary: 'With --once: give up after this many seconds without a change (exit status 1).',
      dependsOn: ['once'],
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ServiceWatch);
    await runUntilInterrupted(this, async (signal) => {
      const waitSecs = secondsOption('wait', flags.wait);
      await watchCommand(clientContext(flags), { name: flags.name, prefix: flags.prefix, revision: flags.revision, once: flags.once, waitSecs }, {
        signal,
        out: (text) => process.stdout.write(text),
        warn: (text) => process.stderr.write(`${text}\n`),
      });
    });
  }
}
