import { Command } from '@oclif/core';
import { brokerFlags } from '../../cli/brokerFlags.js';
import { fatal, userMessage } from '../../cli/fatal.js';
import { brokerHome } from '../../config/paths.js';
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
    try {
      const report = await uninstallService({
        home: flags.home ?? brokerHome(),
        root: flags.root,
        init: flags.init as InitSystem | undefined,
        dryRun: flags['dry-run'] || undefined,
      });
      if (flags.json) this.log(JSON.stringify(report, null, 2));
      else for (const step of report.steps) this.log(step);
    } catch (err) {
      const message = userMessage(err);
      if (message === undefined) throw err;
      return fatal(this, (err as NodeJS.ErrnoException).code === 'EACCES' ? `${message} (run it as root)` : message);
    }
  }
}
