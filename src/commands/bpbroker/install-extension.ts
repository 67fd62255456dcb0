import { NotAvailableCommand } from '../../cli/notYet.js';

export default class InstallExtension extends NotAvailableCommand {
  static override summary = 'Install a custom extension into $BPBROKER_HOME/lib.';
  static override strict = false;
}
