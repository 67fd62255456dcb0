import { Command, Flags } from '@oclif/core';
import { openRegistryStore } from '../../../app/openRegistryStore.js';
import { exportRegistry, type TransferSummary } from '../../../app/registryTransfer.js';
import { brokerFlags, homeFrom } from '../../../cli/brokerFlags.js';
import { brokerFailure, fatal } from '../../../cli/fatal.js';
import { progressBar } from '../../../cli/progressBar.js';
import { backendFlag } from '../../../cli/registryFlags.js';
import { commitTemp, writeTemp } from '../../../fs/atomicWrite.js';

export default class RegistryExport extends Command {
  static override summary = 'Write every registry entry to a file (JSON lines), to import into any store.';
  static override description =
    'Exports the whole registry, extensions\' stores included, in name order: a header line, one line per entry ' +
    '(its name, its JSON text exactly as stored, its last writer\'s address and time, its lease TTL if it has one) ' +
    'and an end line. Stop the broker first: the embedded store is refused while a broker runs with the file, and ' +
    'entries written to etcd during an export may or may not be in it. The file replaces --output only once complete. ' +
    'See "Moving a registry between stores" in docs/storage.md.';
  static override examples = [
    { description: 'Export the registry the configuration names, to a file', command: '<%= config.bin %> <%= command.id %> --output registry.jsonl' },
    { description: 'Export the embedded registry (broker stopped), to import into etcd with `bpbroker registry import --backend etcd registry.jsonl`', command: '<%= config.bin %> <%= command.id %> --backend embedded -o registry.jsonl' },
    { description: 'Write to standard output', command: '<%= config.bin %> <%= command.id %> --backend etcd | gzip > registry.jsonl.gz' },
  ];
  static override flags = {
    ...brokerFlags,
    backend: backendFlag,
    output: Flags.string({ char: 'o', summary: 'File to write (standard output by default).', description: 'Written beside its final name and renamed once complete (mode 0600: entries may hold secrets).' }),
    json: Flags.boolean({ summary: 'Print the summary as JSON.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(RegistryExport);
    const home = homeFrom(flags);
    const progress = progressBar();
    try {
      const opened = await openRegistryStore({ home, configPath: flags.config, backend: flags.backend, purpose: 'registry export' });
      let summary: TransferSummary;
      try {
        if (flags.output !== undefined) {
          const output = flags.output;
          let done!: TransferSummary;
          const temp = await writeTemp(output, async (fh) => {
            done = await exportRegistry(opened.store, (text) => fh.writeFile(text), progress);
          });
          await commitTemp(temp, output);
          summary = done;
        } else {
          process.stdout.on('error', () => {}); // a reader that went away: the write that failed says so
          summary = await exportRegistry(opened.store, writeStdout, progress);
        }
      } finally {
        progress.end();
        await opened.close();
      }
      // The summary never mixes with the data: standard error when the data goes to standard output.
      const line = flags.json
        ? JSON.stringify({ ...summary, backend: opened.store.kind, config: opened.configPath, output: flags.output ?? null })
        : `Exported ${summary.entries} ${summary.entries === 1 ? 'entry' : 'entries'} (${summary.bytes} bytes) from the ${opened.store.kind} registry${flags.output !== undefined ? ` to ${flags.output}` : ''}`;
      if (flags.output !== undefined) this.log(line);
      else process.stderr.write(`${line}\n`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EPIPE') return fatal(this, 'Standard output was closed before the export finished');
      return brokerFailure(this, err, home);
    }
  }
}

/** A chunk to standard output, resolved once taken (so a slow reader slows the export, not memory). */
function writeStdout(text: string): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(text, (err) => (err ? reject(err) : resolve())));
}
