#!/usr/bin/env node
// The ufsmount command: mounts a ufs union with FUSE (overlay / fuse-overlayfs option syntax).
// The thread-pool import must stay first: it sizes libuv's pool before anything uses it.
import '../fuse/threadpool.js';
import { ufsmountMain } from '../fuse/main.js';
import { UnionFs } from '../union.js';

ufsmountMain(process.argv.slice(2), (config) => UnionFs.open(config.union)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`ufsmount: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
