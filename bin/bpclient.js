#!/usr/bin/env node
import { fileURLToPath } from 'node:url';
import { BPCLIENT_GLOBALS, hoistGlobalFlags } from '../dist/src/cli/argv.js';
import { main } from '../dist/src/cli/main.js';

// bpclient is its own oclif CLI, rooted at ../bpclient (its package.json names its commands).
const root = fileURLToPath(new URL('../bpclient/', import.meta.url));
await main(root, hoistGlobalFlags(process.argv.slice(2), BPCLIENT_GLOBALS));
