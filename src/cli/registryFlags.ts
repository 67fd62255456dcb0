import { Flags } from '@oclif/core';

/** `--backend`: the store a `bpbroker registry` command works on, whatever the file's `registry.backend` says. */
export const backendFlag = Flags.option({
  options: ['embedded', 'etcd'] as const,
  summary: "Store to use instead of the configuration's registry.backend.",
  description:
    'embedded: the registry in bpbroker.json and its journal (refused while a broker runs with the file). ' +
    'etcd: the etcd cluster that registry.etcd_endpoints and registry.etcd_prefix (and the TLS and credential settings) name.',
})();
