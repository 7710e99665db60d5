#!/usr/bin/env node
// The `ufs` executable: manage a store of layers, images and containers (see `ufs --help`).
import { main } from './main.js';

process.exitCode = await main(process.argv.slice(2));
