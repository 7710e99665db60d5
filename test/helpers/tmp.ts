// Temp directories for tests, removed at the end, and small tree-building and tree-reading helpers
// that work on real directories (and, through an fs-like object, on a union).
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';

const made: string[] = [];

export async function tempDir(prefix = 'ufs-test-'): Promise<string> {
  const d = await fsp.mkdtemp(path.join(os.tmpdir(), prefix));
  made.push(d);
  return d;
}

export async function cleanupTemps(): Promise<void> {
  for (const d of made.splice(0)) await fsp.rm(d, { recursive: true, force: true }).catch(() => undefined);
}

/** A spec of a layer: path → file content, `{ dir }`, `{ link }`, `{ whiteout }`, `{ opaque }` (dirs). */
export type Spec = Record<string, string | { dir: true; opaque?: boolean } | { link: string } | { whiteout: true }>;

/** Writes a layer from a spec in the given whiteout format (overlay needs root for mknod/trusted xattrs). */
export async function writeLayer(root: string, spec: Spec, format: 'aufs' | 'overlay'): Promise<void> {
  await fsp.mkdir(root, { recursive: true });
  for (const [p, v] of Object.entries(spec)) {
    const full = path.join(root, p);
    await fsp.mkdir(path.dirname(full), { recursive: true });
    if (typeof v === 'string') await fsp.writeFile(full, v);
    else if ('dir' in v) {
      await fsp.mkdir(full, { recursive: true });
      if (v.opaque) {
        if (format === 'aufs') await fsp.writeFile(path.join(full, '.wh..wh..opq'), '');
        else execFileSync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', full]);
      }
    } else if ('link' in v) await fsp.symlink(v.link, full);
    else if (format === 'aufs') await fsp.writeFile(path.join(path.dirname(full), '.wh.' + path.basename(full)), '');
    else execFileSync('mknod', [full, 'c', '0', '0']);
  }
}

export interface TreeEntry {
  type: string;
  mode: number;
  size?: number;
  sha?: string;
  link?: string;
}

interface FsLike {
  readdir(p: string): Promise<string[]>;
  lstat(p: string): Promise<fs.Stats>;
  readFile(p: string): Promise<Buffer | string>;
  readlink(p: string): Promise<string>;
}

/** Reads a whole tree through an fs-like API into a comparable object. */
export async function readTree(fsl: FsLike, root: string): Promise<Record<string, TreeEntry>> {
  const out: Record<string, TreeEntry> = {};
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const name of (await fsl.readdir(dir)).sort()) {
      const p = dir === '/' ? `/${name}` : `${dir}/${name}`;
      const r = rel ? `${rel}/${name}` : name;
      const st = await fsl.lstat(p);
      const e: TreeEntry = { type: st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'link' : st.isFile() ? 'file' : 'other', mode: st.mode & 0o7777 };
      if (st.isFile()) {
        const data = await fsl.readFile(p);
        e.size = st.size;
        e.sha = createHash('sha256').update(data).digest('hex').slice(0, 16);
      }
      if (st.isSymbolicLink()) e.link = await fsl.readlink(p);
      out[r] = e;
      if (st.isDirectory()) await walk(p, r);
    }
  };
  await walk(root, '');
  return out;
}

export const isRoot = process.getuid?.() === 0;
export const hasOverlay = fs.existsSync('/proc/filesystems') && fs.readFileSync('/proc/filesystems', 'utf8').includes('overlay');
