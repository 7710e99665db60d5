// The generic diff fallback: compares two full trees (a layer and its parent, as plain Layers) to
// find the changes, and presents them as a changeset Layer in the aufs format for the tar writer.
import fs from 'node:fs';
import type { Change } from './driver.js';
import type { Layer } from '../layers/layer.js';
import { AUFS_OPAQUE, AUFS_WH_PREFIX, type WhiteoutFormat } from '../layers/whiteout.js';
import { fsError, isErrno } from '../errors.js';
import { ChangesetLayer, type ChangesetSpec, type DirSpec } from './changeset-layer.js';

const { S_IFMT, S_IFDIR, S_IFLNK } = fs.constants;

export { ChangesetLayer, type ChangesetSpec, type DirSpec };

function join(rel: string, name: string): string {
  return rel === '' ? name : `${rel}/${name}`;
}

function spec(cs: ChangesetSpec, rel: string): DirSpec {
  let s = cs.get(rel);
  if (!s) {
    s = { names: new Set(), whiteouts: new Set(), opaque: false };
    cs.set(rel, s);
  }
  return s;
}

async function listNames(layer: Layer, rel: string): Promise<Map<string, number>> {
  try {
    const list = await layer.readdir(rel);
    return new Map(list.map((e) => [e.name, e.type]));
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR')) return new Map();
    throw e;
  }
}

async function xattrsOf(layer: Layer, rel: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const n of await layer.listxattr(rel)) {
    const v = await layer.getxattr(rel, n);
    if (v !== null) out.set(n, v.toString('base64'));
  }
  return out;
}

/** Whether an entry present in both trees differs (Docker's rule: no size/mtime for directories). */
async function differs(parent: Layer, child: Layer, rel: string, a: fs.Stats, b: fs.Stats): Promise<boolean> {
  if (a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid || a.rdev !== b.rdev) return true;
  const type = b.mode & S_IFMT;
  if (type !== S_IFDIR) {
    if (a.size !== b.size) return true;
    // Copies made by tools that set times through a double may be off by a fraction of a microsecond.
    if (Math.abs(a.mtimeMs - b.mtimeMs) >= 0.001) return true;
  }
  if (type === S_IFLNK && (await parent.readlink(rel)) !== (await child.readlink(rel))) return true;
  const xa = await xattrsOf(parent, rel);
  const xb = await xattrsOf(child, rel);
  if (xa.size !== xb.size) return true;
  for (const [k, v] of xa) if (xb.get(k) !== v) return true;
  return false;
}

/** The result of comparing a tree with its parent. */
export interface TreeDiff {
  /** Sorted by path, like `docker diff`. */
  changes: Change[];
  /** What a layer holding exactly these changes contains (for ChangesetLayer). */
  changeset: ChangesetSpec;
}

/**
 * Compares `child` (a full tree) with `parent` (a full tree, or null for none). Paths whose
 * contents changed get their parent directories reported as changed too, as Docker does.
 */
export async function compareTrees(parent: Layer | null, child: Layer): Promise<TreeDiff> {
  const changes: Change[] = [];
  const cs: ChangesetSpec = new Map();
  spec(cs, '');

  // A full tree has no whiteouts: a '.wh.' name there would turn into one in the tar.
  function reserved(name: string, p: string): void {
    if (name.startsWith(AUFS_WH_PREFIX)) {
      throw fsError('EINVAL', 'diff', `/${p}`, undefined, `a file named '${name}' (/${p}) cannot be part of a layer: layer tars reserve '.wh.' names for whiteouts; rename or remove it`);
    }
  }

  // Adds every entry below `rel` (a directory new in the child) as added and part of the changeset.
  async function addAll(rel: string): Promise<void> {
    const s = spec(cs, rel);
    const names = [...(await listNames(child, rel)).entries()].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
    for (const [name, type] of names) {
      const p = join(rel, name);
      reserved(name, p);
      s.names.add(name);
      changes.push({ path: `/${p}`, kind: 'A' });
      if (type === S_IFDIR) await addAll(p);
    }
  }

  // Walks a directory present in both trees; returns whether anything below it changed.
  async function walk(rel: string): Promise<boolean> {
    const mine = await listNames(child, rel);
    const theirs = parent ? await listNames(parent, rel) : new Map<string, number>();
    let any = false;
    const names = [...mine.keys()].sort();
    for (const name of names) {
      const p = join(rel, name);
      reserved(name, p);
      const cst = await child.lstat(p);
      const pst = theirs.has(name) && parent ? await parent.lstat(p) : null;
      const isDir = (cst.mode & S_IFMT) === S_IFDIR;
      if (!pst) {
        changes.push({ path: `/${p}`, kind: 'A' });
        spec(cs, rel).names.add(name);
        if (isDir) await addAll(p);
        any = true;
        continue;
      }
      const parentIsDir = (pst.mode & S_IFMT) === S_IFDIR;
      const changed = await differs(parent!, child, p, pst, cst);
      if (isDir && parentIsDir) {
        const at = changes.length;
        const inner = await walk(p);
        if (changed || inner) {
          changes.splice(at, 0, { path: `/${p}`, kind: 'C' });
          spec(cs, rel).names.add(name);
          any = true;
        }
      } else if (changed) {
        changes.push({ path: `/${p}`, kind: 'C' });
        spec(cs, rel).names.add(name);
        if (isDir) {
          // A non-directory replaced by a directory: everything below it is new.
          await addAll(p);
        }
        any = true;
      }
    }
    for (const name of [...theirs.keys()].sort()) {
      if (mine.has(name)) continue;
      changes.push({ path: `/${join(rel, name)}`, kind: 'D' });
      spec(cs, rel).whiteouts.add(name);
      any = true;
    }
    return any;
  }

  await walk('');
  changes.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { changes, changeset: cs };
}

/**
 * Reads what a changeset layer (a layer directory in a whiteout format) contains, as a
 * ChangesetSpec: every name, whiteout and opaque marker, directory by directory.
 */
export async function readChangeset(layer: Layer, format: WhiteoutFormat): Promise<ChangesetSpec> {
  const cs: ChangesetSpec = new Map();
  async function walk(rel: string): Promise<void> {
    const info = await format.readDir(layer, rel);
    cs.set(rel, { names: new Set(info.entries.keys()), whiteouts: new Set(info.whiteouts), opaque: info.opaque });
    for (const [name, type] of info.entries) if (type === S_IFDIR) await walk(join(rel, name));
  }
  await walk('');
  return cs;
}

/** A ChangesetSpec as plain JSON (sorted, so that it is stable on disk). */
export function changesetToJSON(cs: ChangesetSpec): Record<string, { names: string[]; whiteouts: string[]; opaque: boolean }> {
  const out: Record<string, { names: string[]; whiteouts: string[]; opaque: boolean }> = {};
  for (const rel of [...cs.keys()].sort()) {
    const s = cs.get(rel)!;
    out[rel] = { names: [...s.names].sort(), whiteouts: [...s.whiteouts].sort(), opaque: s.opaque };
  }
  return out;
}

export function changesetFromJSON(j: Record<string, { names: string[]; whiteouts: string[]; opaque: boolean }>): ChangesetSpec {
  const cs: ChangesetSpec = new Map();
  for (const [rel, s] of Object.entries(j)) cs.set(rel, { names: new Set(s.names), whiteouts: new Set(s.whiteouts), opaque: s.opaque });
  if (!cs.has('')) cs.set('', { names: new Set(), whiteouts: new Set(), opaque: false });
  return cs;
}

/** Changes a changeset makes, given the parent tree to tell added from changed (`docker diff`). */
export async function changesOfChangeset(cs: ChangesetSpec, parentHas: (rel: string) => Promise<boolean>, listParent: (rel: string) => Promise<string[]>): Promise<Change[]> {
  const out: Change[] = [];
  async function walk(rel: string, parentDirVisible: boolean): Promise<void> {
    const s = cs.get(rel);
    if (!s) return;
    for (const name of s.whiteouts) {
      const p = join(rel, name);
      if (parentDirVisible && (await parentHas(p))) out.push({ path: `/${p}`, kind: 'D' });
    }
    if (s.opaque && parentDirVisible) {
      for (const name of await listParent(rel)) {
        if (!s.names.has(name) && !s.whiteouts.has(name)) out.push({ path: `/${join(rel, name)}`, kind: 'D' });
      }
    }
    for (const name of s.names) {
      const p = join(rel, name);
      const existed = parentDirVisible && !s.opaque && (await parentHas(p));
      out.push({ path: `/${p}`, kind: existed ? 'C' : 'A' });
      if (cs.has(p)) await walk(p, existed);
    }
  }
  await walk('', true);
  out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return out;
}

/** Whether a name is one of the aufs markers (never a user entry in an aufs-format changeset). */
export function isAufsMarker(name: string): boolean {
  return name.startsWith(AUFS_WH_PREFIX) || name === AUFS_OPAQUE;
}

/** Bytes of file data a changeset layer carries (regular files and symlinks, hard links once). */
export async function layerDataSize(layer: Layer, format: WhiteoutFormat): Promise<number> {
  const seen = new Set<number>();
  let total = 0;
  async function walk(rel: string): Promise<void> {
    const info = await format.readDir(layer, rel);
    for (const [name, type] of info.entries) {
      const p = join(rel, name);
      if (type === S_IFDIR) {
        await walk(p);
        continue;
      }
      if (type !== fs.constants.S_IFREG && type !== S_IFLNK) continue;
      const st = await layer.lstat(p);
      if (st.nlink > 1) {
        if (seen.has(st.ino)) continue;
        seen.add(st.ino);
      }
      total += st.size;
    }
  }
  await walk('');
  return total;
}
