/** The clients bpclient is built on, for programs that talk to a broker themselves. */
export { LegacyClient, LegacyClientError, parseHostPort, DEFAULT_PORT } from './legacyClient.js';
export type { LegacyClientOptions, LegacyResponse, RegistryReply, RegistryResult, LegacyWriteOptions, LegacyCallOptions, LegacyPollOptions } from './legacyClient.js';
export type { LegacyWatchBatch, LegacyWatchEvent, LegacyWatchEventType } from './legacyWatch.js';
export { currentRevisionOf, REVISION_TRAILER } from './casRevision.js';
export { LeaseKeeper } from './leaseKeeper.js';
export type { KeepLeaseOptions, LeaseLoss, LeaseLossReason } from './leaseKeeper.js';
export { ResumingWatch } from './resumingWatch.js';
export type { WatchOptions } from './resumingWatch.js';
export { discover, BROADCAST_ADDRESS } from './discover.js';
export type { DiscoverOptions, DiscoveredBroker } from './discover.js';
