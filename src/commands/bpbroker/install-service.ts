import { NotAvailableCommand } from '../../cli/notYet.js';

export default class InstallService extends NotAvailableCommand {
  static override summary = 'Register the broker to start at boot (does not start it).';
  static override strict = false;
}
