/** The clients bpclient is built on, for programs that talk to a broker themselves. */
export { LegacyClient, LegacyClientError, parseHostPort, DEFAULT_PORT } from './legacyClient.js';
export type { LegacyClientOptions, LegacyResponse, RegistryReply, RegistryResult } from './legacyClient.js';
export { discover, BROADCAST_ADDRESS } from './discover.js';
export type { DiscoverOptions, DiscoveredBroker } from './discover.js';
