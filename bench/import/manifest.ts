// The import suite's correctness check: a manifest of a tree ("path type size mode" lines, sorted;
// directories without a size) read from a directory or from a ufs view, and the comparison of two.
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Stats } from 'node:fs';

/** What the walk needs of a filesystem: names in a directory and an lstat. */
export interface TreeReader {
  readdir(p: string): Promise<string[]>;
  lstat(p: string): Promise<Stats>;
}

function typeOf(st: Stats): string {
  if (st.isFile()) return 'f';
  if (st.isDirectory()) return 'd';
  if (st.isSymbolicLink()) return 'l';
  if (st.isCharacterDevice()) return 'c';
  if (st.isBlockDevice()) return 'b';
  if (st.isFIFO()) return 'p';
  return 's';
}

/** The manifest of the tree at `root` (an absolute path in `r`), the root itself left out. */
export async function manifestOf(r: TreeReader, root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const names = await r.readdir(rel ? path.posix.join(root, rel) : root);
    const stats = await Promise.all(names.map((n) => r.lstat(path.posix.join(root, rel, n))));
    for (const [i, n] of names.entries()) {
      const st = stats[i]!;
      const p = rel ? `${rel}/${n}` : n;
      const t = typeOf(st);
      out.push(t === 'd' ? `${p} d ${(st.mode & 0o7777).toString(8)}` : `${p} ${t} ${t === 'f' || t === 'l' ? st.size : 0} ${(st.mode & 0o7777).toString(8)}`);
      if (t === 'd') await walk(p);
    }
  };
  await walk('');
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export function manifestOfDir(dir: string): Promise<string[]> {
  return manifestOf({ readdir: (p) => fsp.readdir(p), lstat: (p) => fsp.lstat(p) }, dir);
}

/** Null when `got` equals `want`, else a line saying how they differ (counts and the first differences). */
export function compareManifests(got: string[], want: string[]): string | null {
  const g = new Set(got);
  const w = new Set(want);
  const missing = want.filter((l) => !g.has(l));
  const extra = got.filter((l) => !w.has(l));
  if (!missing.length && !extra.length) return null;
  const show = (ls: string[]): string => ls.slice(0, 3).map((l) => JSON.stringify(l)).join(', ');
  return `the tree has ${got.length} entries, the image ${want.length}: ${missing.length} missing or different${missing.length ? ` (${show(missing)})` : ''}, ${extra.length} extra${extra.length ? ` (${show(extra)})` : ''}`;
}

/** Null when every path of `want` is in `got` (whatever its type), else what is missing. */
export function comparePaths(got: string[], want: string[]): string | null {
  const name = (l: string): string => l.replace(/ [a-z] (\d+ )?\d+$/, '');
  const g = new Set(got.map(name));
  const missing = want.map(name).filter((p) => !g.has(p));
  return missing.length ? `${missing.length} of the image's ${want.length} paths missing (${missing.slice(0, 3).join(', ')})` : null;
}
