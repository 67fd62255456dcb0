import { Command, Flags } from '@oclif/core';
import { clientContext, clientFlags, nameFlag, rawFlag, runUntilInterrupted, secondsOption } from '../../../cli/clientFlags.js';
import { keepaliveCommand } from '../../../client/keepaliveCommand.js';

export default class ServiceKeepalive extends Command {
  static override summary = "Renew an entry's lease (given by --ttl on a write): once, or every --every seconds.";
  static override description =
    'Prints the entry as `service get` does, after the first renewal. Fails with ' +
    "`Fatal error: Entry 'NAME' not found` when the entry is absent or holds no lease.\n\n" +
    'With --every it goes on renewing until interrupted (SIGINT, SIGTERM: exit status 0; the lease then runs out ' +
    'after its TTL unless renewed). When the lease is lost (the entry deleted, expired, or written without a ' +
    'lease, or created again by another writer over --grpc, or no renewal reaching the broker for a whole TTL) it ' +
    'exits with status 1 and `Fatal error: Lease on NAME lost: REASON`.';
  static override examples = [
    '<%= config.bin %> --bpbroker 10.0.0.5:20443 <%= command.id %> --name web-1',
    '<%= config.bin %> service register --name master --data "$(hostname)" --ttl 10 && <%= config.bin %> <%= command.id %> --name master --every 3',
  ];
  static override flags = {
    ...clientFlags,
    ...nameFlag,
    every: Flags.string({
      char: 'e',
      summary: 'Renew every this many seconds until interrupted (well under the TTL: a third of it is usual).',
    }),
    ...rawFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ServiceKeepalive);
    await runUntilInterrupted(this, async (signal) => {
      const everySecs = secondsOption('every', flags.every, { positive: true });
      await keepaliveCommand(clientContext(flags), { name: flags.name, everySecs, raw: flags.raw }, { signal, out: (text) => process.stdout.write(text) });
    });
  }
}
