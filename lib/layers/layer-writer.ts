// Applies tar entries to a layer safely: paths resolved component by component without following
// symlinks, whiteouts and opaque markers handed to the whiteout format (or applied as deletions).
import fs from 'node:fs';
import type { Layer } from './layer.js';
import { AUFS_OPAQUE, AUFS_WH_PREFIX, OVERLAY_XATTR_PREFIXES, UFS_XATTR_PREFIX, type WhiteoutFormat } from './whiteout.js';
import { fsError, isErrno, UfsError } from '../errors.js';
import { makeDev } from './tar-header.js';

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, S_IFCHR, S_IFBLK, S_IFIFO } = fs.constants;
/** How many files' attribute work may run at once (libuv's thread pool has 4 threads by default). */
const PARALLEL = 8;

/** What a tar entry is, as the writer needs it (names already taken from the archive). */
export interface EntryInfo {
  /** The archive name as found (for error messages). */
  name: string;
  type: 'file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo';
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch (fractional: PAX mtimes keep sub-second precision). */
  mtime: number;
  linkname: string | null;
  devmajor: number;
  devminor: number;
  xattrs: Map<string, Buffer>;
}

export interface WriterOptions {
  /** 'layer': whiteouts become the format's markers; 'rootfs': they delete what is already there. */
  target: 'layer' | 'rootfs';
  /** What a second entry for a path already written by this archive does (OCI: it replaces it). */
  onDuplicate: 'replace' | 'error';
  /** Restore uid/gid (default: when running as root). */
  sameOwner: boolean;
  /** Create device nodes (default: when running as root); otherwise they are skipped with a warning. */
  devices: boolean;
  warn: (key: string, message: string) => void;
}

function hostile(name: string, why: string): UfsError {
  return fsError('EINVAL', 'extract', name, undefined, `refusing tar entry: ${why}`);
}

/** Splits an archive path into components: './' prefixes and empty parts dropped, '..' and absolute paths refused. */
export function archivePathParts(name: string, what = 'entry'): string[] {
  if (name.includes('\0')) throw hostile(name, `${what} name contains a NUL byte`);
  if (name.startsWith('/')) throw hostile(name, `${what} name is an absolute path`);
  const parts: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') throw hostile(name, `${what} name contains '..'`);
    parts.push(c);
  }
  return parts;
}

function isPrivateXattr(name: string, format: WhiteoutFormat): boolean {
  return format.isPrivateXattr(name) || name.startsWith(UFS_XATTR_PREFIX) || OVERLAY_XATTR_PREFIXES.some((p) => name.startsWith(p));
}

interface DirAttrs {
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  xattrs: Map<string, Buffer>;
}

/**
 * Writes the entries of one archive into one layer. Not safe against other writers of the same
 * layer directory: callers apply into a fresh directory nobody else uses, and rename it into place.
 */
export class LayerWriter {
  /** Directories verified (or created) as real directories, by layer-relative path. */
  private readonly knownDirs = new Set<string>(['']);
  /** Every path this archive created (to tell this layer's entries from what was there before). */
  private readonly created = new Set<string>();
  /** Whiteout markers this archive created (layer mode), by the path they hide. */
  private readonly whiteouts = new Set<string>();
  /** Directory attributes, applied at the end (children change a directory's mtime). */
  private readonly dirAttrs = new Map<string, DirAttrs>();
  /** Directories of this layer that replace a whited-out name: made opaque at the end. */
  private readonly pendingOpaque = new Set<string>();
  /** Directories this archive created empty: a name in one exists only if this archive made it. */
  private readonly freshDirs = new Set<string>();
  private rootChecked = false;
  /** Attribute work of regular files (owner, xattrs, mode, times, close), run a few at a time. */
  private readonly pending = new Set<Promise<void>>();
  private pendingError: unknown = null;
  private xattrsOk: boolean | undefined;
  entries = 0;
  /** Bytes of regular-file data written. */
  dataBytes = 0;

  constructor(private readonly layer: Layer, private readonly format: WhiteoutFormat, private readonly opts: WriterOptions) {}

  /** Applies one entry; `data` yields a regular file's content (and is drained for other types). */
  async apply(e: EntryInfo, data: AsyncIterable<Buffer>): Promise<void> {
    this.entries++;
    if (this.pendingError !== null) throw this.pendingError;
    if (!this.rootChecked) {
      this.rootChecked = true;
      if ((await this.layer.readdir('')).length === 0) this.freshDirs.add('');
    }
    const parts = archivePathParts(e.name);
    const base = parts[parts.length - 1];
    if (base !== undefined && base.startsWith(AUFS_WH_PREFIX)) {
      await this.applyWhiteout(e.name, parts.slice(0, -1), base);
      return;
    }
    const rel = parts.join('/');
    if (rel === '') {
      if (e.type !== 'directory') throw hostile(e.name, 'the layer root must be a directory');
      this.dirAttrs.set('', { mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime, xattrs: e.xattrs });
      return;
    }
    await this.ensureParents(e.name, parts);
    switch (e.type) {
      case 'directory':
        return this.applyDir(e, rel);
      case 'file':
        return this.applyFile(e, rel, data);
      case 'symlink':
        return this.applySymlink(e, rel);
      case 'link':
        return this.applyHardlink(e, rel);
      case 'character-device':
      case 'block-device':
      case 'fifo':
        return this.applySpecial(e, rel);
    }
  }

  /** Sets the attributes of directories (deepest first) once all entries are in. */
  async finish(): Promise<void> {
    await this.drain();
    // A layer whose archive says nothing of its root gets the usual 0755 root (not a temp dir's 0700).
    if (this.opts.target === 'layer' && !this.dirAttrs.has('')) await this.layer.chmod('', 0o755);
    const dirs = [...this.dirAttrs.keys()].sort((a, b) => depth(b) - depth(a));
    for (const rel of dirs) {
      const a = this.dirAttrs.get(rel)!;
      if (rel !== '' && !this.knownDirs.has(rel)) continue;
      await this.setOwner(rel, a.uid, a.gid);
      await this.setXattrs(rel, a.xattrs, false);
      await this.layer.chmod(rel, a.mode & 0o7777);
      await this.layer.lutimes(rel, a.mtime, a.mtime);
    }
  }

  // ---- path resolution -------------------------------------------------------------------------

  /** Makes every parent of `parts` a real directory (creating missing ones), refusing symlinks. */
  private async ensureParents(name: string, parts: string[]): Promise<void> {
    let rel = '';
    for (let i = 0; i < parts.length - 1; i++) {
      rel = rel === '' ? parts[i]! : `${rel}/${parts[i]!}`;
      if (this.knownDirs.has(rel)) continue;
      const st = this.surelyAbsent(rel) ? null : await this.lstatOrNull(rel);
      if (st === null) {
        await this.layer.mkdir(rel, 0o755);
        await this.layer.chmod(rel, 0o755);
        this.created.add(rel);
        this.freshDirs.add(rel);
        await this.clearWhiteout(rel, true);
      } else if (st.isSymbolicLink()) {
        throw hostile(name, `its parent '${rel}' is a symlink (writing through it could leave the layer)`);
      } else if (!st.isDirectory()) {
        throw fsError('ENOTDIR', 'extract', name, undefined, `refusing tar entry: its parent '${rel}' is not a directory`);
      }
      this.knownDirs.add(rel);
    }
  }

  /** Whether nothing can be at `rel`: its directory was created empty by this archive, which put nothing there. */
  private surelyAbsent(rel: string): boolean {
    if (this.created.has(rel) || this.whiteouts.has(rel)) return false;
    const i = rel.lastIndexOf('/');
    return this.freshDirs.has(i < 0 ? '' : rel.slice(0, i));
  }

  private async lstatOrNull(rel: string): Promise<fs.Stats | null> {
    try {
      return await this.layer.lstat(rel);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return null;
      throw e;
    }
  }

  /**
   * Makes room for a new entry at `rel`: whatever is there is removed (OCI "changeset over
   * existing files"), except that a directory stays when the new entry is a directory too.
   * Returns whether a directory was kept.
   */
  private async prepare(e: EntryInfo, rel: string): Promise<boolean> {
    const st = this.surelyAbsent(rel) ? null : await this.lstatOrNull(rel);
    // Replacing something: attribute work still running on it must finish first.
    if (st !== null && !(e.type === 'directory' && st.isDirectory())) await this.drain();
    const isDirEntry = e.type === 'directory';
    if (st !== null && this.created.has(rel) && this.opts.onDuplicate === 'error' && !(isDirEntry && st.isDirectory())) {
      throw fsError('EEXIST', 'extract', e.name, undefined, 'refusing tar entry: duplicate entry for a path already in the archive');
    }
    this.created.add(rel);
    await this.clearWhiteout(rel, isDirEntry);
    if (st === null) return false;
    if (isDirEntry && st.isDirectory()) return true;
    await this.removeTree(rel, st);
    return false;
  }

  /** A new entry takes the name of a whiteout this archive made: the marker goes (layer mode). */
  private async clearWhiteout(rel: string, isDir: boolean): Promise<void> {
    if (!this.whiteouts.delete(rel)) return;
    const i = rel.lastIndexOf('/');
    await this.format.removeWhiteout(this.layer, i < 0 ? '' : rel.slice(0, i), i < 0 ? rel : rel.slice(i + 1));
    // The lower entry stays deleted: a directory of this layer that replaces it must hide its content.
    if (isDir) this.pendingOpaque.add(rel);
  }

  /** Removes a path and everything under it, never following symlinks. */
  private async removeTree(rel: string, st?: fs.Stats | null): Promise<void> {
    const s = st ?? (await this.lstatOrNull(rel));
    if (s === null) return;
    await this.drain();
    if (s.isDirectory()) {
      for (const k of [...this.knownDirs]) if (k === rel || k.startsWith(`${rel}/`)) this.knownDirs.delete(k);
      for (const k of [...this.freshDirs]) if (k === rel || k.startsWith(`${rel}/`)) this.freshDirs.delete(k);
      if (process.getuid?.() !== 0) await this.layer.chmod(rel, 0o700);
      for (const d of await this.layer.readdir(rel)) await this.removeTree(`${rel}/${d.name}`);
      await this.layer.rmdir(rel);
    } else {
      await this.layer.unlink(rel);
    }
  }

  // ---- whiteouts ---------------------------------------------------------------------------------

  private async applyWhiteout(name: string, dirParts: string[], base: string): Promise<void> {
    const dirRel = dirParts.join('/');
    if (base === AUFS_OPAQUE) {
      await this.ensureParents(name, [...dirParts, base]);
      if (this.opts.target === 'layer') await this.format.setOpaque(this.layer, dirRel);
      else for (const d of await this.layer.readdir(dirRel)) await this.pruneLower(dirRel === '' ? d.name : `${dirRel}/${d.name}`);
      return;
    }
    if (base.startsWith(AUFS_WH_PREFIX + AUFS_WH_PREFIX)) {
      this.opts.warn('aufs-meta', `ignored aufs metadata entry '${name}'`);
      return;
    }
    const target = base.slice(AUFS_WH_PREFIX.length);
    if (target === '' || target === '.' || target === '..') throw hostile(name, `whiteout names '${target}'`);
    await this.ensureParents(name, [...dirParts, base]);
    const rel = dirRel === '' ? target : `${dirRel}/${target}`;
    if (this.opts.target === 'rootfs') {
      await this.pruneLower(rel);
      return;
    }
    // Whiteouts apply to lower layers only: an entry of this archive with the same name stays.
    const st = this.created.has(rel) ? await this.lstatOrNull(rel) : null;
    if (st !== null) {
      if (st.isDirectory()) this.pendingOpaque.add(rel);
      return;
    }
    if (this.whiteouts.has(rel)) return;
    const existing = await this.lstatOrNull(rel);
    if (existing !== null) await this.removeTree(rel, existing);
    await this.format.makeWhiteout(this.layer, dirRel, target);
    this.whiteouts.add(rel);
  }

  /** Rootfs mode: removes what was there before this archive at `rel`, keeping this archive's entries. */
  private async pruneLower(rel: string): Promise<void> {
    if (!this.created.has(rel)) {
      await this.removeTree(rel);
      return;
    }
    const st = await this.lstatOrNull(rel);
    if (st?.isDirectory()) for (const d of await this.layer.readdir(rel)) await this.pruneLower(`${rel}/${d.name}`);
  }

  /** Marks directories opaque that replace a whited-out name (layer mode), once all entries are in. */
  async finishOpaque(): Promise<void> {
    if (this.opts.target !== 'layer') return;
    for (const rel of this.pendingOpaque) {
      const st = await this.lstatOrNull(rel);
      if (st?.isDirectory()) await this.format.setOpaque(this.layer, rel);
    }
  }

  // ---- entry types -------------------------------------------------------------------------------

  private async applyDir(e: EntryInfo, rel: string): Promise<void> {
    const kept = await this.prepare(e, rel);
    if (!kept) {
      await this.layer.mkdir(rel, 0o700);
      this.freshDirs.add(rel);
    }
    this.knownDirs.add(rel);
    this.dirAttrs.set(rel, { mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime, xattrs: e.xattrs });
  }

  private async applyFile(e: EntryInfo, rel: string, data: AsyncIterable<Buffer>): Promise<void> {
    await this.prepare(e, rel);
    const h = await this.layer.open(rel, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    try {
      let pos = 0;
      for await (const chunk of data) {
        let off = 0;
        while (off < chunk.length) {
          const n = await h.write(chunk, off, chunk.length - off, pos);
          off += n;
          pos += n;
        }
      }
      this.dataBytes += pos;
    } catch (err) {
      await h.close();
      throw err;
    }
    // The attributes go on through the open handle while the next entries are read.
    await this.defer(async () => {
      try {
        // chown clears set-id bits and file capabilities: owner first, then xattrs, then the mode.
        if (this.opts.sameOwner) await h.chown(e.uid, e.gid);
        await this.setXattrs(rel, e.xattrs, false);
        await h.chmod(e.mode & 0o7777);
        await h.utimes(e.mtime, e.mtime);
      } finally {
        await h.close();
      }
    });
  }

  /** Runs `task` in the background, at most PARALLEL at a time; its error fails the next entry. */
  private async defer(task: () => Promise<void>): Promise<void> {
    while (this.pending.size >= PARALLEL) await Promise.race(this.pending);
    if (this.pendingError !== null) throw this.pendingError;
    const p: Promise<void> = task().catch((err: unknown) => { this.pendingError ??= err; }).finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  /** Waits for all background attribute work; rethrows its first error. */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
    if (this.pendingError !== null) throw this.pendingError;
  }

  /** Waits for background work without reporting errors (after another error). */
  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  private async applySymlink(e: EntryInfo, rel: string): Promise<void> {
    if (!e.linkname) throw hostile(e.name, 'symlink with an empty target');
    if (e.linkname.includes('\0')) throw hostile(e.name, 'symlink target contains a NUL byte');
    await this.prepare(e, rel);
    // Any target is fine (it is read inside the union, never followed here); writing through it is not.
    await this.layer.symlink(e.linkname, rel);
    await this.setOwner(rel, e.uid, e.gid);
    await this.setXattrs(rel, e.xattrs, true);
    await this.layer.lutimes(rel, e.mtime, e.mtime);
  }

  private async applyHardlink(e: EntryInfo, rel: string): Promise<void> {
    if (!e.linkname) throw hostile(e.name, 'hard link with an empty target');
    const tparts = archivePathParts(e.linkname, 'hard link target');
    const target = tparts.join('/');
    if (target === '') throw hostile(e.name, 'hard link to the layer root');
    if (target === rel) return;
    // The target must be in this layer, reached without symlinks, and not a directory.
    let prefix = '';
    for (let i = 0; i < tparts.length - 1; i++) {
      prefix = prefix === '' ? tparts[i]! : `${prefix}/${tparts[i]!}`;
      if (this.knownDirs.has(prefix)) continue;
      const st = await this.lstatOrNull(prefix);
      if (st === null || !st.isDirectory()) {
        throw hostile(e.name, `hard link target '${e.linkname}' is not in the layer${st?.isSymbolicLink() ? ' (it passes through a symlink)' : ''}`);
      }
      this.knownDirs.add(prefix);
    }
    const tst = await this.lstatOrNull(target);
    if (tst === null) throw hostile(e.name, `hard link target '${e.linkname}' is not in the layer`);
    if (tst.isDirectory()) throw hostile(e.name, `hard link target '${e.linkname}' is a directory`);
    if (this.whiteouts.has(target)) throw hostile(e.name, `hard link target '${e.linkname}' is a whiteout`);
    await this.prepare(e, rel);
    await this.layer.link(target, rel);
  }

  private async applySpecial(e: EntryInfo, rel: string): Promise<void> {
    const isDevice = e.type !== 'fifo';
    if (isDevice && !this.opts.devices) {
      this.opts.warn('devices', `skipped device node '${e.name}' (creating device nodes needs root)`);
      return;
    }
    const type = e.type === 'fifo' ? S_IFIFO : e.type === 'block-device' ? S_IFBLK : S_IFCHR;
    await this.prepare(e, rel);
    try {
      await this.layer.mknod(rel, type | (e.mode & 0o7777), isDevice ? makeDev(e.devmajor, e.devminor) : 0);
    } catch (err) {
      if (!isErrno(err, 'EPERM', 'ENOSYS', 'EACCES', 'ENOTSUP', 'EOPNOTSUPP')) throw err;
      this.created.delete(rel);
      this.opts.warn(isDevice ? 'devices' : 'fifo', `skipped ${e.type} '${e.name}' (${(err as Error).message})`);
      return;
    }
    await this.setOwner(rel, e.uid, e.gid);
    await this.setXattrs(rel, e.xattrs, false);
    await this.layer.chmod(rel, e.mode & 0o7777);
    await this.layer.lutimes(rel, e.mtime, e.mtime);
  }

  // ---- attributes --------------------------------------------------------------------------------

  private async setOwner(rel: string, uid: number, gid: number): Promise<void> {
    if (this.opts.sameOwner) await this.layer.lchown(rel, uid, gid);
  }

  private async setXattrs(rel: string, xattrs: Map<string, Buffer>, isSymlink: boolean): Promise<void> {
    if (xattrs.size === 0) return;
    this.xattrsOk ??= await this.layer.supportsXattrs();
    for (const [name, value] of xattrs) {
      if (isPrivateXattr(name, this.format)) {
        this.opts.warn('xattr-private', `dropped xattr '${name}' (reserved for the whiteout format)`);
        continue;
      }
      if (!this.xattrsOk) {
        this.opts.warn('xattr', 'dropped xattrs: this layer cannot store them');
        return;
      }
      if (isSymlink && name.startsWith('user.')) continue; // Linux allows no user.* xattrs on symlinks
      try {
        await this.layer.setxattr(rel, name, value);
      } catch (err) {
        if (!isErrno(err, 'EPERM', 'EACCES', 'ENOTSUP', 'EOPNOTSUPP')) throw err;
        this.opts.warn(`xattr:${name}`, `dropped xattr '${name}' (${(err as Error).message})`);
      }
    }
  }
}

function depth(rel: string): number {
  if (rel === '') return 0;
  let n = 1;
  for (let i = 0; i < rel.length; i++) if (rel.charCodeAt(i) === 47) n++;
  return n;
}
