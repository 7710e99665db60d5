// Real paths longer than the kernel takes (PATH_MAX, 4096 bytes with the NUL): a layer root plus a
// union path near PATH_MAX, or a FUSE path from the mount root. Node has no *at calls, so such a
// path is shortened through a private directory of symlinks: `<dir>/<n>` -> a long absolute prefix
// of the path (cut at a component boundary), and the call uses `<dir>/<n>/<rest>`. The kernel
// resolves the link by name on every call, so this means exactly what the full path means (a
// rename of one of the prefix's directories is seen), and the last component is never the link, so
// l* calls and O_NOFOLLOW act on the object itself. Paths that fit are returned as they are.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isErrno } from './errors.js';

/** Longest path (bytes, without the NUL) the kernel takes. */
const FITS = 4095;
/** Longest prefix a link points to: its target, and `<dir>/<n>/` before the rest, stay short. */
const PREFIX_MAX = 3800;
/** Links kept before the ones unused for LINK_TTL_MS are removed. */
const LINKS_SOFT_CAP = 1024;
const LINK_TTL_MS = 60_000;
const DIR_PREFIX = 'ufs-lp-';

interface Link {
  name: string;
  used: number;
}

let dir: string | null = null;
let counter = 0;
let exitHooked = false;
const links = new Map<string, Link>();

/** Removes this process's link directory now (it is made again when needed); also done at exit. */
export function closeLongPaths(): void {
  removeDir();
}

function removeDir(): void {
  if (dir === null) return;
  try {
    fs.rmSync(dir, { recursive: true, force: true });
  } catch { /* best effort at exit */ }
  dir = null;
  links.clear();
}

/** Removes link directories left by processes that died without their exit handler. */
function sweepStale(base: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(base);
  } catch {
    return;
  }
  for (const n of names) {
    const m = /^ufs-lp-(\d+)-/.exec(n);
    if (!m || Number(m[1]) === process.pid) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch (e) {
      if (!isErrno(e, 'ESRCH')) continue;
      try {
        const p = path.join(base, n);
        if (fs.lstatSync(p).uid === process.getuid?.()) fs.rmSync(p, { recursive: true, force: true });
      } catch { /* someone else's, or gone */ }
    }
  }
}

function linkDir(): string {
  if (dir !== null) return dir;
  let base = os.tmpdir();
  if (Buffer.byteLength(base) > 256 || !path.isAbsolute(base)) base = '/tmp';
  sweepStale(base);
  dir = fs.mkdtempSync(path.join(base, `${DIR_PREFIX}${process.pid}-`));
  fs.chmodSync(dir, 0o700);
  if (!exitHooked) process.once('exit', removeDir);
  exitHooked = true;
  return dir;
}

/** Drops links unused for a while once there are many (names are never reused: a late user fails ENOENT). */
function prune(now: number): void {
  if (links.size < LINKS_SOFT_CAP) return;
  for (const [prefix, l] of links) {
    if (now - l.used < LINK_TTL_MS) continue;
    links.delete(prefix);
    try {
      fs.unlinkSync(path.join(dir!, l.name));
    } catch { /* already gone */ }
  }
}

/** The link standing for `prefix` (an absolute directory path that fits), made when missing. */
function linkTo(prefix: string): string {
  const d = linkDir();
  const now = Date.now();
  const known = links.get(prefix);
  if (known) {
    known.used = now;
    return `${d}/${known.name}`;
  }
  prune(now);
  const name = String(++counter);
  fs.symlinkSync(prefix, `${d}/${name}`);
  links.set(prefix, { name, used: now });
  return `${d}/${name}`;
}

/** The offset of the last '/' of `p` within its first `max` bytes (-1 when none). */
function cut(p: string, max: number): number {
  if (Buffer.byteLength(p) === p.length) return p.lastIndexOf('/', max);
  // '/' is never part of a multi-byte UTF-8 sequence: find it among the bytes, then count characters.
  const b = Buffer.from(p);
  const i = b.lastIndexOf(0x2f, max);
  return i < 0 ? -1 : b.subarray(0, i).toString('utf8').length;
}

/**
 * A path the kernel takes for the absolute path `p`: `p` itself when it fits, else one that goes
 * through links to long prefixes of it. Relative paths and paths that fit are returned unchanged.
 */
export function shortPath(p: string): string {
  if (p.length <= FITS / 3 || Buffer.byteLength(p) <= FITS || !p.startsWith('/')) return p;
  let cur = p;
  while (Buffer.byteLength(cur) > FITS) {
    const i = cut(cur, PREFIX_MAX);
    if (i <= 0) return cur;
    const prefix = cur.slice(0, i).replace(/\/+$/, '');
    const rest = cur.slice(i + 1).replace(/^\/+/, '');
    // No '/' far enough in (a component longer than any name): nothing to gain, let the kernel say so.
    if (rest === '' || Buffer.byteLength(prefix) <= Buffer.byteLength(linkDir()) + 16) return cur;
    cur = `${linkTo(prefix)}/${rest}`;
  }
  return cur;
}

/** Whether `p` needs shortening (for callers that do something other than one call with it). */
export function isLongPath(p: string): boolean {
  return p.length > FITS / 3 && Buffer.byteLength(p) > FITS;
}

/**
 * `rm -rf p` that also works when the tree under `p` is deeper than PATH_MAX from `p` (where
 * node's own fs.rm fails with ENAMETOOLONG): it walks down with shortened paths.
 */
export async function rmTree(p: string): Promise<void> {
  try {
    await fsp.rm(shortPath(p), { recursive: true, force: true });
    return;
  } catch (e) {
    if (!isErrno(e, 'ENAMETOOLONG')) throw e;
  }
  const walk = async (d: string): Promise<void> => {
    let st: fs.Stats;
    try {
      st = await fsp.lstat(shortPath(d));
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return;
      throw e;
    }
    if (!st.isDirectory()) {
      await fsp.unlink(shortPath(d));
      return;
    }
    for (const n of await fsp.readdir(shortPath(d))) await walk(`${d}/${n}`);
    await fsp.rmdir(shortPath(d));
  };
  await walk(p);
}

/**
 * fs.mkdir for a path that may be past PATH_MAX. With `recursive`, node would walk up the shortened
 * path (whose links may point to directories that do not exist yet): walk the real one instead.
 * Resolves like fs.mkdir (the first directory made, with `recursive`).
 */
export async function mkdirLong(p: string, opts?: fs.MakeDirectoryOptions | number): Promise<string | undefined> {
  const o = typeof opts === 'number' ? { mode: opts } : (opts ?? {});
  if (!o.recursive || !isLongPath(p)) return fsp.mkdir(shortPath(p), o);
  let first: string | undefined;
  const parts = p.split('/');
  for (let i = 2; i <= parts.length; i++) {
    const d = parts.slice(0, i).join('/');
    if (d === '' || parts[i - 1] === '') continue;
    try {
      await fsp.mkdir(shortPath(d), o.mode === undefined ? {} : { mode: o.mode });
      first ??= d;
    } catch (e) {
      if (!isErrno(e, 'EEXIST') || !(await fsp.stat(shortPath(d))).isDirectory()) throw e;
    }
  }
  return first;
}

/** The link directory of this process, or null before any long path was seen (for tests). */
export function longPathDir(): string | null {
  return dir;
}
