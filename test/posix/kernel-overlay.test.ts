// Runs the shared POSIX suite on the real kernel overlayfs (root only): every case directory sits in
// the lower layer, so each case works inside a merged directory. It shows the suite asks of a union
// only what the kernel's overlayfs, the semantic reference of ufs, already does.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { definePosixSuite, nodeFsTarget, posixCaseDirNames } from './suite.js';

const overlayOpts = (d: string): string =>
  `lowerdir=${d}/lower,upperdir=${d}/upper,workdir=${d}/work,index=on,redirect_dir=on`;

/** null when an overlay can be mounted here, else why not. */
function overlayUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root for mount -t overlay';
  const d = mkdtempSync(join(tmpdir(), 'ufs-posix-ovl-probe-'));
  try {
    for (const s of ['lower', 'upper', 'work', 'merged']) mkdirSync(join(d, s));
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', overlayOpts(d), join(d, 'merged')], { stdio: 'pipe' });
    execFileSync('umount', [join(d, 'merged')]);
    return null;
  } catch {
    return 'needs the kernel overlayfs (mount -t overlay failed)';
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
}

definePosixSuite(
  'POSIX suite on the kernel overlayfs (case dirs in the lower layer)',
  async () => {
    const d = await mkdtemp(join(tmpdir(), 'ufs-posix-ovl-'));
    for (const s of ['lower', 'upper', 'work', 'merged']) await mkdir(join(d, s));
    for (const n of posixCaseDirNames()) await mkdir(join(d, 'lower', n));
    const merged = join(d, 'merged');
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', overlayOpts(d), merged]);
    return nodeFsTarget(merged, {
      cleanup: async () => {
        execFileSync('umount', ['-l', merged]); // lazy: a handle a failed case left open must not block it
        await rm(d, { recursive: true, force: true });
      },
    });
  },
  { unavailable: overlayUnavailable() },
);
