/**
 * The test kit for extension authors: `import { loadExtension, invoke, startBroker } from 'bpbroker/testing'`.
 *
 * ```ts
 * const answer = await invoke('./inventory.ts', 'Add', { query: { name: 'web1' }, callerHost: '10.0.0.5', registry: {} });
 * expect(answer.status).toBe(200);
 * ```
 */
export { invoke, loadExtension, type ExtensionKitOptions, type ExtensionUnderTest, type InvokeRequest, type KitAnswer } from './loadExtension.js';
export { startBroker, type CallOptions, type TestBroker, type TestBrokerOptions } from './startBroker.js';
