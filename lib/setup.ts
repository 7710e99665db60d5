// Opening a union: checks the directories, picks the whiteout format (given, detected from the
// layers' markers, or what the upper layer can hold), and prepares the work directory.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Layer } from './layers/layer.js';
import { DirLayer } from './layers/dir-layer.js';
import type { WhiteoutFormat, WhiteoutFormatName } from './layers/whiteout.js';
import { AUFS_WH_PREFIX, OVERLAY_XATTR_PREFIXES } from './layers/whiteout.js';
import { aufsFormat } from './layers/whiteout-aufs.js';
import { overlayFormat } from './layers/whiteout-overlay.js';
import { native, nativeLoadError, warnNoNativeOnce } from './native.js';
import { fsError, isErrno } from './errors.js';
import { rmTree } from './long-path.js';
import type { UnionOptions } from './options.js';
import { splitLowerdir } from './options.js';

export const formats: Record<WhiteoutFormatName, WhiteoutFormat> = { overlay: overlayFormat, aufs: aufsFormat };

async function dirLayer(p: string, what: string): Promise<DirLayer> {
  let st: fs.Stats;
  try {
    st = await fsp.stat(p);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) throw fsError('ENOENT', 'open', p, undefined, `${what} does not exist`);
    throw e;
  }
  if (!st.isDirectory()) throw fsError('ENOTDIR', 'open', p, undefined, `${what} is not a directory`);
  return new DirLayer(await fsp.realpath(p));
}

async function toLayer(l: string | Layer, what: string): Promise<Layer> {
  return typeof l === 'string' ? dirLayer(l, what) : l;
}

/** Looks for whiteout markers in the first entries of a layer (breadth first, bounded). */
async function markersIn(layer: Layer, budget = 4000): Promise<WhiteoutFormatName | null> {
  const queue = [''];
  let seen = 0;
  while (queue.length && seen < budget) {
    const rel = queue.shift()!;
    let list;
    try {
      list = await layer.readdir(rel);
    } catch {
      continue;
    }
    if (native()) {
      const attrs = await layer.listxattr(rel).catch(() => [] as string[]);
      if (attrs.some((a) => OVERLAY_XATTR_PREFIXES.some((p) => a.startsWith(p)))) return 'overlay';
    }
    for (const e of list) {
      seen++;
      const c = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.name.startsWith(AUFS_WH_PREFIX)) return 'aufs';
      if (e.type === fs.constants.S_IFCHR) {
        const st = await layer.lstat(c);
        if (st.rdev === 0) return 'overlay';
      }
      if (e.type === fs.constants.S_IFDIR) queue.push(c);
    }
  }
  return null;
}

export interface Setup {
  layers: (Layer | null)[];
  format: WhiteoutFormat;
  work: DirLayer | null;
  readonly: boolean;
}

export async function setup(opts: UnionOptions): Promise<Setup> {
  if (typeof opts !== 'object' || opts === null) throw fsError('EINVAL', 'open', undefined, undefined, 'options object required');
  const lowerList = typeof opts.lowerdir === 'string' ? splitLowerdir(opts.lowerdir) : opts.lowerdir;
  if (!Array.isArray(lowerList) || lowerList.length === 0) {
    throw fsError('EINVAL', 'open', undefined, undefined, 'lowerdir needs at least one layer');
  }
  const lowers = await Promise.all(lowerList.map((l, i) => toLayer(l, `lowerdir ${i + 1}`)));
  const upper = opts.upperdir !== undefined ? await toLayer(opts.upperdir, 'upperdir') : null;
  const readonly = opts.readonly === true || upper === null;

  let name = opts.whiteout;
  if (name !== undefined && name !== 'overlay' && name !== 'aufs') {
    throw fsError('EINVAL', 'open', undefined, undefined, `whiteout must be 'overlay' or 'aufs', not '${String(name)}'`);
  }
  if (name === undefined) {
    for (const l of upper ? [upper, ...lowers] : lowers) {
      name = (await markersIn(l)) ?? undefined;
      if (name) break;
    }
  }
  if (name === undefined) {
    const canOverlay = upper !== null && !readonly && (await upper.canMknodWhiteout()) && (await upper.supportsXattrs());
    name = canOverlay && opts.workdir !== undefined ? 'overlay' : 'aufs';
  }
  if (name === 'overlay') {
    if (!native()) {
      if (!readonly) {
        throw fsError('ENOTSUP', 'open', undefined, undefined, `the overlay whiteout format needs the native addon (${nativeLoadError()}); use whiteout: 'aufs'`);
      }
      warnNoNativeOnce('opaque directories of overlay-format layers cannot be read');
    } else if (!readonly && upper && !(await upper.canMknodWhiteout())) {
      throw fsError('EPERM', 'open', upper.root ?? undefined, undefined, 'the overlay whiteout format needs root (0/0 character devices) in the upper layer; use whiteout: \'aufs\'');
    }
  }

  let work: DirLayer | null = null;
  if (upper && !readonly && upper.root) {
    let workdir = opts.workdir;
    if (workdir === undefined) {
      if (name === 'overlay') throw fsError('EINVAL', 'open', undefined, undefined, 'the overlay format needs a workdir on the upper layer\'s filesystem');
      // aufs hides `.wh..wh.*` names: keep the scratch space inside the upper layer.
      workdir = path.join(upper.root, '.wh..wh..work');
      await fsp.mkdir(workdir, { recursive: true, mode: 0o700 });
    } else {
      const w = await dirLayer(workdir, 'workdir');
      const [ws, us] = await Promise.all([fsp.stat(w.root), fsp.stat(upper.root)]);
      if (ws.dev !== us.dev) throw fsError('EXDEV', 'open', workdir, undefined, 'workdir must be on the same filesystem as upperdir');
      if (w.root === upper.root || w.root.startsWith(upper.root + '/') || upper.root.startsWith(w.root + '/')) {
        throw fsError('EINVAL', 'open', workdir, undefined, 'workdir and upperdir must not contain each other');
      }
      // Like the kernel, work in `work/` below the work directory.
      workdir = path.join(w.root, 'work');
      await fsp.mkdir(workdir, { recursive: true, mode: 0o700 });
    }
    work = new DirLayer(workdir);
    // Leftovers of an interrupted copy-up are never visible: clear them.
    for (const n of await fsp.readdir(work.root)) {
      if (n.startsWith('ufs-')) await rmTree(path.join(work.root, n)); // may be deeper than PATH_MAX
    }
  }
  return { layers: [upper, ...lowers], format: formats[name], work, readonly };
}
