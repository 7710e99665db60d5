// Whole-tree operations the drivers share: exact copies (GNU cp -a, reflinked where possible),
// merging a staged changeset into a full tree, disk usage, and facts about the backing filesystem.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { DirLayer } from '../layers/dir-layer.js';
import { aufsFormat } from '../layers/whiteout-aufs.js';
import { native } from '../native.js';
import { fsError, isErrno } from '../errors.js';
import { rmTree, shortPath } from '../long-path.js';

const { S_IFMT, S_IFDIR, S_IFREG, S_IFLNK } = fs.constants;

/** Runs a command; rejects with its stderr (one line) when it fails. */
export function run(cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.cwd });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('error', (e) => reject(e));
    c.on('close', (code) => {
      if (code === 0) resolve(out);
      else reject(fsError('EIO', cmd, undefined, undefined, `${cmd} ${args.join(' ')}: ${err.trim().split('\n')[0] ?? `exit ${code}`}`));
    });
  });
}

let cpWorks: boolean | undefined;

/**
 * Copies the tree `src` to `dst` (which must not exist) keeping everything: modes, owners,
 * nanosecond times, xattrs, hard links, devices; file data reflinked when the filesystem can.
 */
export async function copyTree(src: string, dst: string): Promise<void> {
  if (cpWorks !== false) {
    try {
      await run('cp', ['-a', '--reflink=auto', '--', src, dst]);
      cpWorks = true;
      return;
    } catch (e) {
      if (cpWorks === undefined && isErrno(e, 'ENOENT')) cpWorks = false;
      else throw e;
    }
  }
  // No GNU cp: node's copy keeps data, modes and (to the microsecond) times, not owners or xattrs.
  await fsp.cp(src, dst, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true, mode: fs.constants.COPYFILE_FICLONE });
}

/** Removes a tree; missing is fine. Paths past PATH_MAX (in or under it) are walked shortened. */
export async function removeTree(p: string): Promise<void> {
  try {
    await fsp.rm(shortPath(p), { recursive: true, force: true, maxRetries: 3 });
  } catch (e) {
    if (!isErrno(e, 'ENAMETOOLONG')) throw e;
    await rmTree(p);
  }
}

async function lstatOrNull(p: string): Promise<fs.Stats | null> {
  try {
    return await fsp.lstat(shortPath(p));
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR')) return null;
    throw e;
  }
}

/** A directory's metadata, captured before its content changes (which moves its mtime). */
export interface DirMetadata {
  st: fs.Stats;
  xattrs: Map<string, Buffer>;
}

export async function readDirMetadata(real: string): Promise<DirMetadata> {
  const src = shortPath(real);
  const st = await fsp.lstat(src);
  const xattrs = new Map<string, Buffer>();
  const n = native();
  if (n) {
    try {
      for (const name of await n.llistxattr(src)) xattrs.set(name, await n.lgetxattr(src, name));
    } catch (e) {
      if (!isErrno(e, 'ENOTSUP', 'EOPNOTSUPP')) throw e;
    }
  }
  return { st, xattrs };
}

/** Gives directory `dst` the mode, owner, xattrs and times captured in `md`. */
export async function applyDirMetadata(md: DirMetadata, real: string): Promise<void> {
  const { st, xattrs } = md;
  const dst = shortPath(real);
  await fsp.chmod(dst, st.mode & 0o7777);
  if (process.getuid?.() === 0) await fsp.lchown(dst, st.uid, st.gid);
  const n = native();
  if (n) {
    try {
      for (const name of await n.llistxattr(dst)) if (!xattrs.has(name)) await n.lremovexattr(dst, name);
      for (const [name, v] of xattrs) await n.lsetxattr(dst, name, v, 0);
    } catch (e) {
      if (!isErrno(e, 'ENOTSUP', 'EOPNOTSUPP')) throw e;
    }
  }
  await fsp.utimes(dst, st.atime, st.mtime);
}

/**
 * Moves a staged changeset (a directory in the aufs format, as a tar applies into) into the full
 * tree `target`: whiteouts and opaque directories delete, entries replace. Empties `staged`.
 */
export async function mergeStagedIntoTree(staged: string, target: string): Promise<void> {
  const layer = new DirLayer(staged);
  async function merge(rel: string): Promise<void> {
    const info = await aufsFormat.readDir(layer, rel);
    // Captured first: moving the children out changes the staged directory's times.
    const md = await readDirMetadata(layer.real(rel));
    const tdir = rel === '' ? target : path.join(target, rel);
    if (info.opaque) {
      for (const name of await fsp.readdir(shortPath(tdir))) if (!info.entries.has(name)) await removeTree(path.join(tdir, name));
    }
    for (const name of info.whiteouts) await removeTree(path.join(tdir, name));
    for (const [name, type] of info.entries) {
      const s = layer.real(rel === '' ? name : `${rel}/${name}`);
      const t = path.join(tdir, name);
      const tst = await lstatOrNull(t);
      if (type === S_IFDIR && tst && (tst.mode & S_IFMT) === S_IFDIR) {
        await merge(rel === '' ? name : `${rel}/${name}`);
        continue;
      }
      if (tst && (tst.mode & S_IFMT) === S_IFDIR) await removeTree(t);
      await fsp.rename(shortPath(s), shortPath(t));
    }
    await applyDirMetadata(md, tdir);
  }
  await merge('');
}

/** Bytes of file data under `dir` (regular files and symlinks, hard links counted once). */
export async function diskUsage(dir: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  async function walk(d: string): Promise<void> {
    let list: fs.Dirent[];
    try {
      list = await fsp.readdir(shortPath(d), { withFileTypes: true });
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return;
      throw e;
    }
    for (const e of list) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        await walk(p);
        continue;
      }
      const st = await fsp.lstat(shortPath(p));
      const type = st.mode & S_IFMT;
      if (type !== S_IFREG && type !== S_IFLNK) continue;
      const key = `${st.dev}:${st.ino}`;
      if (st.nlink > 1) {
        if (seen.has(key)) continue;
        seen.add(key);
      }
      total += st.size;
    }
  }
  await walk(dir);
  return total;
}

const FS_MAGIC: Record<number, string> = {
  0xef53: 'extfs',
  0x58465342: 'xfs',
  0x9123683e: 'btrfs',
  0x01021994: 'tmpfs',
  0x794c7630: 'overlayfs',
  0x2fc12fc1: 'zfs',
  0xf2f52010: 'f2fs',
  0x65735546: 'fuse',
  0x6969: 'nfs',
  0x5346544e: 'ntfs',
  0x4d44: 'vfat',
  0xff534d42: 'cifs',
};

/** The name of the filesystem holding `p` (what Docker calls the backing filesystem). */
export async function backingFs(p: string): Promise<string> {
  const st = await fsp.statfs(p);
  return FS_MAGIC[st.type] ?? `0x${st.type.toString(16)}`;
}

/** Whether files under `dir` can be reflinked (probed once per directory). */
const reflinkCache = new Map<string, boolean>();
export async function canReflink(dir: string): Promise<boolean> {
  const hit = reflinkCache.get(dir);
  if (hit !== undefined) return hit;
  const a = path.join(dir, `.ufs-reflink-${process.pid}-a`);
  const b = path.join(dir, `.ufs-reflink-${process.pid}-b`);
  let ok = false;
  try {
    await fsp.writeFile(a, 'x');
    await fsp.copyFile(a, b, fs.constants.COPYFILE_FICLONE_FORCE);
    ok = true;
  } catch {
    ok = false;
  } finally {
    await fsp.rm(a, { force: true });
    await fsp.rm(b, { force: true });
  }
  reflinkCache.set(dir, ok);
  return ok;
}

/** A random hex id of `bytes` bytes. */
export function randomId(bytes = 16): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))].map((x) => x.toString(16).padStart(2, '0')).join('');
}
