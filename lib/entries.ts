// Placing and removing names in the upper layer: a new name replaces a whiteout atomically
// (built in the work directory, renamed over it); a removed name leaves a whiteout only where a
// lower layer still has it. Keeps the merged-directory cache in step.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import type { Layer } from './layers/layer.js';
import { UPPER, type DirNode, type UnionCore } from './core.js';
import { ensureUpperDir, tempName } from './copy-up.js';
import { childRel } from './path.js';
import { native, RENAME_EXCHANGE, RENAME_WHITEOUT } from './native.js';
import { isErrno } from './errors.js';
import { rmTree, shortPath } from './long-path.js';

const { S_IFDIR } = fs.constants;

/**
 * Creates `name` in directory `dir` in the upper layer with `make(layer, rel)`. When the upper
 * layer whites the name out, the new object replaces the whiteout; a new directory over a
 * whiteout is made opaque, so nothing of the deleted lower directory shows through it.
 */
export async function placeNew(
  core: UnionCore,
  dir: DirNode,
  name: string,
  type: number,
  make: (layer: Layer, rel: string) => Promise<void>,
): Promise<void> {
  await ensureUpperDir(core, dir);
  const data = await core.dataOf(dir);
  const upper = core.layer(UPPER);
  const rel = childRel(dir.rel, name);
  const whited = data.upperWhiteouts.has(name);
  const isDir = type === S_IFDIR;
  if (!whited) {
    await make(upper, rel);
  } else if (core.format.name === 'aufs' || !core.work || !upper.root) {
    // aufs keeps the whiteout under another name: make the object, then drop the whiteout.
    if (core.format.name === 'overlay') await core.format.removeWhiteout(upper, dir.rel, name);
    await make(upper, rel);
    if (isDir) await core.format.setOpaque(upper, rel);
    if (core.format.name === 'aufs') await core.format.removeWhiteout(upper, dir.rel, name);
  } else {
    const work = core.work;
    const tmp = tempName();
    await make(work, tmp);
    if (isDir) await core.format.setOpaque(work, tmp);
    const dest = shortPath(`${upper.root}/${rel}`);
    if (!isDir) {
      await fsp.rename(work.os(tmp), dest);
    } else {
      // A directory cannot be renamed over the whiteout device: swap them, then drop the whiteout.
      const n = native();
      if (n) {
        await n.renameat2(work.os(tmp), dest, RENAME_EXCHANGE);
        await fsp.unlink(work.os(tmp));
      } else {
        await fsp.unlink(dest);
        await fsp.rename(work.os(tmp), dest);
      }
    }
  }
  data.upperWhiteouts.delete(name);
  core.noteUpper(dir, name, type);
  if (isDir) core.forget(dir, name);
}

/** Removes whatever the upper layer holds at `rel` (a file, a whiteout, a whole directory). */
export async function purgeUpper(core: UnionCore, rel: string): Promise<void> {
  const upper = core.layer(UPPER);
  let st: fs.Stats;
  try {
    st = await upper.lstat(rel);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return;
    throw e;
  }
  if (!st.isDirectory()) {
    await upper.unlink(rel);
    return;
  }
  if (core.work && upper.root) {
    // Move it out of the layer in one step, then delete it at leisure.
    const tmp = tempName();
    await fsp.rename(shortPath(`${upper.root}/${rel}`), core.work.os(tmp));
    await rmTree(core.work.real(tmp));
    return;
  }
  await removeTree(upper, rel);
}

async function removeTree(layer: Layer, rel: string): Promise<void> {
  for (const e of await layer.readdir(rel)) {
    const c = childRel(rel, e.name);
    if (e.type === S_IFDIR) await removeTree(layer, c);
    else await layer.unlink(c);
  }
  await layer.rmdir(rel);
}

/**
 * Takes `name` out of the merged view of `dir`: removes its upper instance (files, or a
 * directory whose merged view is empty) and leaves a whiteout when a lower layer has the name.
 */
export async function removeName(core: UnionCore, dir: DirNode, name: string): Promise<void> {
  await ensureUpperDir(core, dir);
  const data = await core.dataOf(dir);
  const upper = core.layer(UPPER);
  const rel = childRel(dir.rel, name);
  const needWhiteout = data.lower.has(name);
  const e = data.entries.get(name);
  const inUpper = e !== undefined && e.layer === UPPER;
  if (!needWhiteout) {
    if (inUpper) await purgeUpper(core, rel);
  } else if (!inUpper) {
    await core.format.makeWhiteout(upper, dir.rel, name);
  } else if (core.format.name === 'overlay' && core.work && upper.root) {
    // Replace the upper instance by a whiteout in one step.
    const n = native();
    const work = core.work;
    const tmp = tempName();
    await core.format.makeWhiteout(work, '', tmp);
    const dest = shortPath(`${upper.root}/${rel}`);
    if (e.type === S_IFDIR && n) {
      await n.renameat2(work.os(tmp), dest, RENAME_EXCHANGE);
      await rmTree(work.real(tmp));
    } else if (e.type === S_IFDIR) {
      await purgeUpper(core, rel);
      await fsp.rename(work.os(tmp), dest);
    } else {
      await fsp.rename(work.os(tmp), dest);
    }
  } else if (core.format.name === 'overlay') {
    // No work directory (a memory layer, where each step is atomic anyway): remove, then white out.
    await purgeUpper(core, rel);
    await core.format.makeWhiteout(upper, dir.rel, name);
  } else {
    // aufs: the whiteout has its own name, so make it first; the upper instance still wins meanwhile.
    await core.format.makeWhiteout(upper, dir.rel, name);
    await purgeUpper(core, rel);
  }
  if (needWhiteout) data.upperWhiteouts.add(name);
  core.noteRemoved(dir, name);
}

/** Whether renameat2(RENAME_WHITEOUT) can move an upper name and leave an overlay whiteout. */
export function canRenameWhiteout(core: UnionCore): boolean {
  return core.format.name === 'overlay' && native() !== null && process.getuid?.() === 0;
}

export { RENAME_WHITEOUT };
