// Oracle kernel side: mounts the real kernel overlayfs over fresh copies of fixture layers
// (index=on,redirect_dir=on), unmounts with retries, removes temp dirs, and says why it cannot run.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { copyTree } from './layers.js';
import type { OwnedTarget } from './ops.js';

const run = promisify(execFile);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The options the oracle mounts with, next to lowerdir/upperdir/workdir. */
export const DEFAULT_OVERLAY_OPTIONS: readonly string[] = ['index=on', 'redirect_dir=on'];

export type Support = { ok: true; reason?: undefined } | { ok: false; reason: string };

/** A fresh temp directory under os.tmpdir(). */
export function tempBase(prefix = 'ufs-oracle-'): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), prefix));
}

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/** The superblock options of the mount at `mnt` (from /proc/self/mountinfo), or null when not mounted. */
export async function mountOptions(mnt: string): Promise<string[] | null> {
  const info = await fsp.readFile('/proc/self/mountinfo', 'utf8');
  let found: string[] | null = null;
  for (const line of info.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const fields = pre.split(' ');
    if (fields[4] !== undefined && unescapeMountinfo(fields[4]) === mnt) found = (post.split(' ')[2] ?? '').split(',');
  }
  return found;
}

export async function isMounted(mnt: string): Promise<boolean> {
  return (await mountOptions(mnt)) !== null;
}

export interface OverlayMount {
  lower: string[];
  upper: string;
  work: string;
  mnt: string;
  options?: readonly string[];
}

/** `mount -t overlay overlay -o lowerdir=L1:L2:...,upperdir=U,workdir=W,<options> MNT` (lower[0] topmost). */
export async function mountOverlay(m: OverlayMount): Promise<void> {
  for (const d of [...m.lower, m.upper, m.work]) {
    if (/[:,\\]/.test(d)) throw new Error(`cannot pass ${d} in overlay mount options`);
  }
  const opts = [`lowerdir=${m.lower.join(':')}`, `upperdir=${m.upper}`, `workdir=${m.work}`, ...(m.options ?? DEFAULT_OVERLAY_OPTIONS)];
  try {
    await run('mount', ['-t', 'overlay', 'overlay', '-o', opts.join(','), m.mnt]);
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`mount -t overlay failed: ${(err.stderr ?? err.message).trim()}`);
  }
}

/** Unmounts `mnt`: retried while busy, then lazily. Resolves once it is no longer mounted. */
export async function unmount(mnt: string): Promise<void> {
  for (let i = 0; i < 10 && (await isMounted(mnt)); i++) {
    try {
      await run('umount', [mnt]);
    } catch (e) {
      const msg = String((e as { stderr?: string }).stderr ?? e);
      if (!/busy/i.test(msg)) throw new Error(`umount ${mnt} failed: ${msg.trim()}`);
      await sleep(50 * (i + 1));
    }
  }
  if (await isMounted(mnt)) await run('umount', ['-l', mnt]);
  if (await isMounted(mnt)) throw new Error(`${mnt} is still mounted`);
}

/** Removes a temp tree, refusing while anything is mounted under it (rm would reach through the mount). */
export async function removeBase(base: string): Promise<void> {
  const info = await fsp.readFile('/proc/self/mountinfo', 'utf8');
  const inside = info.split('\n').some((l) => {
    const mp = l.split(' ')[4];
    return mp !== undefined && (unescapeMountinfo(mp) + '/').startsWith(base + '/');
  });
  if (inside) throw new Error(`not removing ${base}: something is still mounted inside it`);
  await fsp.rm(base, { recursive: true, force: true });
}

let support: Promise<Support> | undefined;

async function probe(): Promise<Support> {
  if (process.platform !== 'linux') return { ok: false, reason: `kernel overlayfs needs Linux (this is ${process.platform})` };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'mounting overlayfs and making 0/0 whiteouts need root' };
  const fstypes = await fsp.readFile('/proc/filesystems', 'utf8').catch(() => '');
  if (!/\boverlay\b/.test(fstypes)) {
    await run('modprobe', ['overlay']).catch(() => undefined);
    const again = await fsp.readFile('/proc/filesystems', 'utf8').catch(() => '');
    if (!/\boverlay\b/.test(again)) return { ok: false, reason: 'the kernel has no overlay filesystem' };
  }
  for (const tool of ['mount', 'umount', 'mknod', 'setfattr', 'cp']) {
    try {
      await run('sh', ['-c', `command -v ${tool}`]);
    } catch {
      return { ok: false, reason: `${tool} is not installed (setfattr is in Debian's attr package)` };
    }
  }
  const base = await tempBase('ufs-oracle-probe-');
  const [l, u, w, m] = ['l', 'u', 'w', 'm'].map((d) => path.join(base, d)) as [string, string, string, string];
  try {
    for (const d of [l, u, w, m]) await fsp.mkdir(d);
    await run('mknod', [path.join(l, 'wh'), 'c', '0', '0']);
    await run('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', l]);
    await mountOverlay({ lower: [l], upper: u, work: w, mnt: m });
    const opts = (await mountOptions(m)) ?? [];
    await unmount(m);
    for (const o of DEFAULT_OVERLAY_OPTIONS) {
      if (!opts.includes(o)) return { ok: false, reason: `overlayfs did not keep ${o} on ${os.tmpdir()} (got ${opts.join(',')})` };
    }
    return { ok: true };
  } catch (e) {
    return { ok: false, reason: `cannot mount overlayfs here: ${(e as Error).message}` };
  } finally {
    if (await isMounted(m)) await unmount(m).catch(() => undefined);
    await removeBase(base).catch(() => undefined);
  }
}

/** Whether this process can mount the kernel overlayfs the way the oracle does, and if not, why. Cached. */
export function kernelOverlaySupport(): Promise<Support> {
  support ??= probe();
  return support;
}

export interface KernelTarget extends OwnedTarget {
  base: string;
  lower: string[];
  upper: string;
  work: string;
  mnt: string;
}

/**
 * Copies the layer directories `templates` (topmost first, overlay format) into a fresh temp dir,
 * mounts the kernel overlayfs over the copies and returns it as a target; cleanup() unmounts and
 * removes everything.
 */
export async function makeKernelTarget(templates: string[], opts: { label?: string; options?: readonly string[] } = {}): Promise<KernelTarget> {
  const base = await tempBase('ufs-oracle-kernel-');
  const lower = templates.map((_, i) => path.join(base, `l${i}`));
  const upper = path.join(base, 'upper');
  const work = path.join(base, 'work');
  const mnt = path.join(base, 'mnt');
  try {
    for (const d of [...lower, upper, work, mnt]) await fsp.mkdir(d);
    for (let i = 0; i < templates.length; i++) await copyTree(templates[i]!, lower[i]!);
    await mountOverlay({ lower, upper, work, mnt, options: opts.options ?? DEFAULT_OVERLAY_OPTIONS });
  } catch (e) {
    if (await isMounted(mnt)) await unmount(mnt);
    await removeBase(base);
    throw e;
  }
  return {
    label: opts.label ?? 'kernel overlayfs',
    fs: fsp,
    p: (rel: string) => (rel === '' ? mnt : path.join(mnt, rel)),
    base, lower, upper, work, mnt,
    async cleanup() {
      await unmount(mnt);
      await removeBase(base);
    },
  };
}
