export * from './procs.mjs';
export { seedRegistry } from './seed.mjs';
