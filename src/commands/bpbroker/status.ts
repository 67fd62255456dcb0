import { existsSync } from 'node:fs';
import { Command } from '@oclif/core';
import { brokerFlags, homeFrom } from '../../cli/brokerFlags.js';
import { brokerFailure } from '../../cli/fatal.js';
import { brokerStatus, type StatusReport } from '../../server/brokerStatus.js';
import { describeExtensions } from '../../server/extensionStatus.js';

export default class Status extends Command {
  static override summary = 'Tell whether a broker is running for this configuration, and what it serves.';
  static override description = 'Exit status 0 when a broker is running and answering, 1 otherwise.';
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --config ./bpbroker.json --json'];
  static override enableJsonFlag = true;
  static override flags = { ...brokerFlags };

  async run(): Promise<StatusReport> {
    const { flags } = await this.parse(Status);
    const home = homeFrom(flags);
    let report: StatusReport;
    try {
      report = await brokerStatus({ home, configPath: flags.config });
    } catch (err) {
      return brokerFailure(this, err, home);
    }
    if (!this.jsonEnabled()) {
      this.log(describe(report));
      // A broker started with another home or --config is not this one: say where this looked.
      if (!report.running && !flags.config && !existsSync(report.config)) {
        this.log(`No configuration in home ${home}: for a broker started with another home, choose it with --home DIR or BPBROKER_HOME=DIR`);
      }
    }
    if (!report.running || report.responding === false) process.exitCode = 1;
    return report;
  }
}

function describe(r: StatusReport): string {
  if (!r.running) return `bpbroker is not running for ${r.config} (${r.entries} entries in the file)`;
  if (r.port === undefined) return `bpbroker is running for ${r.config} (pid ${r.pid}), starting up`;
  const ext = describeExtensions(r.extensions);
  return [
    `bpbroker is running (pid ${r.pid}, up ${uptime(r.uptimeSecs ?? 0)})${r.responding ? '' : ' but not answering on its port'}`,
    `  config:      ${r.config}`,
    `  listening:   ${r.listenIp || '*'}:${r.port} TLS (HTTPS${r.grpcPort === r.port ? ' + gRPC' : ''}), UDP ${r.port} (discovery)`,
    ...(r.grpcPort !== r.port ? [`  gRPC:        ${r.listenIp || '*'}:${r.grpcPort} TLS`] : []),
    `  entries:     ${r.entries}`,
    ...(r.registry ? [`  registry:    ${describeRegistry(r.registry)}`] : []),
    `  extensions:  ${ext.length ? ext.join('\n               ') : 'none'}`,
  ].join('\n');
}

function describeRegistry(r: NonNullable<StatusReport['registry']>): string {
  const where = r.etcd ? `etcd at ${r.etcd.endpoints.join(', ')}, prefix ${r.etcd.prefix}` : 'embedded (bpbroker.json and its journal)';
  return r.problem ? `${where}: UNAVAILABLE (${r.problem})` : where;
}

function uptime(secs: number): string {
  const d = Math.floor(secs / 86400);
  const h = Math.floor((secs % 86400) / 3600);
  const m = Math.floor((secs % 3600) / 60);
  return [d ? `${d}d` : '', h ? `${h}h` : '', m ? `${m}m` : '', `${secs % 60}s`].filter(Boolean).join(' ');
}
