#!/usr/bin/env node
// The ufsmount command: mounts a ufs union with FUSE (overlay / fuse-overlayfs option syntax), or an
// image or container of a store. The thread-pool import must stay first: it sizes libuv's pool
// before anything uses it.
import '../fuse/threadpool.js';
import { ufsmountMain } from '../fuse/main.js';
import { openMountTarget } from './mount-target.js';

ufsmountMain(process.argv.slice(2), openMountTarget).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`ufsmount: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
