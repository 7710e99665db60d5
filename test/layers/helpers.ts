// Shared helpers of the image-format tests: temp dirs, running real tools, tree snapshots to compare
// (names, types, modes, owners, sizes, content hashes, link targets, xattrs), and a reference merge.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { execFile, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Readable } from 'node:stream';
import { native } from '../../lib/native.js';
import { DirLayer } from '../../lib/layers/dir-layer.js';
import type { WhiteoutFormat } from '../../lib/layers/whiteout.js';

export const isRoot = process.getuid?.() === 0;
export const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

const made: string[] = [];
export async function tempDir(prefix = 'ufs-layers-'): Promise<string> {
  const d = await fsp.mkdtemp(path.join(os.tmpdir(), prefix));
  made.push(d);
  return d;
}
/** Removes every temp dir made so far (call in afterAll). */
export async function cleanupTemp(): Promise<void> {
  for (const d of made.splice(0)) await fsp.rm(d, { recursive: true, force: true });
}

export function haveCmd(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}

/** umoci and skopeo are installed (the image fixture and the round trips need them). */
export const haveImageTools = haveCmd('umoci') && haveCmd('skopeo');
/** How image trees are compared: with modification times and xattrs. */
export const IMAGE_SNAP = { mtimes: true, xattrs: true } as const;

/**
 * Builds the umoci image of test/fixtures/umoci-image.sh in a new temp dir: `dir/img` is the OCI
 * layout (tag "test"), `ref` the snapshot of the tree `umoci unpack` makes of it.
 */
export async function umociFixture(prefix?: string): Promise<{ dir: string; ref: Record<string, string> }> {
  const dir = await tempDir(prefix);
  await run('sh', [path.join(FIXTURES, 'umoci-image.sh'), dir]);
  return { dir, ref: await snapshot(path.join(dir, 'ref', 'rootfs'), IMAGE_SNAP) };
}

export function run(cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd: opts.cwd, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

export async function collect(s: Readable | AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

export function sha256hex(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Whether overlay-format layers can be made here: root and the native addon (mknod, trusted xattrs). */
export function overlayReady(): { ok: boolean; why: string } {
  if (!isRoot) return { ok: false, why: 'needs root' };
  if (!native()) return { ok: false, why: 'needs the native addon (npm run build:native)' };
  return { ok: true, why: '' };
}

const IGNORED_XATTRS = /^(trusted\.overlay\.|user\.overlay\.|user\.ufs\.|user\.rootlesscontainers|security\.selinux)/;

async function xattrsOf(p: string): Promise<Record<string, string> | undefined> {
  const n = native();
  if (!n) return undefined;
  let names: string[];
  try {
    names = await n.llistxattr(p);
  } catch {
    return undefined;
  }
  const out: Record<string, string> = {};
  for (const name of names.sort()) {
    if (IGNORED_XATTRS.test(name)) continue;
    out[name] = (await n.lgetxattr(p, name)).toString('base64');
  }
  return Object.keys(out).length ? out : undefined;
}

export interface SnapshotOptions {
  /** Compare mtimes (whole seconds) of non-directories. */
  mtimes?: boolean;
  /** Compare owners (default: when root). */
  owners?: boolean;
  xattrs?: boolean;
}

/**
 * A comparable description of a tree: one line per path (the root included as '.'), with type,
 * permission bits, owner, size and sha256 of regular files, symlink targets, device numbers.
 */
export async function snapshot(root: string, opts: SnapshotOptions = {}): Promise<Record<string, string>> {
  const owners = opts.owners ?? isRoot;
  const out: Record<string, string> = {};
  async function walk(rel: string): Promise<void> {
    const p = rel === '.' ? root : path.join(root, rel);
    const st = await fsp.lstat(p);
    const parts: string[] = [];
    const mode = (st.mode & 0o7777).toString(8);
    if (st.isDirectory()) parts.push('dir', mode);
    else if (st.isFile()) parts.push('file', mode, `size=${st.size}`, sha256hex(await fsp.readFile(p)).slice(0, 16));
    else if (st.isSymbolicLink()) parts.push('symlink', `-> ${await fsp.readlink(p)}`);
    else if (st.isCharacterDevice()) parts.push('chr', mode, `rdev=${st.rdev}`);
    else if (st.isBlockDevice()) parts.push('blk', mode, `rdev=${st.rdev}`);
    else if (st.isFIFO()) parts.push('fifo', mode);
    else parts.push('other');
    if (owners) parts.push(`${st.uid}:${st.gid}`);
    if (opts.mtimes && !st.isDirectory()) parts.push(`mtime=${Math.floor(st.mtimeMs / 1000)}`);
    if (opts.xattrs) {
      const x = await xattrsOf(p);
      if (x) parts.push(`xattrs=${JSON.stringify(x)}`);
    }
    out[rel] = parts.join(' ');
    if (st.isDirectory()) {
      for (const name of (await fsp.readdir(p)).sort()) await walk(rel === '.' ? name : `${rel}/${name}`);
    }
  }
  await walk('.');
  return out;
}

async function copyNode(src: string, dst: string, st: fs.Stats): Promise<void> {
  if (st.isFile()) await fsp.copyFile(src, dst);
  else if (st.isSymbolicLink()) await fsp.symlink(await fsp.readlink(src), dst);
  else {
    const n = native();
    if (!n) throw new Error(`cannot copy special file ${src} without the native addon`);
    await n.mknod(dst, st.mode, st.rdev);
  }
  if (isRoot) await fsp.lchown(dst, st.uid, st.gid);
  if (!st.isSymbolicLink()) await fsp.chmod(dst, st.mode & 0o7777);
  await fsp.lutimes(dst, st.atime, st.mtime);
}

/**
 * The test's own reference merge: copies layer directories (bottom first) into `out`, reading each
 * one through the whiteout format (whiteouts delete, opaque directories drop what lies below).
 */
export async function flattenLayers(layerDirs: readonly string[], format: WhiteoutFormat, out: string): Promise<void> {
  for (const dir of layerDirs) {
    const layer = new DirLayer(dir);
    const dirsToFix: [string, fs.Stats][] = [];
    async function merge(rel: string): Promise<void> {
      const info = await format.readDir(layer, rel);
      const target = rel === '' ? out : path.join(out, rel);
      if (info.opaque) for (const n of await fsp.readdir(target)) await fsp.rm(path.join(target, n), { recursive: true, force: true });
      for (const n of info.whiteouts) await fsp.rm(path.join(target, n), { recursive: true, force: true });
      for (const name of info.entries.keys()) {
        const r = rel === '' ? name : `${rel}/${name}`;
        const src = path.join(dir, r);
        const dst = path.join(out, r);
        const st = await fsp.lstat(src);
        const existing = await fsp.lstat(dst).catch(() => null);
        if (st.isDirectory()) {
          if (existing && !existing.isDirectory()) await fsp.rm(dst, { recursive: true, force: true });
          if (!existing || !existing.isDirectory()) await fsp.mkdir(dst);
          dirsToFix.push([dst, st]);
          await merge(r);
        } else {
          if (existing) await fsp.rm(dst, { recursive: true, force: true });
          await copyNode(src, dst, st);
        }
      }
    }
    dirsToFix.push([out, await fsp.lstat(dir)]);
    await merge('');
    for (const [dst, st] of dirsToFix.reverse()) {
      if (isRoot) await fsp.lchown(dst, st.uid, st.gid);
      await fsp.chmod(dst, st.mode & 0o7777);
    }
  }
}

/** Differences between two snapshots, as readable lines (empty when equal). */
export function diffSnapshots(a: Record<string, string>, b: Record<string, string>): string[] {
  const out: string[] = [];
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (a[k] !== b[k]) out.push(`${k}: ${a[k] ?? '(missing)'} | ${b[k] ?? '(missing)'}`);
  }
  return out.sort();
}
