import { resolve } from 'node:path';
import { Flags } from '@oclif/core';
import { brokerHome } from '../config/paths.js';

/** Flags every bpbroker command takes; old scripts may put them before the command. */
export const brokerFlags = {
  config: Flags.string({
    char: 'c',
    summary: 'Path to a non-default configuration file.',
    description: 'Layered over the global file ($BPBROKER_HOME/etc/bpbroker.json) and written back instead of it.',
    helpGroup: 'GLOBAL',
  }),
  home: Flags.string({
    summary: 'Installation folder (etc/ and lib/).',
    description:
      'Defaults to $BPBROKER_HOME, else /usr/local/bpbroker when run as root and ~/.bpbroker for other users ' +
      '(%ProgramFiles%\\bpbroker on Windows). Every bpbroker command and `npm start` use the same rule.',
    env: 'BPBROKER_HOME',
    helpGroup: 'GLOBAL',
  }),
};

/** The installation folder for this run, as an absolute path. */
export function homeFrom(flags: { home?: string | undefined }): string {
  return resolve(flags.home || brokerHome()); // an empty --home or BPBROKER_HOME is no choice
}
