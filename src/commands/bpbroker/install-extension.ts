import { Command, Flags } from '@oclif/core';
import { brokerFlags, homeFrom } from '../../cli/brokerFlags.js';
import { brokerFailure, fatal } from '../../cli/fatal.js';
import { loadConfig } from '../../config/loadConfig.js';
import { libDir } from '../../config/paths.js';
import { InstallError, installExtension } from '../../extensions/install.js';

export default class InstallExtension extends Command {
  static override summary = 'Install a custom extension into $BPBROKER_HOME/lib.';
  static override description =
    'Copies a file (.js .mjs .cjs .ts, or a Python 3 module .py) or a package folder into the extensions folder after checking that it loads, ' +
    'and lists its methods. The namespace is the file name without extension (or the folder name). ' +
    'A running broker picks it up within a second; clients can call it once its namespace is in the configuration. ' +
    'Safe to run again: an identical copy is left alone, a changed one replaces the old.';
  static override examples = [
    '<%= config.bin %> <%= command.id %> --script ossec.mjs',
    '<%= config.bin %> <%= command.id %> --script ./my-extension/ --lib /opt/bpbroker/lib',
  ];
  static override flags = {
    ...brokerFlags,
    script: Flags.string({ char: 's', summary: 'Extension file or package folder to install.', required: true }),
    lib: Flags.string({ summary: 'Extensions folder to install into (default: $BPBROKER_HOME/lib).' }),
    json: Flags.boolean({ summary: 'Print the result as JSON.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(InstallExtension);
    const home = homeFrom(flags);
    try {
      const result = await installExtension({ script: flags.script, libDir: flags.lib ?? libDir(home) });
      const enabled = isEnabled(home, flags.config, result.namespace);
      if (flags.json) {
        this.log(JSON.stringify({ ...result, enabled }, null, 2));
        return;
      }
      const what = result.unchanged ? 'Already installed (identical)' : result.replaced ? 'Updated' : 'Installed';
      this.log(`${what}: ${result.namespace} -> ${result.installedPath}`);
      this.log(`Methods: ${result.methods.map((m) => `${result.namespace}.${m}`).join(', ')}`);
      if (enabled) this.log(`The namespace "${result.namespace}" is enabled in the configuration.`);
      else {
        this.log('Enable it in the configuration (set _access_key to require a key), with the broker stopped:');
        this.log(`  ${this.config.bin} configure <<HERE\n${JSON.stringify(result.configSnippet, null, 2)}\nHERE`);
      }
    } catch (err) {
      if (err instanceof InstallError) return fatal(this, err.message);
      return brokerFailure(this, err, home);
    }
  }
}

/** Whether the configuration already has the namespace's section (its whitelist entry); unknown counts as no. */
function isEnabled(home: string, configPath: string | undefined, namespace: string): boolean {
  try {
    return Object.hasOwn(loadConfig({ home, configPath }).sections, namespace);
  } catch {
    return false;
  }
}
