import { Flags } from '@oclif/core';

/** Flags of install-service and uninstall-service. */
export const serviceFlags = {
  root: Flags.string({
    summary: 'Folder under which system files (/etc/...) are written (default /).',
    description: 'For tests and image builds. Under any root but / the init system commands are printed, not run.',
    env: 'BPBROKER_SYSTEM_ROOT',
  }),
  init: Flags.string({
    summary: 'Init system to register with (default: detected).',
    options: ['systemd', 'sysv', 'nssm'],
  }),
  'dry-run': Flags.boolean({
    summary: 'Write nothing and run nothing: print what would be done.',
    env: 'BPBROKER_SERVICE_DRY_RUN',
  }),
  json: Flags.boolean({ summary: 'Print what was done as JSON.' }),
};
