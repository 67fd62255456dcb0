#!/usr/bin/env node
import { BPBROKER_GLOBALS, hoistGlobalFlags } from '../dist/src/cli/argv.js';
import { main } from '../dist/src/cli/main.js';

await main(import.meta.url, hoistGlobalFlags(process.argv.slice(2), BPBROKER_GLOBALS));
