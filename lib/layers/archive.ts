// Image archives as plain tars (OCI archives, docker-save files): deterministic writing from a list
// of entries, safe extraction into a private directory, and symlink-confined reads inside a tree.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fsError } from '../errors.js';
import { encodeHeader, padding, TAR_END, compareBytes } from './tar-header.js';
import { applyLayerTar } from './tar-apply.js';
import { DirLayer } from './dir-layer.js';
import { aufsFormat } from './whiteout-aufs.js';

/** One member of an archive ufs writes: a directory, or a file whose bytes come from a buffer or a stream. */
export type ArchiveEntry =
  | { name: string; type: 'directory' }
  | { name: string; type: 'file'; data: Buffer }
  | { name: string; type: 'file'; size: number; open: () => Readable };

/**
 * A tar of the given entries, in the given order, with normalised headers (mode 0644/0755, owner
 * 0:0, mtime `mtime` seconds, 0 by default): the same entries always give the same bytes.
 */
export function archiveStream(entries: readonly ArchiveEntry[], mtime = 0): Readable {
  async function* gen(): AsyncGenerator<Buffer> {
    for (const e of entries) {
      if (e.type === 'directory') {
        const name = e.name.endsWith('/') ? e.name : `${e.name}/`;
        yield encodeHeader({ name, type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0, mtime });
        continue;
      }
      const size = 'data' in e ? e.data.length : e.size;
      yield encodeHeader({ name: e.name, type: 'file', mode: 0o644, uid: 0, gid: 0, size, mtime });
      if ('data' in e) yield e.data;
      else {
        let n = 0;
        for await (const chunk of e.open()) {
          n += (chunk as Buffer).length;
          if (n > size) break;
          yield chunk as Buffer;
        }
        if (n !== size) throw fsError('EIO', 'tar', e.name, undefined, `archive member changed size while being written (expected ${size} bytes, got ${n})`);
      }
      yield padding(size);
    }
    yield TAR_END;
  }
  return Readable.from(gen(), { objectMode: false });
}

/** The entries of a directory tree (regular files and directories only), parents first, in byte order. */
export async function directoryEntries(root: string): Promise<ArchiveEntry[]> {
  const out: ArchiveEntry[] = [];
  async function walk(rel: string): Promise<void> {
    const names = (await fsp.readdir(rel === '' ? root : path.join(root, rel))).sort(compareBytes);
    for (const n of names) {
      const r = rel === '' ? n : `${rel}/${n}`;
      const full = path.join(root, r);
      const st = await fsp.lstat(full);
      if (st.isDirectory()) {
        out.push({ name: r, type: 'directory' });
        await walk(r);
      } else if (st.isFile()) {
        out.push({ name: r, type: 'file', size: st.size, open: () => fs.createReadStream(full) });
      }
    }
  }
  await walk('');
  return out;
}

/**
 * Extracts an archive (plain, gzip or zstd tar) into a new private temporary directory, with the
 * same defences as layer import (no '..', no absolute names, nothing written through symlinks).
 * Symlinks stay symlinks: read members with `openInside`/`readInside`, which confine them.
 */
export async function extractArchive(input: Readable, source?: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'ufs-archive-'));
  const cleanup = (): Promise<void> => fsp.rm(dir, { recursive: true, force: true });
  try {
    await applyLayerTar(input, new DirLayer(dir), aufsFormat, {
      target: 'rootfs', sameOwner: false, devices: false, onWarning: () => undefined, ...(source ? { source } : {}),
    });
  } catch (e) {
    await cleanup();
    throw e;
  }
  return { dir, cleanup };
}

const MAX_LINKS = 40;

/**
 * Resolves `rel` inside `root` as if `root` were '/': symlinks are followed but can never lead
 * out (absolute targets start at `root`, '..' stops at it). Returns the real path of a regular file.
 */
export async function resolveInside(root: string, rel: string): Promise<string> {
  const todo = rel.split('/').filter((c) => c !== '' && c !== '.');
  const done: string[] = [];
  let hops = 0;
  while (todo.length > 0) {
    const c = todo.shift()!;
    if (c === '..') {
      done.pop();
      continue;
    }
    const real = path.join(root, ...done, c);
    const st = await fsp.lstat(real).catch((e: unknown) => {
      throw fsError('ENOENT', 'open', rel, undefined, `archive member '${rel}' not found${(e as { code?: string }).code === 'ENOENT' ? '' : ` (${(e as Error).message})`}`);
    });
    if (st.isSymbolicLink()) {
      if (++hops > MAX_LINKS) throw fsError('ELOOP', 'open', rel);
      const target = await fsp.readlink(real);
      if (target.startsWith('/')) done.length = 0;
      todo.unshift(...target.split('/').filter((x) => x !== '' && x !== '.'));
      continue;
    }
    done.push(c);
    if (todo.length > 0 && !st.isDirectory()) throw fsError('ENOTDIR', 'open', rel);
  }
  const real = path.join(root, ...done);
  const st = await fsp.lstat(real);
  if (!st.isFile()) throw fsError('EINVAL', 'open', rel, undefined, `archive member '${rel}' is not a regular file`);
  return real;
}

/** Opens a member of a tree for reading, confined by `resolveInside`. */
export async function openInside(root: string, rel: string): Promise<{ stream: Readable; size: number }> {
  const real = await resolveInside(root, rel);
  const fh = await fsp.open(real, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  const st = await fh.stat();
  return { stream: fh.createReadStream({ highWaterMark: 1 << 20 }), size: st.size };
}

/** Reads a small member (JSON) of a tree whole, refusing anything larger than `max` bytes. */
export async function readInside(root: string, rel: string, max = 32 << 20): Promise<Buffer> {
  const real = await resolveInside(root, rel);
  const st = await fsp.stat(real);
  if (st.size > max) throw fsError('EFBIG', 'read', rel, undefined, `'${rel}' is ${st.size} bytes, more than the ${max} allowed for metadata`);
  return fsp.readFile(real);
}
