import { Command } from '@oclif/core';
import { brokerFlags, homeFrom } from '../../cli/brokerFlags.js';
import { runServiceAction } from '../../cli/serviceCommand.js';
import { installService, type InitSystem } from '../../service/installService.js';
import { serviceFlags } from '../../service/serviceFlags.js';

export default class InstallService extends Command {
  static override summary = 'Register the broker to start at boot (does not start it).';
  static override description =
    'systemd: writes /etc/systemd/system/bpbroker.service (restarts on failure) and enables it. Without systemd: ' +
    'writes /etc/init.d/bpbroker and enables it with update-rc.d or chkconfig. Windows: registers it with nssm. ' +
    'Also creates etc/ and lib/ in the installation folder and saves the configuration there. Safe to run again.';
  static override examples = [
    'sudo <%= config.bin %> <%= command.id %>',
    'sudo <%= config.bin %> <%= command.id %> && sudo systemctl start bpbroker',
    '<%= config.bin %> <%= command.id %> --root /tmp/image --home /tmp/image/usr/local/bpbroker',
    '<%= config.bin %> <%= command.id %> --dry-run',
  ];
  static override flags = { ...brokerFlags, ...serviceFlags };

  async run(): Promise<void> {
    const { flags } = await this.parse(InstallService);
    await runServiceAction(this, flags.json, () =>
      installService({
        home: homeFrom(flags),
        configPath: flags.config,
        root: flags.root,
        init: flags.init as InitSystem | undefined,
        dryRun: flags['dry-run'] || undefined,
      }),
    );
  }
}
