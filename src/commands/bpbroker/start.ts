import { Command, Flags } from '@oclif/core';
import { brokerFlags, homeFrom } from '../../cli/brokerFlags.js';
import { brokerFailure, userMessage } from '../../cli/fatal.js';
import { createLogger, type LogLevel } from '../../log/Logger.js';
import { RecentErrors } from '../../log/RecentErrors.js';
import { BrokerServer } from '../../server/BrokerServer.js';

export default class Start extends Command {
  static override summary = 'Run the broker in the foreground.';
  static override description =
    'Serves the legacy HTTPS API and gRPC on TCP (TLS) and discovery on UDP, all on one port (20443 by default). ' +
    'SIGINT and SIGTERM stop it gracefully: it stops accepting, finishes requests in flight, writes its configuration file and exits 0.';
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --config ./bpbroker.json --port 20443 --listen-ip 10.0.0.5',
    '<%= config.bin %> --config ./bpbroker.json <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --watch ./my-extensions',
  ];
  static override flags = {
    ...brokerFlags,
    port: Flags.integer({ char: 'p', summary: 'TCP and UDP port (overrides api.listen_port; 0 picks a free one).', min: 0, max: 65535 }),
    'listen-ip': Flags.string({ summary: 'Address to listen on (overrides api.listen_ip; empty means all).' }),
    watch: Flags.string({
      summary: 'Also serve extensions from this folder, reloading them on change (repeatable).',
      description: 'For extension authors: edit a file in DIR and the next call runs the new version. DIR wins over an installed extension of the same name in $BPBROKER_HOME/lib (a warning says so), and its namespaces are callable without a configuration section. Implies --dev.',
      multiple: true,
    }),
    dev: Flags.boolean({
      summary: 'Development mode (implied by --watch): a failed extension call answers its stack too.',
      description: 'The stack goes in the error body ("stack") and in the gRPC trailer bpbroker-stack. Never use it in production.',
    }),
    'log-level': Flags.string({
      summary: 'Least severe log level written.',
      description:
        'The log is JSON lines on stderr (pretty-printed when stderr is a terminal). error: failures of the broker; ' +
        'warn: also what it recovered from; info: also start, stop, extension loads and one line per failed request; ' +
        'debug: also one line per request. Access keys and the admin key are never written.',
      options: ['debug', 'info', 'warn', 'error', 'silent'],
      default: 'info',
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Start);
    // The dashboard shows the last warnings and errors, whatever the level of the log itself.
    const recentErrors = new RecentErrors();
    const log = createLogger(flags['log-level'] as LogLevel, undefined, { problems: recentErrors });
    const api: Record<string, unknown> = {};
    if (flags.port !== undefined) api.listen_port = flags.port;
    if (flags['listen-ip'] !== undefined) api.listen_ip = flags['listen-ip'];
    const home = homeFrom(flags);
    let server: BrokerServer;
    try {
      server = await BrokerServer.start({
        home,
        configPath: flags.config,
        overrides: Object.keys(api).length ? { api } : undefined,
        watchDirs: flags.watch,
        dev: flags.dev || (flags.watch?.length ?? 0) > 0,
        log,
        recentErrors,
      });
    } catch (err) {
      return brokerFailure(this, err, home);
    }
    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        log.info(`received ${signal}`);
        server.stop().then(resolve, (err: unknown) => {
          // A stop that could not save the registry says so and exits non-zero.
          process.stderr.write(`Fatal error: ${userMessage(err) ?? (err instanceof Error ? err.message : String(err))}\n`);
          process.exitCode = 1;
          resolve();
        });
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
      // Scripts and tests read this line to learn the port (with --port 0) and that the broker is ready; a
      // signal sent as soon as they read it must find the handlers in place, so it comes after them.
      this.log(`bpbroker ready on port ${server.port} (config ${server.configPath})`);
    });
  }
}
