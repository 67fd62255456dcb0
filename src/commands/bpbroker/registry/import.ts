import { existsSync } from 'node:fs';
import { Args, Command, Flags } from '@oclif/core';
import { openRegistryStore } from '../../../app/openRegistryStore.js';
import { importRegistry } from '../../../app/registryTransfer.js';
import { brokerFlags, homeFrom } from '../../../cli/brokerFlags.js';
import { brokerFailure } from '../../../cli/fatal.js';
import { progressBar } from '../../../cli/progressBar.js';
import { ConfigError } from '../../../config/ConfigError.js';
import { backendFlag } from '../../../cli/registryFlags.js';

export default class RegistryImport extends Command {
  static override summary = 'Write the entries of a `bpbroker registry export` file into the registry.';
  static override description =
    'The whole file is checked first: a bad line, or a name the registry already holds (without --overwrite), ' +
    'refuses the import and nothing is written. Each entry keeps its JSON text, its last writer\'s address and ' +
    'time; a leased entry gets a new lease of its TTL, from now; revisions are the target store\'s own. Into the ' +
    'embedded store (refused while a broker runs with the file), the result is saved in bpbroker.json. ' +
    'See "Moving a registry between stores" in docs/storage.md.';
  static override examples = [
    { description: 'Move an export into etcd (then set registry.backend to etcd and start the broker)', command: '<%= config.bin %> <%= command.id %> --backend etcd registry.jsonl' },
    { description: 'Bring an export back into the embedded store, replacing the entries it holds', command: '<%= config.bin %> <%= command.id %> --backend embedded --overwrite registry.jsonl' },
  ];
  static override args = {
    file: Args.string({ description: 'The export to read (from `bpbroker registry export`).', required: true }),
  };
  static override flags = {
    ...brokerFlags,
    backend: backendFlag,
    overwrite: Flags.boolean({ summary: 'Replace entries that exist in the registry (otherwise any existing name refuses the import).' }),
    json: Flags.boolean({ summary: 'Print the summary as JSON.' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RegistryImport);
    const home = homeFrom(flags);
    const progress = progressBar();
    try {
      // Before the store is opened (and an installation folder made for it): a typo in the name fails alone.
      if (!existsSync(args.file)) throw new ConfigError(`Cannot read ${args.file}: no such file`);
      const opened = await openRegistryStore({ home, configPath: flags.config, backend: flags.backend, purpose: 'registry import' });
      let summary: Awaited<ReturnType<typeof importRegistry>>;
      try {
        summary = await importRegistry(opened.store, args.file, { overwrite: flags.overwrite }, progress);
        if (opened.store.kind === 'embedded') progress.phase(`Saving ${opened.configPath}`);
        await opened.close({ saveFile: true });
      } catch (err) {
        await opened.close().catch(() => {}); // the failure is the one to tell
        throw err;
      } finally {
        progress.end();
      }
      if (flags.json) {
        this.log(JSON.stringify({ ...summary, backend: opened.store.kind, config: opened.configPath, input: args.file }));
        return;
      }
      const replaced = summary.replaced > 0 ? `, ${summary.replaced} replaced` : '';
      this.log(`Imported ${summary.entries} ${summary.entries === 1 ? 'entry' : 'entries'} (${summary.bytes} bytes${replaced}) into the ${opened.store.kind} registry`);
    } catch (err) {
      return brokerFailure(this, err, home);
    }
  }
}
