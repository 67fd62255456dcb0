#!/usr/bin/env node
import { fileURLToPath } from 'node:url';
import { execute } from '@oclif/core';
import { BPCLIENT_GLOBALS, hoistGlobalFlags } from '../dist/src/cli/argv.js';

// bpclient is its own oclif CLI, rooted at ../bpclient (its package.json names its commands).
const root = fileURLToPath(new URL('../bpclient/', import.meta.url));
await execute({ dir: root, args: hoistGlobalFlags(process.argv.slice(2), BPCLIENT_GLOBALS) });
