import { Command } from '@oclif/core';
import { brokerFlags, homeFrom } from '../../cli/brokerFlags.js';
import { runServiceAction } from '../../cli/serviceCommand.js';
import { uninstallService, type InitSystem } from '../../service/installService.js';
import { serviceFlags } from '../../service/serviceFlags.js';

export default class UninstallService extends Command {
  static override summary = 'Stop the broker service and remove it.';
  static override description =
    'Stops it, disables it and removes its unit file or init script (or its nssm registration on Windows). ' +
    'The configuration and registry stay. Nothing installed is not an error.';
  static override examples = ['sudo <%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --root /tmp/image'];
  static override flags = { ...brokerFlags, ...serviceFlags };

  async run(): Promise<void> {
    const { flags } = await this.parse(UninstallService);
    await runServiceAction(this, flags.json, () =>
      uninstallService({
        home: homeFrom(flags),
        root: flags.root,
        init: flags.init as InitSystem | undefined,
        dryRun: flags['dry-run'] || undefined,
      }),
    );
  }
}
