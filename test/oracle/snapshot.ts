// Oracle snapshots: a whole tree walked through an fs/promises-shaped API into a comparable,
// sorted record (type, mode, size, content hash, link target, nlink, uid/gid, mtime bucket).
import { createHash } from 'node:crypto';
import { timeBucket, typeName, type FsLike, type Target } from './ops.js';

export interface EntrySnapshot {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number | 'recent';
  /** Non-directories only: a directory's size is filesystem-specific. */
  size?: number;
  /** Regular files only. */
  sha256?: string;
  /** Symlinks only. */
  target?: string;
  /** Non-directories only: overlayfs reports merged directories' nlink specially. */
  nlink?: number;
}

/** Relative path (no leading '/', root excluded) → entry, in sorted path order. */
export type TreeSnapshot = Record<string, EntrySnapshot>;

/** Walks the tree under `t.p('')` (the root itself is left out: its attributes are the host's). */
export async function snapshotTree(t: Target): Promise<TreeSnapshot> {
  const fs: FsLike = t.fs;
  const out: TreeSnapshot = {};
  const walk = async (dir: string): Promise<void> => {
    const names = (await fs.readdir(t.p(dir))).map(String).sort();
    for (const name of names) {
      const rel = dir === '' ? name : `${dir}/${name}`;
      const st = await fs.lstat(t.p(rel));
      const type = typeName(st.mode);
      const e: EntrySnapshot = { type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: timeBucket(st.mtimeMs) };
      if (type !== 'dir') {
        e.size = Number(st.size);
        e.nlink = st.nlink;
      }
      if (type === 'file') {
        const data = await fs.readFile(t.p(rel));
        e.sha256 = createHash('sha256').update(typeof data === 'string' ? Buffer.from(data) : data).digest('hex');
      }
      if (type === 'symlink') e.target = await fs.readlink(t.p(rel));
      out[rel] = e;
      if (type === 'dir') await walk(rel);
    }
  };
  await walk('');
  const sorted: TreeSnapshot = {};
  for (const k of Object.keys(out).sort()) sorted[k] = out[k]!;
  return sorted;
}

/** Human-readable differences between two snapshots (empty when equal). */
export function diffSnapshots(a: TreeSnapshot, b: TreeSnapshot, labelA = 'A', labelB = 'B'): string[] {
  const diffs: string[] = [];
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  for (const k of keys) {
    const ea = a[k];
    const eb = b[k];
    if (!ea) diffs.push(`${k}: only in ${labelB} ${JSON.stringify(eb)}`);
    else if (!eb) diffs.push(`${k}: only in ${labelA} ${JSON.stringify(ea)}`);
    else {
      const fields = [...new Set([...Object.keys(ea), ...Object.keys(eb)])] as (keyof EntrySnapshot)[];
      for (const f of fields) {
        if (ea[f] !== eb[f]) diffs.push(`${k}: ${f} ${labelA}=${JSON.stringify(ea[f])} ${labelB}=${JSON.stringify(eb[f])}`);
      }
    }
  }
  return diffs;
}
