// Copy-up: bringing a lower file or directory into the upper layer before its first change.
// Parents first; each object is made complete in the work directory (data, mode, owner, xattrs,
// times, origin) and renamed into place, so no reader and no crash sees a half-copied object.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import type { Layer } from './layers/layer.js';
import { UPPER, ORIGIN_XATTR, type DirNode, type Entry, type UnionCore } from './core.js';
import { childRel, parentRel } from './path.js';
import { fsError, isErrno } from './errors.js';
import { overlayXattrPrefix } from './layers/whiteout-overlay.js';
import { rmTree, shortPath } from './long-path.js';

const { S_IFDIR, S_IFREG, S_IFLNK, S_IFMT } = fs.constants;
const isRoot = process.getuid?.() === 0;

/** Listeners told when an inode moved to the upper layer (open handles re-point themselves). */
export type CopyUpListener = (unionIno: number, upperRel: string) => Promise<void>;

export function tempName(): string {
  return `ufs-${process.pid}-${randomBytes(6).toString('hex')}`;
}

/**
 * Runs `make(layer, rel)` to build an object, then puts it at `upperRel`: built in the work
 * directory and renamed into place when there is one, built in place otherwise (memory layers).
 */
export async function buildIntoUpper(core: UnionCore, upperRel: string, make: (layer: Layer, rel: string) => Promise<void>): Promise<void> {
  const upper = core.layer(UPPER);
  const work = core.work;
  // A copy-up is no change to the directory holding the object: keep its times (as the kernel does).
  const parent = parentRel(upperRel);
  const pst = await upper.lstat(parent);
  if (!work || !upper.root) {
    await make(upper, upperRel);
  } else {
    const tmp = tempName();
    try {
      await make(work, tmp);
      await fsp.rename(work.os(tmp), shortPath(`${upper.root}/${upperRel}`));
    } catch (e) {
      await rmTree(work.real(tmp)).catch(() => undefined);
      throw e;
    }
  }
  for (const w of core.copiedUpWatchers) w(upperRel);
  await upper.lutimes(parent, pst.atime, pst.mtime);
}

/** Copies user-visible xattrs (not the formats' own) of `src` in layer `from` to `dst` in `to`. */
async function copyXattrs(core: UnionCore, from: Layer, src: string, to: Layer, dst: string): Promise<void> {
  let names: string[];
  try {
    names = await from.listxattr(src);
  } catch {
    return;
  }
  for (const n of names) {
    if (core.format.isPrivateXattr(n) || n.startsWith('security.')) continue;
    const v = await from.getxattr(src, n);
    if (v === null) continue;
    try {
      await to.setxattr(dst, n, v);
    } catch (e) {
      if (!isErrno(e, 'ENOTSUP', 'EOPNOTSUPP', 'EPERM')) throw e;
    }
  }
}

/** Makes `rel` in `to` carry `st`'s owner, mode and times, and ufs's origin record. */
async function copyMeta(core: UnionCore, to: Layer, rel: string, st: fs.Stats, unionIno: number): Promise<void> {
  const type = st.mode & S_IFMT;
  if (isRoot) await to.lchown(rel, st.uid, st.gid);
  if (type !== S_IFLNK) await to.chmod(rel, st.mode & 0o7777);
  if (type !== S_IFLNK && (core.format.usesXattrs || (await to.supportsXattrs()))) {
    await to.setxattr(rel, ORIGIN_XATTR, Buffer.from(String(unionIno))).catch(() => undefined);
  }
  await to.lutimes(rel, st.atime, st.mtime);
}

/** Ensures the directory `node` exists in the upper layer, copying it (and its parents) up. */
export async function ensureUpperDir(core: UnionCore, node: DirNode): Promise<void> {
  const data = await core.dataOf(node);
  if (data.upperDir) return;
  if (node.parent) await ensureUpperDir(core, node.parent);
  const rel = node.rel;
  await core.mutex.with(`cu:${rel}`, async () => {
    const d = await core.dataOf(node);
    if (d.upperDir) return;
    const src = d.sources[0]!;
    const from = core.layer(src.layer);
    const st = await core.layerLstat(src.layer, src.rel);
    const ino = await core.unionIno(src.layer, src.rel, st);
    await buildIntoUpper(core, rel, async (l, r) => {
      await l.mkdir(r, 0o700);
      await copyXattrs(core, from, src.rel, l, r);
      await copyMeta(core, l, r, st, ino);
    });
    core.noteUpperDir(node, false);
    if (node.parent) core.noteUpper(node.parent, node.name, S_IFDIR);
  });
}

/** Writes a copy of the non-directory `e` (from a lower layer) at `rel` in layer `to`. */
async function copyObject(core: UnionCore, e: Entry, to: Layer, rel: string, st: fs.Stats, ino: number): Promise<void> {
  const from = core.layer(e.layer);
  const type = st.mode & S_IFMT;
  if (type === S_IFREG) {
    await to.copyFileFrom(from, e.rel, rel);
  } else if (type === S_IFLNK) {
    await to.symlink(await core.layerReadlink(e.layer, e.rel), rel);
  } else {
    await to.mknod(rel, st.mode, st.rdev);
  }
  await copyXattrs(core, from, e.rel, to, rel);
  await copyMeta(core, to, rel, st, ino);
}

/**
 * Copies the non-directory `name` of directory `dir` up (when it is not in the upper layer yet)
 * and returns its upper entry. Two callers copying the same file wait for one copy. A lower file
 * with several names (hard links within its layer) is copied once and every name of it that the
 * union shows becomes a hard link to the copy, so the names stay one inode (as the kernel does
 * with index=on, but leaving an upper layer that needs no index to be read).
 */
export async function copyUp(core: UnionCore, dir: DirNode, name: string, metaOnly = false): Promise<Entry> {
  await ensureUpperDir(core, dir);
  const rel = childRel(dir.rel, name);
  const first = (await core.dataOf(dir)).entries.get(name);
  let groupKey = '';
  if (first && first.layer !== UPPER && first.type === S_IFREG) {
    const st = await core.layerLstat(first.layer, first.rel);
    if (st.nlink > 1) groupKey = `cu:ino:${first.layer}:${st.ino}`;
  }
  return core.mutex.with(groupKey ? [`cu:${rel}`, groupKey] : `cu:${rel}`, async () => {
    const data = await core.dataOf(dir);
    const e = data.entries.get(name);
    if (!e) throw fsError('ENOENT', 'copyup', '/' + rel);
    if (e.layer === UPPER) {
      if (!metaOnly && e.type === S_IFREG && (await core.isMetacopy(e.rel))) await completeMetacopy(core, dir, name, e);
      return e;
    }
    if (e.type === S_IFDIR) {
      await ensureUpperDir(core, core.child(dir, name));
      return data.entries.get(name)!;
    }
    const st = await core.layerLstat(e.layer, e.rel);
    const ino = await core.unionIno(e.layer, e.rel, st);
    if (metaOnly && core.metacopy && e.type === S_IFREG && st.nlink === 1) {
      await buildIntoUpper(core, rel, (l, r) => copyMetaOnly(core, e, l, r, st, ino));
    } else {
      await buildIntoUpper(core, rel, (l, r) => copyObject(core, e, l, r, st, ino));
    }
    const ust = await core.layer(UPPER).lstat(rel);
    core.originIno.set(ust.ino, ino);
    core.noteUpper(dir, name, e.type);
    if (st.nlink > 1 && e.type === S_IFREG) await linkSiblings(core, e, st, rel);
    for (const l of core.copyUpListeners) await l(ino, rel);
    return data.entries.get(name) ?? { layer: UPPER, type: e.type, rel };
  });
}

/** The metadata of lower file `e` at `rel` in `to`: right size (sparse), no data, the metacopy mark. */
async function copyMetaOnly(core: UnionCore, e: Entry, to: Layer, rel: string, st: fs.Stats, ino: number): Promise<void> {
  const h = await to.open(rel, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, 0o600);
  try {
    await h.truncate(st.size);
  } finally {
    await h.close();
  }
  await copyXattrs(core, core.layer(e.layer), e.rel, to, rel);
  await to.setxattr(rel, overlayXattrPrefix() + 'metacopy', Buffer.alloc(0));
  await copyMeta(core, to, rel, st, ino);
}

/** Brings the data of a metacopy upper file up from the lower layer that holds it. */
async function completeMetacopy(core: UnionCore, dir: DirNode, name: string, e: Entry): Promise<void> {
  const data = await core.dataOf(dir);
  const src = data.lower.get(name);
  const upper = core.layer(UPPER);
  const st = await upper.lstat(e.rel);
  const ino = await core.unionIno(UPPER, e.rel, st);
  await buildIntoUpper(core, e.rel, async (l, r) => {
    if (src) await l.copyFileFrom(core.layer(src.layer), src.rel, r);
    else await (await l.open(r, fs.constants.O_CREAT | fs.constants.O_WRONLY, 0o600)).close();
    await copyXattrs(core, upper, e.rel, l, r);
    await l.removexattr(r, overlayXattrPrefix() + 'metacopy').catch(() => undefined);
    await copyMeta(core, l, r, st, ino);
  });
  const ust = await upper.lstat(e.rel);
  core.originIno.set(ust.ino, ino);
  for (const l of core.copyUpListeners) await l(ino, e.rel);
}

/** Every path of each multiply-linked regular file of a lower layer, by inode (built once per layer). */
async function linkMap(core: UnionCore, layer: number): Promise<Map<number, string[]>> {
  const cached = core.lowerLinkMaps.get(layer);
  if (cached) return cached;
  const map = new Map<number, string[]>();
  const l = core.layer(layer);
  const walk = async (rel: string): Promise<void> => {
    for (const d of await l.readdir(rel)) {
      const c = childRel(rel, d.name);
      if (d.type === S_IFDIR) await walk(c);
      else if (d.type === S_IFREG) {
        const st = await core.layerLstat(layer, c);
        if (st.nlink > 1) map.set(st.ino, [...(map.get(st.ino) ?? []), c]);
      }
    }
  };
  await walk('');
  core.lowerLinkMaps.set(layer, map);
  return map;
}

/** Links the other visible names of a copied-up lower inode to its upper copy at `upperRel`. */
async function linkSiblings(core: UnionCore, e: Entry, st: fs.Stats, upperRel: string): Promise<void> {
  const names = (await linkMap(core, e.layer)).get(st.ino) ?? [];
  for (const other of names) {
    if (other === e.rel) continue;
    // Only names the union shows as this very lower file (not hidden, not replaced above).
    const r = await core.resolve('/' + other, 'link', false).catch(() => null);
    if (!r || !r.dir || !r.entry || r.entry.layer !== e.layer || r.entry.rel !== other) continue;
    await ensureUpperDir(core, r.dir);
    const upper = core.layer(UPPER);
    const pst = await upper.lstat(r.dir.rel);
    await upper.link(upperRel, other);
    for (const w of core.copiedUpWatchers) w(other);
    await upper.lutimes(r.dir.rel, pst.atime, pst.mtime);
    core.noteUpper(r.dir, r.name, S_IFREG);
  }
}

/**
 * Copies the whole merged tree of directory `src` into `to` at `rel` (for renaming a directory
 * that has lower parts). Upper files are hard-linked into the new tree, not copied, and lower files
 * with other names are copied up as a group first, so every file keeps its inode and link count.
 */
export async function copyTree(core: UnionCore, src: DirNode, to: Layer, rel: string, opaqueRoot = false): Promise<void> {
  const upper = core.layer(UPPER);
  const walk = async (node: DirNode, dst: string): Promise<void> => {
    const data = await core.dataOf(node);
    const top = data.sources[0]!;
    const st = await core.layerLstat(top.layer, top.rel);
    await to.mkdir(dst, 0o700);
    for (const name of [...data.entries.keys()]) {
      let e = data.entries.get(name)!;
      const d = childRel(dst, name);
      if (e.type === S_IFDIR) {
        await walk(core.child(node, name), d);
        continue;
      }
      const est = await core.layerLstat(e.layer, e.rel);
      const grouped = e.layer !== UPPER && e.type === S_IFREG && est.nlink > 1;
      if (grouped || (e.layer === UPPER && e.type === S_IFREG && (await core.isMetacopy(e.rel)))) e = await copyUp(core, node, name);
      if (e.layer === UPPER) {
        if (to === upper || !upper.root || !to.root) await upper.link(e.rel, d);
        else await fsp.link(shortPath(`${upper.root}/${e.rel}`), shortPath(`${to.root}/${d}`));
        continue;
      }
      await copyObject(core, e, to, d, est, await core.unionIno(e.layer, e.rel, est));
    }
    await copyXattrs(core, core.layer(top.layer), top.rel, to, dst);
    // Marked opaque before its times are set: an aufs marker file would change them.
    if (opaqueRoot && dst === rel) await core.format.setOpaque(to, dst);
    await copyMeta(core, to, dst, st, await core.unionIno(top.layer, top.rel, st));
  };
  await walk(src, rel);
}
