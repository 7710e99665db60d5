// rename(2) across layers, the hardest operation: POSIX checks first, then files move within the
// upper layer (copied up first) leaving a whiteout where a lower layer still has the old name;
// directories with lower parts are copied up whole and made opaque, so renaming them never fails
// with EXDEV and the kernel still sees the same tree in what ufs wrote.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { UPPER, type Resolved, type UnionCore } from './core.js';
import { copyTree, copyUp, ensureUpperDir, tempName } from './copy-up.js';
import { purgeUpper, removeName, canRenameWhiteout } from './entries.js';
import { childRel } from './path.js';
import { fsError } from './errors.js';
import { native, RENAME_WHITEOUT } from './native.js';
import { rmTree, shortPath } from './long-path.js';

const { S_IFDIR, S_IFREG } = fs.constants;

export async function rename(core: UnionCore, oldPath: string, newPath: string): Promise<void> {
  const syscall = 'rename';
  core.writable(syscall, oldPath);
  // Directory renames exclude every other change; file renames only lock their two directories.
  const probe = await core.resolve(oldPath, syscall, false);
  const dirRename = probe.entry?.type === S_IFDIR;
  const releaseTree = dirRename ? await core.treeLock.exclusive() : await core.treeLock.shared();
  try {
    const src = await core.resolve(oldPath, syscall, false);
    const dst = await core.resolve(newPath, syscall, false);
    if (!src.entry) throw fsError('ENOENT', syscall, oldPath, newPath);
    if (!src.dir || !dst.dir) throw fsError('EBUSY', syscall, oldPath, newPath);
    const keys = [`dir:${src.dir.rel}`, `dir:${dst.dir.rel}`];
    await core.mutex.with(keys, () => renameLocked(core, src as Resolved & { entry: NonNullable<Resolved['entry']> }, dst, oldPath, newPath));
  } finally {
    releaseTree();
  }
}

async function renameLocked(
  core: UnionCore,
  src: Resolved & { entry: NonNullable<Resolved['entry']> },
  dst: Resolved,
  oldPath: string,
  newPath: string,
): Promise<void> {
  const syscall = 'rename';
  const srcDir = src.dir!;
  const dstDir = dst.dir!;
  // Re-read both entries under the locks.
  const sdata = await core.dataOf(srcDir);
  const se = sdata.entries.get(src.name);
  if (!se) throw fsError('ENOENT', syscall, oldPath, newPath);
  const ddata = await core.dataOf(dstDir);
  const de = ddata.entries.get(dst.name);
  if (src.path === dst.path) return;
  // Onto one of its own ancestors: the kernel's rename trap gives ENOTEMPTY before any type check.
  if ((src.path + '/').startsWith(dst.path + '/')) throw fsError('ENOTEMPTY', syscall, oldPath, newPath);
  const srcIsDir = se.type === S_IFDIR;
  if (!srcIsDir && (src.trailingSlash || dst.trailingSlash)) throw fsError('ENOTDIR', syscall, oldPath, newPath);
  if (srcIsDir && (dst.path + '/').startsWith(src.path + '/')) throw fsError('EINVAL', syscall, oldPath, newPath);
  if (de) {
    const dstIsDir = de.type === S_IFDIR;
    if (srcIsDir && !dstIsDir) throw fsError('ENOTDIR', syscall, oldPath, newPath);
    if (!srcIsDir && dstIsDir) throw fsError('EISDIR', syscall, oldPath, newPath);
    if (dstIsDir) {
      const inner = await core.dataOf(core.child(dstDir, dst.name));
      if (inner.entries.size > 0) throw fsError('ENOTEMPTY', syscall, oldPath, newPath);
    } else {
      // Two names of one inode: rename does nothing.
      const [a, b] = await Promise.all([core.statEntry(se), core.statEntry(de)]);
      if (a.ino === b.ino && a.nlink > 1) return;
    }
  }
  if (core.format.isReservedName(dst.name)) throw fsError('EPERM', syscall, oldPath, newPath);
  // A replaced lower file with other names: copy its group up first, so they keep one inode.
  if (de && de.layer !== UPPER && de.type === S_IFREG && (await core.layerLstat(de.layer, de.rel)).nlink > 1) {
    await copyUp(core, dstDir, dst.name);
  }
  if (srcIsDir) await renameDir(core, src, dst);
  else await renameFile(core, src, dst);
}

async function renameFile(core: UnionCore, src: Resolved, dst: Resolved): Promise<void> {
  const srcDir = src.dir!;
  const dstDir = dst.dir!;
  const e = await copyUp(core, srcDir, src.name);
  await ensureUpperDir(core, dstDir);
  const upper = core.layer(UPPER);
  const sdata = await core.dataOf(srcDir);
  const ddata = await core.dataOf(dstDir);
  const dstRel = childRel(dstDir.rel, dst.name);
  const needWhiteout = sdata.lower.has(src.name);
  const dstWhited = ddata.upperWhiteouts.has(dst.name);
  if (needWhiteout && canRenameWhiteout(core) && upper.root) {
    // One step: move the file and leave the whiteout behind.
    await native()!.renameat2(shortPath(`${upper.root}/${e.rel}`), shortPath(`${upper.root}/${dstRel}`), RENAME_WHITEOUT);
    sdata.upperWhiteouts.add(src.name);
    core.noteRemoved(srcDir, src.name);
  } else {
    await upper.rename(e.rel, dstRel);
    core.noteRemoved(srcDir, src.name);
    if (needWhiteout) {
      await core.format.makeWhiteout(upper, srcDir.rel, src.name);
      sdata.upperWhiteouts.add(src.name);
    }
  }
  if (dstWhited && core.format.name === 'aufs') await core.format.removeWhiteout(upper, dstDir.rel, dst.name);
  ddata.upperWhiteouts.delete(dst.name);
  core.noteUpper(dstDir, dst.name, e.type);
}

async function renameDir(core: UnionCore, src: Resolved, dst: Resolved): Promise<void> {
  const srcDir = src.dir!;
  const dstDir = dst.dir!;
  const srcNode = core.child(srcDir, src.name);
  const inner = await core.dataOf(srcNode);
  const pureUpper = inner.sources.length === 1 && inner.sources[0]!.layer === UPPER;
  await ensureUpperDir(core, dstDir);
  const upper = core.layer(UPPER);
  const ddata = await core.dataOf(dstDir);
  const dstRel = childRel(dstDir.rel, dst.name);
  const srcRel = childRel(srcDir.rel, src.name);
  // The new name hides whatever lower layers hold under it.
  const dstNeedsOpaque = ddata.lower.has(dst.name) || ddata.upperWhiteouts.has(dst.name);
  if (pureUpper) {
    await purgeUpper(core, dstRel);
    await upper.rename(srcRel, dstRel);
    if (dstNeedsOpaque) await core.format.setOpaque(upper, dstRel);
  } else {
    // Lower parts cannot move in place: copy the merged tree up whole, opaque, under the new name.
    const work = core.work;
    if (work && upper.root) {
      const tmp = tempName();
      try {
        await copyTree(core, srcNode, work, tmp, true);
        await purgeUpper(core, dstRel);
        await fsp.rename(work.os(tmp), shortPath(`${upper.root}/${dstRel}`));
      } catch (e) {
        await rmTree(work.real(tmp)).catch(() => undefined);
        throw e;
      }
    } else {
      await purgeUpper(core, dstRel);
      await copyTree(core, srcNode, upper, dstRel, true);
    }
  }
  if (core.format.name === 'aufs' && ddata.upperWhiteouts.has(dst.name)) await core.format.removeWhiteout(upper, dstDir.rel, dst.name);
  ddata.upperWhiteouts.delete(dst.name);
  core.forget(dstDir, dst.name);
  core.noteUpper(dstDir, dst.name, S_IFDIR);
  // Now take the old name away (the pure-upper one is already gone from the upper layer).
  if (pureUpper) {
    const sdata = await core.dataOf(srcDir);
    if (sdata.lower.has(src.name)) {
      await core.format.makeWhiteout(upper, srcDir.rel, src.name);
      sdata.upperWhiteouts.add(src.name);
    }
    core.noteRemoved(srcDir, src.name);
  } else {
    await removeName(core, srcDir, src.name);
  }
}
