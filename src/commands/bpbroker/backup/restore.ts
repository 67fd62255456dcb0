import { Command, Flags } from '@oclif/core';
import { brokerFlags, homeFrom } from '../../../cli/brokerFlags.js';
import { brokerFailure } from '../../../cli/fatal.js';
import { progressBar } from '../../../cli/progressBar.js';
import { restoreBackup } from '../../../app/backups.js';

export default class BackupRestore extends Command {
  static override summary = 'Replace the configuration file (and registry) with a backup; refused while the broker runs.';
  static override description =
    'The backup is validated first. The current state is saved as one more backup, so a restore can be undone. ' +
    'The journal is removed: the restored file supersedes it. Stop the service first, restore, start it.';
  static override examples = [
    '<%= config.bin %> <%= command.id %> --from bpbroker-20250102T030405Z.json',
    '<%= config.bin %> <%= command.id %> --from /usr/local/bpbroker/etc/backups/bpbroker-20250102T030405Z.json',
  ];
  static override flags = {
    ...brokerFlags,
    from: Flags.string({ summary: 'Backup file: a path, or a name listed by `bpbroker backup list`.', required: true }),
    json: Flags.boolean({ summary: 'Print what was done as JSON.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(BackupRestore);
    const progress = progressBar();
    try {
      const r = await restoreBackup({ home: homeFrom(flags), configPath: flags.config, from: flags.from, progress }).finally(() => progress.end());
      if (flags.json) {
        this.log(JSON.stringify(r, null, 2));
        return;
      }
      if (r.savedCurrent) this.log(`Saved the current configuration as ${r.savedCurrent}`);
      this.log(`Restored ${r.path} from ${r.from}`);
      if (r.journalRemoved) this.log('Removed the journal (the restored file supersedes it)');
    } catch (err) {
      return brokerFailure(this, err, homeFrom(flags));
    }
  }
}
