/**
 * Old scripts put global options before the command (`bpbroker --config F start`,
 * `bpclient --bpbroker H:P --access-key K service get --name N`). oclif reads flags after the command id,
 * so leading options are moved behind the command's own arguments.
 */
export interface GlobalFlagSpec {
  /** Flags that take one value, with their aliases (e.g. ['--config', '-c']). */
  withValue: string[];
  /** Flags that take one or more values (e.g. ['--cols']). */
  variadic?: string[];
  /** Flags without a value. */
  boolean?: string[];
  /** The command words that end a variadic list. */
  commands: string[];
}

export function hoistGlobalFlags(argv: string[], spec: GlobalFlagSpec): string[] {
  const hoisted: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const tok = argv[i]!;
    const name = tok.includes('=') ? tok.slice(0, tok.indexOf('=')) : tok;
    if (!tok.startsWith('-') || tok === '--') break;
    if (spec.withValue.includes(name)) {
      if (tok.includes('=')) {
        hoisted.push(tok);
        i += 1;
      } else {
        hoisted.push(tok, ...argv.slice(i + 1, i + 2));
        i += 2;
      }
    } else if (spec.variadic?.includes(name)) {
      hoisted.push(tok);
      i += 1;
      while (i < argv.length && !argv[i]!.startsWith('-') && !spec.commands.includes(argv[i]!)) hoisted.push(argv[i++]!);
    } else if (spec.boolean?.includes(name)) {
      hoisted.push(tok);
      i += 1;
    } else {
      break; // --help, --version and unknown flags stay where they are
    }
  }
  if (hoisted.length === 0 || i >= argv.length) return argv;
  return [...argv.slice(i), ...hoisted];
}

export const BPBROKER_GLOBALS: GlobalFlagSpec = {
  withValue: ['--config', '-c', '--home'],
  commands: ['start', 'configure', 'install-service', 'uninstall-service', 'install-extension', 'status', 'backup'],
};

export const BPCLIENT_GLOBALS: GlobalFlagSpec = {
  withValue: ['--bpbroker', '-b', '--access-key', '-a', '--format', '-f', '--ca'],
  variadic: ['--cols'],
  boolean: ['--grpc'],
  commands: ['ping', 'service', 'execute', 'discover'],
};
