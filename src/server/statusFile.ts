import { readFileSync, rmSync } from 'node:fs';
import { atomicWriteFile } from '../fs/atomicWrite.js';
import { statusPathFor } from '../config/paths.js';
import type { BrokerOverview } from '../core/overview.js';
import type { ExtensionStatus } from './extensionStatus.js';

/** What a running broker publishes beside its configuration file, for `bpbroker status`. */
export interface BrokerStatus extends BrokerOverview {
  entries: number;
  revision: number;
  /** Where entries are served from, and why they cannot be now (etcd out of reach). */
  registry?: RegistryStatus | undefined;
  extensions: ExtensionStatus[];
  updatedAt: string;
}

export interface RegistryStatus {
  backend: 'embedded' | 'etcd';
  /** etcd: its endpoints and the key prefix. */
  etcd?: { endpoints: string[]; prefix: string } | undefined;
  problem?: string | undefined;
}

export async function writeStatus(configPath: string, status: Omit<BrokerStatus, 'updatedAt'>): Promise<void> {
  const text = `${JSON.stringify({ ...status, updatedAt: new Date().toISOString() }, null, 2)}\n`;
  await atomicWriteFile(statusPathFor(configPath), text, { mode: 0o644 });
}

export function readStatus(configPath: string): BrokerStatus | undefined {
  try {
    return JSON.parse(readFileSync(statusPathFor(configPath), 'utf8')) as BrokerStatus;
  } catch {
    return undefined;
  }
}

export function removeStatus(configPath: string): void {
  rmSync(statusPathFor(configPath), { force: true });
}
