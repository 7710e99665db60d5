// The shared POSIX-style suite against a ufsmount of real layers (two lower, one upper), driven from
// this process while a separate ufsmount process serves the mount.
import { afterAll, describe } from 'vitest';
import { definePosixSuite } from '../posix/suite.js';
import { nodeFsTarget } from '../posix/node-target.js';
import { canMount, cleanupAll, makeLayers, mountedType, ufsmount } from './helpers.js';

afterAll(cleanupAll);

describe.skipIf(!canMount)('POSIX suite through FUSE (needs root, /dev/fuse and libfuse2)', () => {
  definePosixSuite('ufsmount over two lower layers and an upper layer', async () => {
    const L = await makeLayers();
    const r = await ufsmount(['-o', L.opts, L.mnt]);
    if (r.code !== 0) throw new Error(`ufsmount failed: ${r.stderr}`);
    return nodeFsTarget(L.mnt, {
      cleanup: async () => {
        if (mountedType(L.mnt)) await ufsmount(['-u', L.mnt]);
      },
    });
  });
});
