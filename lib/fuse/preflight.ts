// Checks made before anything is mounted, each failing with the one line ufsmount prints: /dev/fuse,
// libfuse, the layer directories, the mountpoint (recovering the stale mount of a killed server).
import fs from 'node:fs';
import { chooseBinding, FuseUnavailable } from './binding.js';
import { isFuse, isStale, mountAt, unmount } from './mountinfo.js';
import type { MountConfig } from './options.js';

/** A reason not to mount, as the one line to print. */
export class PreflightError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PreflightError';
  }
}

async function checkDir(what: string, dir: string): Promise<void> {
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not accessible' : `cannot be read (${code})`;
    throw new PreflightError(`ufsmount: ${what} ${dir} ${why}`);
  }
  if (!st.isDirectory()) throw new PreflightError(`ufsmount: ${what} ${dir} is not a directory`);
}

/** /dev/fuse must exist and be openable for reading and writing. */
export async function checkDevFuse(): Promise<void> {
  try {
    await fs.promises.access('/dev/fuse', fs.constants.R_OK | fs.constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new PreflightError(code === 'ENOENT'
      ? 'ufsmount: /dev/fuse does not exist (load the fuse module or pass the device into the container)'
      : `ufsmount: cannot open /dev/fuse (${code})`);
  }
}

/** libfuse2 must load (through ufs's binding or fuse-native). */
export function checkLibfuse(): void {
  try {
    chooseBinding();
  } catch (e) {
    throw new PreflightError(e instanceof FuseUnavailable ? e.message : `ufsmount: ${String(e)}`);
  }
}

/**
 * The mountpoint must be a directory that nothing is mounted on. A stale FUSE mount (its server
 * was killed: stat fails with ENOTCONN) is lazily unmounted first. Returns the mountpoint with
 * symlinks resolved, the form /proc/self/mountinfo uses.
 */
export async function checkMountpoint(mountpoint: string): Promise<string> {
  if (await isStale(mountpoint)) {
    const err = await unmount(mountpoint, true);
    if (err !== undefined) throw new PreflightError(`ufsmount: cannot clear the stale mount on ${mountpoint}: ${err}`);
  }
  await checkDir('mountpoint', mountpoint);
  const real = await fs.promises.realpath(mountpoint);
  const m = await mountAt(real);
  if (m !== undefined) {
    const st = await fs.promises.stat(real);
    const parent = await fs.promises.stat(real === '/' ? '/' : real + '/..');
    if (st.dev !== parent.dev || isFuse(m)) {
      throw new PreflightError(`ufsmount: mountpoint ${mountpoint} is in use (${m.fstype} ${m.source} is mounted there)`);
    }
  }
  return real;
}

/** Every check, in the order a user would fix them. Returns the resolved mountpoint. */
export async function preflight(config: MountConfig): Promise<string> {
  const u = config.union;
  for (const d of u.lowerdir) if (typeof d === 'string') await checkDir('lowerdir', d);
  if (typeof u.upperdir === 'string') await checkDir('upperdir', u.upperdir);
  if (u.workdir !== undefined) await checkDir('workdir', u.workdir);
  for (const v of u.volumes ?? []) await checkDir('volume', v.hostdir);
  if (config.store?.root !== undefined) await checkDir('store root', config.store.root);
  await checkDevFuse();
  checkLibfuse();
  return checkMountpoint(config.mountpoint);
}
