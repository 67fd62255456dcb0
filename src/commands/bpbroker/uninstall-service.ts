import { NotAvailableCommand } from '../../cli/notYet.js';

export default class UninstallService extends NotAvailableCommand {
  static override summary = 'Stop the broker service and remove it.';
  static override strict = false;
}
