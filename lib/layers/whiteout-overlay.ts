// The kernel overlayfs whiteout format: a 0/0 character device hides its name, the xattr
// `trusted.overlay.opaque` (or `user.overlay.opaque`) = "y" makes a directory opaque,
// `overlay.redirect` names the origin of a renamed directory.
import { constants } from 'node:fs';
import type { Layer, LayerDirent } from './layer.js';
import { OVERLAY_XATTR_PREFIXES, UFS_XATTR_PREFIX, joinRel, type LayerDirInfo, type WhiteoutFormat } from './whiteout.js';
import { isErrno } from '../errors.js';

const S_IFMT = constants.S_IFMT;
const S_IFCHR = constants.S_IFCHR;

/** Reads an overlay xattr in either namespace (trusted first, as the kernel does as root). */
export async function getOverlayXattr(layer: Layer, rel: string, key: string): Promise<Buffer | null> {
  for (const prefix of OVERLAY_XATTR_PREFIXES) {
    const v = await layer.getxattr(rel, prefix + key);
    if (v !== null) return v;
  }
  return null;
}

/** getOverlayXattr, asking only for names in `names` (the file's xattr names; null: unknown, ask all). */
async function overlayXattrIn(layer: Layer, rel: string, key: string, names: string[] | null): Promise<Buffer | null> {
  if (names === null) return getOverlayXattr(layer, rel, key);
  for (const prefix of OVERLAY_XATTR_PREFIXES) {
    if (!names.includes(prefix + key)) continue;
    const v = await layer.getxattr(rel, prefix + key);
    if (v !== null) return v;
  }
  return null;
}

/** The namespace ufs writes overlay xattrs in: trusted.overlay. as root (what the kernel reads by default). */
export function overlayXattrPrefix(): string {
  return process.getuid?.() === 0 ? 'trusted.overlay.' : 'user.overlay.';
}

async function isZeroZeroDevice(layer: Layer, rel: string): Promise<boolean> {
  try {
    const st = await layer.lstat(rel);
    return (st.mode & S_IFMT) === S_IFCHR && st.rdev === 0;
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return false;
    throw e;
  }
}

export const overlayFormat: WhiteoutFormat = {
  name: 'overlay',
  usesXattrs: true,

  async readDir(layer: Layer, rel: string): Promise<LayerDirInfo> {
    const xnames = layer.listxattr(rel).catch(() => null);
    const list = await layer.readdir(rel);
    const entries = new Map<string, number>();
    const whiteouts = new Set<string>();
    const checks: Promise<void>[] = [];
    for (const e of list) {
      if (e.type === S_IFCHR) {
        checks.push(isZeroZeroDevice(layer, joinRel(rel, e.name)).then((wh) => {
          if (wh) whiteouts.add(e.name);
          else entries.set(e.name, e.type);
        }));
      } else {
        entries.set(e.name, e.type);
      }
    }
    await Promise.all(checks);
    // Only xattrs the directory has are read (its name list came with the listing): a cold
    // directory costs one round of I/O, not one per overlay xattr name.
    const names = await xnames;
    const [opaqueVal, redirectVal] = await Promise.all([
      overlayXattrIn(layer, rel, 'opaque', names),
      rel === '' ? null : overlayXattrIn(layer, rel, 'redirect', names),
    ]);
    const opaque = opaqueVal !== null && opaqueVal.toString() === 'y';
    return { entries, whiteouts, opaque, redirect: redirectVal === null ? null : redirectVal.toString() };
  },

  isReservedName(): boolean {
    return false;
  },

  async isWhiteoutEntry(layer: Layer, rel: string, ent: LayerDirent): Promise<boolean> {
    return ent.type === S_IFCHR && isZeroZeroDevice(layer, rel);
  },

  async makeWhiteout(layer: Layer, dirRel: string, name: string): Promise<void> {
    await layer.mknod(joinRel(dirRel, name), S_IFCHR | 0o000, 0);
  },

  async removeWhiteout(layer: Layer, dirRel: string, name: string): Promise<void> {
    const rel = joinRel(dirRel, name);
    if (await isZeroZeroDevice(layer, rel)) await layer.unlink(rel);
  },

  async setOpaque(layer: Layer, dirRel: string): Promise<void> {
    await layer.setxattr(dirRel, overlayXattrPrefix() + 'opaque', Buffer.from('y'));
  },

  isPrivateXattr(name: string): boolean {
    return name.startsWith(UFS_XATTR_PREFIX) || OVERLAY_XATTR_PREFIXES.some((p) => name.startsWith(p));
  },
};
