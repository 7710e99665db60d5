// createLayerTar: a layer as a deterministic OCI layer tarball (sorted entries, normalised headers,
// `.wh.` whiteouts and `.wh..wh..opq` markers whatever the on-disk whiteout format), optionally gzipped.
import fs from 'node:fs';
import { Readable, pipeline } from 'node:stream';
import type { Layer } from './layer.js';
import { AUFS_OPAQUE, AUFS_WH_PREFIX, OVERLAY_XATTR_PREFIXES, UFS_XATTR_PREFIX, joinRel, type WhiteoutFormat } from './whiteout.js';
import { fsError, isErrno } from '../errors.js';
import { compareBytes, devMajor, devMinor, encodeHeader, padding, TAR_END, type TarHeader, type TarType } from './tar-header.js';
import { gzipCompressor } from './compression.js';
import { getOverlayXattr } from './whiteout-overlay.js';

const { S_IFMT, S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO, O_RDONLY, O_NOFOLLOW } = fs.constants;

export interface CreateOptions {
  /** A fixed mtime for every entry (reproducible builds); by default each entry's own, in whole seconds. */
  mtime?: Date | number;
  /** 'none' (default) or 'gzip' (deterministic: no name, no mtime in the gzip header). */
  compression?: 'none' | 'gzip';
  gzipLevel?: number;
  /**
   * Whether uid/gid come from the files (default) or are all 0 (for layers built without root,
   * where on-disk owners mean nothing).
   */
  owners?: 'keep' | 'root';
}

/** Xattrs never written to a layer tar: the whiteout formats' own, ufs's own, host-specific labels. */
export function isExportedXattr(name: string, format: WhiteoutFormat): boolean {
  if (format.isPrivateXattr(name)) return false;
  if (name.startsWith(UFS_XATTR_PREFIX) || OVERLAY_XATTR_PREFIXES.some((p) => name.startsWith(p))) return false;
  // SELinux labels belong to the host; system.* are ACLs and filesystem internals, not portable here.
  if (name === 'security.selinux' || name.startsWith('system.')) return false;
  return true;
}

/**
 * The layer as a tar stream. Deterministic: the same layer content gives the same bytes (and so the
 * same diffID), whatever its whiteout format on disk. Each directory is written as the directory,
 * then its opaque marker, then its whiteouts, then its children, each group in byte order of names
 * (OCI asks for whiteouts before their siblings). Hard links within the layer stay hard links.
 * Fails with ENOTSUP for overlay directories carrying a redirect or files that are metacopy-only:
 * their content lives in other layers (export those through the merged view instead).
 */
export function createLayerTar(layer: Layer, format: WhiteoutFormat, opts: CreateOptions = {}): Readable {
  const tar = Readable.from(generate(layer, format, opts), { objectMode: false, highWaterMark: 1 << 20 });
  if (opts.compression !== 'gzip') return tar;
  const gz = gzipCompressor(opts.gzipLevel);
  pipeline(tar, gz, () => { /* errors reach the consumer through gz */ });
  return gz;
}

const WHITEOUT_MODE = 0o644;

async function* generate(layer: Layer, format: WhiteoutFormat, opts: CreateOptions): AsyncGenerator<Buffer> {
  const fixed = opts.mtime === undefined ? undefined : Math.floor((typeof opts.mtime === 'number' ? opts.mtime : opts.mtime.getTime()) / 1000);
  const ctx: Ctx = { layer, format, fixed, rootOwners: opts.owners === 'root', links: new Map() };
  yield* walkDir(ctx, '');
  yield TAR_END;
}

interface Ctx {
  layer: Layer;
  format: WhiteoutFormat;
  fixed: number | undefined;
  rootOwners: boolean;
  /** `dev:ino` of multiply-linked files → the archive name they were first written under. */
  links: Map<string, string>;
}

function mtimeOf(ctx: Ctx, st: fs.Stats): number {
  return ctx.fixed ?? Math.floor(st.mtimeMs / 1000);
}

async function xattrsOf(ctx: Ctx, rel: string): Promise<Map<string, Buffer> | undefined> {
  let names: string[];
  try {
    names = await ctx.layer.listxattr(rel);
  } catch (e) {
    if (isErrno(e, 'ENOTSUP', 'EOPNOTSUPP')) return undefined;
    throw e;
  }
  const out = new Map<string, Buffer>();
  for (const n of names) {
    if (!isExportedXattr(n, ctx.format)) continue;
    const v = await ctx.layer.getxattr(rel, n);
    if (v !== null) out.set(n, v);
  }
  return out.size > 0 ? out : undefined;
}

function baseHeader(ctx: Ctx, name: string, type: TarType, st: fs.Stats): TarHeader {
  return {
    name,
    type,
    mode: st.mode & 0o7777,
    uid: ctx.rootOwners ? 0 : st.uid,
    gid: ctx.rootOwners ? 0 : st.gid,
    size: 0,
    mtime: mtimeOf(ctx, st),
  };
}

function markerHeader(ctx: Ctx, name: string): TarHeader {
  // Markers do not depend on how the format stores them on disk (file, device, xattr): fixed fields.
  return { name, type: 'file', mode: WHITEOUT_MODE, uid: 0, gid: 0, size: 0, mtime: ctx.fixed ?? 0 };
}

async function* walkDir(ctx: Ctx, rel: string): AsyncGenerator<Buffer> {
  const st = await ctx.layer.lstat(rel);
  const info = await ctx.format.readDir(ctx.layer, rel);
  if (info.redirect !== null) {
    throw fsError('ENOTSUP', 'tar', rel === '' ? '/' : rel, undefined,
      'directory carries an overlay redirect (its content lives in other layers): export it from the merged view');
  }
  const prefix = rel === '' ? '' : `${rel}/`;
  const dirHeader = baseHeader(ctx, rel === '' ? './' : prefix, 'directory', st);
  const x = await xattrsOf(ctx, rel);
  if (x) dirHeader.xattrs = x;
  yield encodeHeader(dirHeader);
  if (info.opaque) yield encodeHeader(markerHeader(ctx, prefix + AUFS_OPAQUE));
  for (const name of [...info.whiteouts].sort(compareBytes)) {
    // A name both whited out and present: the entry of this layer wins; the marker says nothing more.
    if (info.entries.has(name)) continue;
    yield encodeHeader(markerHeader(ctx, prefix + AUFS_WH_PREFIX + name));
  }
  for (const name of [...info.entries.keys()].sort(compareBytes)) {
    const child = joinRel(rel, name);
    if (name.startsWith(AUFS_WH_PREFIX)) {
      throw fsError('EINVAL', 'tar', child, undefined, `a file named '${name}' cannot be exported: layer tars reserve '.wh.' names for whiteouts`);
    }
    if (info.entries.get(name) === S_IFDIR) yield* walkDir(ctx, child);
    else yield* entry(ctx, child);
  }
}

async function* entry(ctx: Ctx, rel: string): AsyncGenerator<Buffer> {
  const st = await ctx.layer.lstat(rel);
  const fmt = st.mode & S_IFMT;
  if (fmt === S_IFDIR) {
    yield* walkDir(ctx, rel);
    return;
  }
  let type: TarType;
  switch (fmt) {
    case S_IFREG: type = 'file'; break;
    case S_IFLNK: type = 'symlink'; break;
    case S_IFCHR: type = 'character-device'; break;
    case S_IFBLK: type = 'block-device'; break;
    case S_IFIFO: type = 'fifo'; break;
    default: return; // sockets cannot be archived (tar has no type for them)
  }
  const h = baseHeader(ctx, rel, type, st);
  if (st.nlink > 1) {
    const key = `${st.dev}:${st.ino}`;
    const first = ctx.links.get(key);
    if (first !== undefined) {
      h.type = 'link';
      h.linkname = first;
      yield encodeHeader(h);
      return;
    }
    ctx.links.set(key, rel);
  }
  if (type === 'symlink') h.linkname = await ctx.layer.readlink(rel);
  if (type === 'character-device' || type === 'block-device') {
    h.devmajor = devMajor(st.rdev);
    h.devminor = devMinor(st.rdev);
  }
  const x = await xattrsOf(ctx, rel);
  if (x) h.xattrs = x;
  if (type !== 'file') {
    yield encodeHeader(h);
    return;
  }
  if (ctx.format.usesXattrs) {
    const meta = await getOverlayXattr(ctx.layer, rel, 'metacopy');
    if (meta !== null) {
      throw fsError('ENOTSUP', 'tar', rel, undefined, 'file is an overlay metacopy (its data lives in another layer): export it from the merged view');
    }
  }
  h.size = st.size;
  yield encodeHeader(h);
  yield* fileData(ctx.layer, rel, st.size);
  yield padding(st.size);
}

async function* fileData(layer: Layer, rel: string, size: number): AsyncGenerator<Buffer> {
  const fh = await layer.open(rel, O_RDONLY | O_NOFOLLOW);
  try {
    let pos = 0;
    while (pos < size) {
      const buf = Buffer.allocUnsafe(Math.min(1 << 20, size - pos));
      let filled = 0;
      while (filled < buf.length) {
        const n = await fh.read(buf, filled, buf.length - filled, pos + filled);
        if (n === 0) throw fsError('EIO', 'tar', rel, undefined, 'file shrank while being archived (the layer changed under the export)');
        filled += n;
      }
      pos += filled;
      yield buf;
    }
  } finally {
    await fh.close();
  }
}
