import { relative } from 'node:path';
import { Args, Command, Flags } from '@oclif/core';
import { fatal } from '../../../cli/fatal.js';
import { ScaffoldError, scaffoldExtension } from '../../../extensions/scaffold.js';

export default class ExtensionNew extends Command {
  static override summary = 'Write a new extension with a passing test, ready for start --watch.';
  static override description =
    'Writes into DIR (default ./NAME) a typed TypeScript extension NAME.ts (or a Python 3 module NAME.py with --python), ' +
    'a test run by `npm test` (node --test, through the bpbroker/testing kit), a package.json, and for TypeScript a tsconfig.json. ' +
    'bpbroker/extension and bpbroker/testing resolve through node_modules/bpbroker, a link to this bpbroker installation. ' +
    'Existing files are never overwritten.';
  static override examples = [
    '<%= config.bin %> <%= command.id %> inventory',
    '<%= config.bin %> <%= command.id %> inventory --python --dir ./inventory-py',
  ];
  static override args = {
    name: Args.string({ description: 'The namespace: clients call NAME.Method.', required: true }),
  };
  static override flags = {
    dir: Flags.string({ summary: 'Folder to write into (default: ./NAME).' }),
    python: Flags.boolean({ summary: 'Write a Python 3 module instead of TypeScript.' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ExtensionNew);
    try {
      const r = scaffoldExtension({ name: args.name, dir: flags.dir ?? args.name, python: flags.python, packageRoot: this.config.root });
      const shown = relative(process.cwd(), r.dir) || '.';
      this.log(`Wrote ${r.files.map((f) => `${shown}/${f}`).join(', ')}`);
      if (r.linked) this.log(`Linked ${shown}/node_modules/bpbroker -> ${this.config.root}`);
      this.log('Next:');
      this.log(`  (cd ${shown} && npm test)`);
      this.log(`  ${this.config.bin} start --watch ${shown}`);
    } catch (err) {
      if (err instanceof ScaffoldError) return fatal(this, err.message);
      throw err;
    }
  }
}
