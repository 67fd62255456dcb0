import { Command, Flags } from '@oclif/core';
import { clientFlags, secondsOption } from '../../cli/clientFlags.js';
import { fatal } from '../../cli/fatal.js';
import { ClientFailure, discoverCommand } from '../../client/bpclient.js';

export default class Discover extends Command {
  static override summary = 'Find the broker that holds NAME in its registry, by UDP broadcast; print its IP.';
  static override description =
    'Broadcasts NAME to 255.255.255.255:20443 (or sends it to --address) and prints the IP of the first broker ' +
    'that answers. With --all it waits the whole --timeout, prints every broker that answers, and warns on ' +
    'stderr when more than one does (a split brain: give each cluster a unique name).';
  static override examples = [
    '<%= config.bin %> <%= command.id %> --name foo-cluster1',
    'IP=$(<%= config.bin %> <%= command.id %> --name foo-cluster1) && <%= config.bin %> --bpbroker $IP:20443 ping',
    '<%= config.bin %> <%= command.id %> --name foo-cluster1 --all --timeout 5',
    '<%= config.bin %> <%= command.id %> --name foo-cluster1 --address 10.0.0.5',
  ];
  static override flags = {
    ...clientFlags,
    name: Flags.string({ char: 'n', summary: 'Registry entry the broker must hold.', required: true }),
    timeout: Flags.string({ char: 't', summary: 'Seconds to wait for answers.', default: '3' }),
    all: Flags.boolean({ summary: 'List every broker that answers (waits the whole timeout).' }),
    address: Flags.string({
      summary: 'Send to this HOST[:PORT] instead of broadcasting (repeatable).',
      multiple: true,
      multipleNonGreedy: true,
    }),
    port: Flags.integer({ summary: 'UDP port of the brokers.', default: 20443, min: 1, max: 65535 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Discover);
    try {
      const timeoutSecs = secondsOption('timeout', flags.timeout, { positive: true });
      const { stdout, warning } = await discoverCommand({ name: flags.name, address: flags.address, port: flags.port, timeoutSecs, all: flags.all });
      if (warning) process.stderr.write(`${warning}\n`);
      process.stdout.write(stdout);
    } catch (err) {
      if (err instanceof ClientFailure) return fatal(this, err.message);
      throw err;
    }
  }
}
