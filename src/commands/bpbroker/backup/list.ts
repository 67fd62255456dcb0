import { Command, Flags } from '@oclif/core';
import { brokerFlags, homeFrom } from '../../../cli/brokerFlags.js';
import { configPathFrom } from '../../../config/paths.js';
import { backupDirFor, listBackups } from '../../../app/backups.js';

export default class BackupList extends Command {
  static override summary = 'List the backups of the configuration file, newest first.';
  static override description =
    'The running broker copies bpbroker.json to etc/backups/ every _config.backup_freq_secs seconds and keeps the newest _config.backup_retain_n.';
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json'];
  static override flags = {
    ...brokerFlags,
    json: Flags.boolean({ summary: 'Print the list as JSON.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(BackupList);
    const configPath = configPathFrom(homeFrom(flags), flags.config);
    const backups = listBackups(configPath);
    if (flags.json) {
      this.log(JSON.stringify(backups.map((b) => ({ name: b.name, path: b.path, time: b.time.toISOString(), bytes: b.bytes })), null, 2));
      return;
    }
    if (backups.length === 0) {
      this.log(`No backups in ${backupDirFor(configPath)}`);
      return;
    }
    this.log(`Backups of ${configPath} (in ${backupDirFor(configPath)}):`);
    for (const b of backups) this.log(`${b.name}  ${b.time.toISOString()}  ${b.bytes} bytes`);
  }
}
