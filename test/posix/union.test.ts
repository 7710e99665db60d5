// The shared POSIX suite on UnionFs in-process: both whiteout formats on disk (each case runs in a
// directory that lies in a lower layer, so it works in a merged, copied-up directory), and layers in memory.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { definePosixSuite, posixCaseDirNames } from './suite.js';
import { probeCaps } from './node-target.js';
import { UnionFs } from '../../lib/index.js';
import { MemLayer } from '../../lib/layers/mem-layer.js';
import { native } from '../../lib/native.js';
import type { PosixTarget } from './types.js';

async function onDisk(whiteout: 'aufs' | 'overlay'): Promise<PosixTarget> {
  const d = await mkdtemp(join(tmpdir(), `ufs-posix-union-${whiteout}-`));
  for (const s of ['lower', 'upper', 'work']) await mkdir(join(d, s));
  for (const n of posixCaseDirNames()) await mkdir(join(d, 'lower', n));
  const u = await UnionFs.open({ lowerdir: [join(d, 'lower')], upperdir: join(d, 'upper'), workdir: join(d, 'work'), whiteout });
  return {
    fs: u,
    p: (rel) => `/${rel}`,
    root: null,
    caps: await probeCaps('/', u),
    cleanup: async () => {
      await u.close();
      await rm(d, { recursive: true, force: true });
    },
  };
}

definePosixSuite('POSIX suite on UnionFs (aufs format, on disk)', () => onDisk('aufs'));

const overlayOk = process.getuid?.() === 0 && native() !== null;
definePosixSuite('POSIX suite on UnionFs (overlay format, on disk)', () => onDisk('overlay'), {
  ...(overlayOk ? {} : { unavailable: 'the overlay format needs root and the native addon' }),
});

definePosixSuite('POSIX suite on UnionFs (memory layers)', async () => {
  const lower = new MemLayer('posix-lower');
  for (const n of posixCaseDirNames()) await lower.mkdir(n, 0o755);
  const u = await UnionFs.open({ lowerdir: [lower], upperdir: new MemLayer('posix-upper'), whiteout: 'overlay' });
  return { fs: u, p: (rel) => `/${rel}`, root: null, caps: await probeCaps('/', u), cleanup: () => u.close() };
});
