import { Command } from '@oclif/core';

/** Base of commands whose feature is not available in this version: they say so and exit 1. */
export abstract class NotAvailableCommand extends Command {
  async run(): Promise<void> {
    this.error(`${this.id} is not available yet in this version of bpbroker.`, { exit: 1 });
  }
}
