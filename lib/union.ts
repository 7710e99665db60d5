// UnionFs: the union's node:fs/promises-shaped API (reading in union-read.ts, changes here). Each
// method validates its arguments like node:fs, resolves union paths through the core, and delegates
// changes to the modules that own them (copy-up, entries, rename, handles); errors carry union paths.
import fs from 'node:fs';
import { UnionCore, UPPER, type Entry, type Resolved } from './core.js';
import { copyUp, ensureUpperDir } from './copy-up.js';
import { placeNew, removeName } from './entries.js';
import { rename as renameOp } from './rename.js';
import { UnionFileHandle, type HandleHost } from './handles.js';
import { UnionReader } from './union-read.js';
import { fsError, isErrno, relabel } from './errors.js';
import { childRel, pathString } from './path.js';
import { setup } from './setup.js';
import { ensureMountPoints, withVolumes } from './volumes.js';
import type { UnionOptions } from './options.js';
import { XATTR_CREATE, XATTR_REPLACE, native } from './native.js';
import { DirLayer } from './layers/dir-layer.js';
import type { WhiteoutFormatName } from './layers/whiteout.js';
import { shortPath } from './long-path.js';
import { parseFlags, parseMode, toTime, type OpenFlags } from './args.js';

const { S_IFDIR, S_IFREG, S_IFLNK, S_IFCHR, S_IFIFO, S_IFMT, O_CREAT, O_EXCL, O_TRUNC, O_ACCMODE, O_RDONLY, O_NOFOLLOW, O_DIRECTORY, O_APPEND } =
  { ...fs.constants, O_ACCMODE: 3 };

type Data = string | NodeJS.ArrayBufferView | Iterable<string | NodeJS.ArrayBufferView> | AsyncIterable<string | NodeJS.ArrayBufferView>;
type WriteOptions = { encoding?: BufferEncoding | null; mode?: number | string; flag?: OpenFlags } | BufferEncoding | null;

export type { DirentWithStats } from './union-read.js';

/** Where a union's layers are on disk (UnionFs.layerDirs). */
export interface LayerDirs {
  /** The writable layer's directory (null: the union has none). */
  upper: string | null;
  /** The read-only layers' directories, topmost first. */
  lowers: string[];
  /** How the layers record deletions and opaque directories. */
  whiteouts: WhiteoutFormatName;
  /** Whether a copy-up may be of the metadata only, the data staying in the lower layer (metacopy). */
  metacopy: boolean;
}

export class UnionFs extends UnionReader implements HandleHost {
  private readonly handles = new Set<UnionFileHandle>();

  private constructor(core: UnionCore) {
    super(core);
    core.copyUpListeners.push(async (ino, upperRel) => {
      for (const h of this.handles) if (h.unionIno === ino && h.layer !== UPPER) await h.repoint(upperRel);
    });
  }

  /** Opens a union of `lowerdir` (topmost first) and, when given, the writable `upperdir`. */
  static async open(opts: UnionOptions): Promise<UnionFs> {
    const s = await setup(opts);
    const core = new UnionCore({
      layers: s.layers,
      format: s.format,
      workdir: s.work?.root ?? null,
      readonly: s.readonly,
      metacopy: opts.metacopy === true,
      ...(opts.cacheEntries ? { cacheEntries: opts.cacheEntries } : {}),
    });
    core.work = s.work;
    await core.init();
    const u = new UnionFs(core);
    if (!opts.volumes || opts.volumes.length === 0) return u;
    await ensureMountPoints(u, opts.volumes);
    return withVolumes(u, opts.volumes);
  }

  /**
   * Calls `listener` with the union path of each file or directory copied up to the upper layer, as
   * it happens (ufsmount keeps the answers it caches true with it). Returns a function that stops it.
   */
  onCopyUp(listener: (path: string) => void): () => void {
    const w = (rel: string): void => listener('/' + rel);
    this.core.copiedUpWatchers.push(w);
    return () => {
      const i = this.core.copiedUpWatchers.indexOf(w);
      if (i >= 0) this.core.copiedUpWatchers.splice(i, 1);
    };
  }

  /**
   * Where the layers are on disk: null unless every layer is a directory (DirLayer), the native
   * addon is loaded (the union then reads xattrs) and the union has no volumes. ufsmount reads the
   * listings of directories that only lower layers hold from these itself.
   */
  layerDirs(): LayerDirs | null {
    if (!native()) return null;
    const [upper, ...lowers] = this.core.layers;
    const dir = (l: unknown): string | null => (l instanceof DirLayer ? l.root : null);
    if (upper && !dir(upper)) return null;
    const roots = lowers.map(dir);
    if (roots.length === 0 || roots.some((r) => r === null)) return null;
    return { upper: upper ? dir(upper) : null, lowers: roots as string[], whiteouts: this.core.format.name, metacopy: this.core.metacopy };
  }

  /** Runs a change: the union must be writable; directory renames are excluded meanwhile. */
  private async change<T>(syscall: string, p: unknown, fn: () => Promise<T>): Promise<T> {
    this.live();
    this.core.writable(syscall, typeof p === 'string' ? p : undefined);
    const release = await this.core.treeLock.shared();
    try {
      return await fn();
    } catch (e) {
      throw relabel(e, syscall, typeof p === 'string' ? p : undefined);
    } finally {
      release();
    }
  }

  private async lockDir<T>(r: Resolved, fn: () => Promise<T>): Promise<T> {
    return this.core.mutex.with(`dir:${r.dir ? r.dir.rel : '/'}`, fn);
  }

  async copyUpPath(unionPath: string): Promise<void> {
    const r = await this.core.existing(unionPath, 'open', false);
    await this.copyUpResolved(r);
  }

  /** Copies an entry up; `metaOnly` for metadata changes (no data copied when metacopy is on). */
  private async copyUpResolved(r: Resolved & { entry: Entry }, metaOnly = false): Promise<Entry> {
    if (r.entry.type === S_IFDIR) {
      if (r.entry.layer === UPPER) return r.entry;
      await ensureUpperDir(this.core, this.core.dirNodeOf(r));
      return { layer: UPPER, type: S_IFDIR, rel: childRel(r.dir ? r.dir.rel : '', r.name) };
    }
    if (r.entry.layer === UPPER && (!this.core.metacopy || metaOnly || r.entry.type !== S_IFREG)) return r.entry;
    return copyUp(this.core, r.dir!, r.name, metaOnly);
  }

  release(h: UnionFileHandle): void {
    this.handles.delete(h);
  }

  // ---- opening and creating ----

  async open(p: fs.PathLike, flags: OpenFlags = 'r', mode: number | string = 0o666): Promise<UnionFileHandle> {
    this.live();
    const f = parseFlags(flags);
    const m = parseMode(mode, 0o666);
    const wantsWrite = (f & O_ACCMODE) !== O_RDONLY || (f & O_TRUNC) !== 0;
    const noFollow = (f & O_NOFOLLOW) !== 0 || (f & (O_CREAT | O_EXCL)) === (O_CREAT | O_EXCL);
    const r = await this.core.resolve(p, 'open', !noFollow);
    const ps = pathString(p);
    if (r.entry) {
      if ((f & (O_CREAT | O_EXCL)) === (O_CREAT | O_EXCL)) throw fsError('EEXIST', 'open', ps);
      if (r.entry.type === S_IFLNK) throw fsError('ELOOP', 'open', ps);
      if (r.entry.type === S_IFDIR && wantsWrite) throw fsError('EISDIR', 'open', ps);
      if ((f & O_DIRECTORY) && r.entry.type !== S_IFDIR) throw fsError('ENOTDIR', 'open', ps);
      if (!wantsWrite) return this.openEntry(r.entry, r.path, f, ps, r);
      return this.change('open', ps, async () => {
        const e = await this.copyUpResolved(r as Resolved & { entry: Entry });
        return this.openEntry(e, r.path, f & ~(O_CREAT | O_EXCL), ps);
      });
    }
    if (!(f & O_CREAT)) throw fsError('ENOENT', 'open', ps);
    if (r.trailingSlash) throw fsError('EISDIR', 'open', ps);
    if (!r.dir) throw fsError('EISDIR', 'open', ps);
    if (this.core.format.isReservedName(r.name)) throw fsError('EPERM', 'open', ps);
    return this.change('open', ps, () =>
      this.lockDir(r, async () => {
        const again = (await this.core.dataOf(r.dir!)).entries.get(r.name);
        if (again) {
          if (f & O_EXCL) throw fsError('EEXIST', 'open', ps);
          const e = await this.copyUpResolved({ ...r, entry: again });
          return this.openEntry(e, r.path, f & ~(O_CREAT | O_EXCL), ps);
        }
        let handle: import('./layers/layer.js').LayerHandle | undefined;
        await placeNew(this.core, r.dir!, r.name, S_IFREG, async (layer, rel) => {
          handle = await layer.open(rel, f | O_CREAT | O_EXCL, m);
        });
        const st = await handle!.stat();
        const h = new UnionFileHandle(this, handle!, UPPER, r.path, this.core.ino.map(st.dev, st.ino), f);
        this.handles.add(h);
        return h;
      }),
    );
  }

  private async openEntry(e: Entry, unionPath: string, flags: number, ps: string, r?: Resolved): Promise<UnionFileHandle> {
    try {
      const st = await this.core.statEntry(e);
      // A metacopy file's data is still in the lower layer: read it there until a write copies it up.
      let data = e;
      if (r?.data && e.layer === UPPER && e.type === S_IFREG && (await this.core.isMetacopy(e.rel))) data = r.data.lower.get(r.name) ?? e;
      const lh = await this.core.layer(data.layer).open(data.rel, flags & ~O_CREAT);
      const h = new UnionFileHandle(this, lh, data.layer, unionPath, st.ino, flags, data === e ? null : e.rel);
      this.handles.add(h);
      return h;
    } catch (err) {
      throw relabel(err, 'open', ps);
    }
  }

  async writeFile(p: fs.PathLike | UnionFileHandle, data: Data, opts?: WriteOptions): Promise<void> {
    const o = typeof opts === 'string' ? { encoding: opts } : (opts ?? {});
    const enc = (o.encoding ?? 'utf8') as BufferEncoding;
    const h = p instanceof UnionFileHandle ? p : await this.open(p, o.flag ?? 'w', o.mode ?? 0o666);
    try {
      const write = async (chunk: string | NodeJS.ArrayBufferView): Promise<void> => {
        const b = typeof chunk === 'string' ? Buffer.from(chunk, enc) : chunk;
        await h.write(b, 0, b.byteLength, null);
      };
      if (typeof data === 'string' || ArrayBuffer.isView(data)) await write(data);
      else if (Symbol.asyncIterator in data) for await (const c of data) await write(c);
      else for (const c of data) await write(c);
    } finally {
      if (!(p instanceof UnionFileHandle)) await h.close();
    }
  }

  async appendFile(p: fs.PathLike | UnionFileHandle, data: Data, opts?: WriteOptions): Promise<void> {
    const o = typeof opts === 'string' ? { encoding: opts } : (opts ?? {});
    return this.writeFile(p, data, { ...o, flag: o.flag ?? 'a' });
  }

  async mkdir(p: fs.PathLike, opts?: { recursive?: boolean; mode?: number | string } | number | string): Promise<string | undefined> {
    this.live();
    const o = typeof opts === 'object' && opts !== null ? opts : { mode: opts };
    const mode = parseMode(o.mode, 0o777);
    const ps = pathString(p);
    if (o.recursive) return this.mkdirRecursive(ps, mode);
    const r = await this.core.resolve(p, 'mkdir', false);
    if (r.entry || !r.dir) throw fsError('EEXIST', 'mkdir', ps);
    if (this.core.format.isReservedName(r.name)) throw fsError('EPERM', 'mkdir', ps);
    await this.change('mkdir', ps, () =>
      this.lockDir(r, async () => {
        if ((await this.core.dataOf(r.dir!)).entries.has(r.name)) throw fsError('EEXIST', 'mkdir', ps);
        await placeNew(this.core, r.dir!, r.name, S_IFDIR, (layer, rel) => layer.mkdir(rel, mode));
      }),
    );
    return undefined;
  }

  private async mkdirRecursive(ps: string, mode: number): Promise<string | undefined> {
    const parts = ps.split('/').filter((c) => c !== '' && c !== '.');
    let first: string | undefined;
    let cur = '';
    const last = `/${parts.filter((x) => x !== '..').join('/')}`;
    const notDir = (): Error => fsError(cur === last ? 'EEXIST' : 'ENOTDIR', 'mkdir', ps);
    for (const c of parts) {
      cur = c === '..' ? cur.slice(0, Math.max(0, cur.lastIndexOf('/'))) : `${cur}/${c}`;
      if (c === '..') continue;
      try {
        const st = await this.stat(cur);
        if (!st.isDirectory()) throw notDir();
        continue;
      } catch (e) {
        if (!isErrno(e, 'ENOENT')) throw relabel(e, 'mkdir', ps);
      }
      try {
        await this.mkdir(cur, { mode });
        first ??= cur;
      } catch (e) {
        if (!isErrno(e, 'EEXIST')) throw relabel(e, 'mkdir', ps);
        // Made meanwhile, or a name stat cannot follow (a dangling symlink): stat decides, as in
        // node:fs/promises (a dangling symlink gives ENOENT as the last component, ENOTDIR before it).
        let st: fs.Stats;
        try {
          st = await this.stat(cur);
        } catch (se) {
          throw cur === last ? relabel(se, 'mkdir', ps) : notDir();
        }
        if (!st.isDirectory()) throw notDir();
      }
    }
    return first;
  }

  async symlink(target: fs.PathLike, p: fs.PathLike, _type?: string | null): Promise<void> {
    this.live();
    const t = pathString(target, 'target');
    const ps = pathString(p);
    const r = await this.core.resolve(p, 'symlink', false);
    if (r.entry || !r.dir) throw fsError('EEXIST', 'symlink', t, ps);
    if (this.core.format.isReservedName(r.name)) throw fsError('EPERM', 'symlink', t, ps);
    await this.change('symlink', ps, () =>
      this.lockDir(r, async () => {
        if ((await this.core.dataOf(r.dir!)).entries.has(r.name)) throw fsError('EEXIST', 'symlink', t, ps);
        await placeNew(this.core, r.dir!, r.name, S_IFLNK, (layer, rel) => layer.symlink(t, rel));
      }),
    );
  }

  async link(existing: fs.PathLike, p: fs.PathLike): Promise<void> {
    this.live();
    const es = pathString(existing, 'existingPath');
    const ps = pathString(p, 'newPath');
    const src = await this.core.existing(existing, 'link', false).catch((e: unknown) => {
      throw relabel(e, 'link', es, ps);
    });
    // As the kernel does: the new name is checked first, then the kind of the old one.
    const r = await this.core.resolve(p, 'link', false);
    if (r.entry || !r.dir) throw fsError('EEXIST', 'link', es, ps);
    if (src.entry.type === S_IFDIR) throw fsError('EPERM', 'link', es, ps);
    if (this.core.format.isReservedName(r.name)) throw fsError('EPERM', 'link', es, ps);
    await this.change('link', ps, async () => {
      const e = await this.copyUpResolved(src);
      await this.lockDir(r, async () => {
        if ((await this.core.dataOf(r.dir!)).entries.has(r.name)) throw fsError('EEXIST', 'link', es, ps);
        await placeNew(this.core, r.dir!, r.name, e.type, async (layer, rel) => {
          if (layer === this.core.upper) return layer.link(e.rel, rel);
          // Built in the work directory: link there, then it is renamed into place.
          const upper = this.core.layer(UPPER);
          await fs.promises.link(shortPath(`${upper.root}/${e.rel}`), shortPath(`${layer.root}/${rel}`));
        });
      });
    });
  }

  async mknod(p: fs.PathLike, mode: number, dev = 0): Promise<void> {
    this.live();
    const ps = pathString(p);
    const type = mode & S_IFMT || S_IFREG;
    if (type === S_IFCHR && dev === 0) throw fsError('EPERM', 'mknod', ps);
    if (type === S_IFDIR) throw fsError('EPERM', 'mknod', ps);
    const r = await this.core.resolve(p, 'mknod', false);
    if (r.entry || !r.dir) throw fsError('EEXIST', 'mknod', ps);
    if (this.core.format.isReservedName(r.name)) throw fsError('EPERM', 'mknod', ps);
    await this.change('mknod', ps, () =>
      this.lockDir(r, async () => {
        if ((await this.core.dataOf(r.dir!)).entries.has(r.name)) throw fsError('EEXIST', 'mknod', ps);
        await placeNew(this.core, r.dir!, r.name, type, (layer, rel) => layer.mknod(rel, type | (mode & 0o7777), dev));
      }),
    );
  }

  mkfifo(p: fs.PathLike, mode = 0o666): Promise<void> {
    return this.mknod(p, S_IFIFO | (mode & 0o7777), 0);
  }

  async copyFile(src: fs.PathLike, dest: fs.PathLike, mode = 0): Promise<void> {
    this.live();
    const st = await this.stat(src).catch((e: unknown) => {
      throw relabel(e, 'copyfile', pathString(src), pathString(dest));
    });
    if (st.isDirectory()) throw fsError('EISDIR', 'copyfile', pathString(src), pathString(dest));
    const excl = (mode & fs.constants.COPYFILE_EXCL) !== 0;
    const from = await this.open(src, 'r');
    try {
      const to = await this.open(dest, excl ? 'wx' : 'w', st.mode & 0o7777).catch((e: unknown) => {
        throw relabel(e, 'copyfile', pathString(src), pathString(dest));
      });
      try {
        const buf = Buffer.allocUnsafe(1 << 20);
        for (let pos = 0; ; ) {
          const { bytesRead } = await from.read(buf, 0, buf.length, pos);
          if (bytesRead === 0) break;
          await to.write(buf, 0, bytesRead, pos);
          pos += bytesRead;
        }
        await to.chmod(st.mode & 0o7777);
      } finally {
        await to.close();
      }
    } finally {
      await from.close();
    }
  }

  // ---- removing and renaming ----

  async unlink(p: fs.PathLike): Promise<void> {
    this.live();
    const ps = pathString(p);
    const r = await this.core.existing(p, 'unlink', false);
    if (r.entry.type === S_IFDIR) throw fsError('EISDIR', 'unlink', ps);
    await this.change('unlink', ps, () =>
      this.lockDir(r, async () => {
        const e = (await this.core.dataOf(r.dir!)).entries.get(r.name);
        if (!e) throw fsError('ENOENT', 'unlink', ps);
        // A lower file with other names: copy the group up first, so the names left keep one inode
        // whose link count drops (as the kernel does with index=on).
        if (e.layer !== UPPER && e.type === S_IFREG && (await this.core.layerLstat(e.layer, e.rel)).nlink > 1) {
          await copyUp(this.core, r.dir!, r.name);
        }
        await removeName(this.core, r.dir!, r.name);
      }),
    );
  }

  async rmdir(p: fs.PathLike, _opts?: object): Promise<void> {
    this.live();
    const ps = pathString(p);
    const r = await this.core.existing(p, 'rmdir', false);
    if (r.entry.type !== S_IFDIR) throw fsError('ENOTDIR', 'rmdir', ps);
    if (!r.dir) throw fsError('EBUSY', 'rmdir', ps);
    const last = ps.split('/').filter(Boolean).pop();
    if (last === '.') throw fsError('EINVAL', 'rmdir', ps);
    await this.change('rmdir', ps, () =>
      this.lockDir(r, async () => {
        const node = this.core.dirNodeOf(r);
        const inner = await this.core.dataOf(node);
        if (inner.entries.size > 0) throw fsError('ENOTEMPTY', 'rmdir', ps);
        await removeName(this.core, r.dir!, r.name);
      }),
    );
  }

  async rm(p: fs.PathLike, opts?: { recursive?: boolean; force?: boolean }): Promise<void> {
    this.live();
    const ps = pathString(p);
    let st: fs.Stats;
    try {
      st = await this.lstat(p);
    } catch (e) {
      if (opts?.force && isErrno(e, 'ENOENT')) return;
      throw relabel(e, 'rm', ps);
    }
    if (!st.isDirectory()) return this.unlink(p);
    if (!opts?.recursive) {
      const err = fsError('EISDIR', 'rm', ps, undefined, 'Path is a directory') as unknown as { code: string };
      err.code = 'ERR_FS_EISDIR';
      throw err;
    }
    for (const name of await this.readdir(p)) await this.rm(ps === '/' ? `/${name}` : `${ps}/${name}`, { recursive: true, force: opts.force ?? false });
    if ((await this.core.resolve(p, 'rm', false)).dir) await this.rmdir(p);
  }

  async rename(oldPath: fs.PathLike, newPath: fs.PathLike): Promise<void> {
    this.live();
    const a = pathString(oldPath, 'oldPath');
    const b = pathString(newPath, 'newPath');
    try {
      await renameOp(this.core, a, b);
    } catch (e) {
      throw relabel(e, 'rename', a, b);
    }
  }

  // ---- metadata ----

  private async changeMeta(p: fs.PathLike, syscall: string, follow: boolean, fn: (e: Entry) => Promise<void>, metaOnly = true): Promise<void> {
    this.live();
    const ps = pathString(p);
    const r = await this.core.existing(p, syscall, follow);
    await this.change(syscall, ps, async () => {
      const e = await this.copyUpResolved(r, metaOnly);
      await fn(e);
    });
  }

  chmod(p: fs.PathLike, mode: number | string): Promise<void> {
    const m = parseMode(mode, 0);
    return this.changeMeta(p, 'chmod', true, (e) => this.core.layer(UPPER).chmod(e.rel, m));
  }

  chown(p: fs.PathLike, uid: number, gid: number): Promise<void> {
    return this.changeMeta(p, 'chown', true, (e) => this.core.layer(UPPER).lchown(e.rel, uid, gid));
  }

  lchown(p: fs.PathLike, uid: number, gid: number): Promise<void> {
    return this.changeMeta(p, 'lchown', false, (e) => this.core.layer(UPPER).lchown(e.rel, uid, gid));
  }

  utimes(p: fs.PathLike, atime: number | string | Date, mtime: number | string | Date): Promise<void> {
    return this.changeMeta(p, 'utime', true, (e) => this.core.layer(UPPER).lutimes(e.rel, toTime(atime), toTime(mtime)));
  }

  lutimes(p: fs.PathLike, atime: number | string | Date, mtime: number | string | Date): Promise<void> {
    return this.changeMeta(p, 'lutime', false, (e) => this.core.layer(UPPER).lutimes(e.rel, toTime(atime), toTime(mtime)));
  }

  async truncate(p: fs.PathLike, len = 0): Promise<void> {
    this.live();
    const r = await this.core.existing(p, 'open', true);
    if (r.entry.type === S_IFDIR) throw fsError('EISDIR', 'open', pathString(p));
    return this.changeMeta(p, 'open', true, (e) => this.core.layer(UPPER).truncate(e.rel, len), false);
  }

  // ---- extended attributes (never following a last symlink, like the l*xattr calls) ----

  async getxattr(p: fs.PathLike, name: string): Promise<Buffer> {
    this.live();
    const ps = pathString(p);
    const r = await this.core.existing(p, 'getxattr', false);
    if (this.core.format.isPrivateXattr(name)) throw fsError('ENODATA', 'getxattr', ps);
    const v = await this.core.layer(r.entry.layer).getxattr(r.entry.rel, name).catch((e: unknown) => {
      throw relabel(e, 'getxattr', ps);
    });
    if (v === null) throw fsError('ENODATA', 'getxattr', ps);
    return v;
  }

  async listxattr(p: fs.PathLike): Promise<string[]> {
    this.live();
    const r = await this.core.existing(p, 'listxattr', false);
    const names = await this.core.layer(r.entry.layer).listxattr(r.entry.rel).catch((e: unknown) => {
      throw relabel(e, 'listxattr', pathString(p));
    });
    return names.filter((n) => !this.core.format.isPrivateXattr(n));
  }

  async setxattr(p: fs.PathLike, name: string, value: Buffer | string, flags = 0): Promise<void> {
    const ps = pathString(p);
    if (this.core.format.isPrivateXattr(name)) throw fsError('EPERM', 'setxattr', ps);
    if (flags & (XATTR_CREATE | XATTR_REPLACE)) {
      const has = await this.getxattr(p, name).then(
        () => true,
        (e: unknown) => {
          if (isErrno(e, 'ENODATA')) return false;
          throw e;
        },
      );
      if (has && flags & XATTR_CREATE) throw fsError('EEXIST', 'setxattr', ps);
      if (!has && flags & XATTR_REPLACE) throw fsError('ENODATA', 'setxattr', ps);
    }
    const v = typeof value === 'string' ? Buffer.from(value) : value;
    return this.changeMeta(p, 'setxattr', false, (e) => this.core.layer(UPPER).setxattr(e.rel, name, v, 0));
  }

  async removexattr(p: fs.PathLike, name: string): Promise<void> {
    const ps = pathString(p);
    if (this.core.format.isPrivateXattr(name)) throw fsError('ENODATA', 'removexattr', ps);
    await this.getxattr(p, name).catch((e: unknown) => {
      throw relabel(e, 'removexattr', ps);
    });
    return this.changeMeta(p, 'removexattr', false, (e) => this.core.layer(UPPER).removexattr(e.rel, name));
  }

  // ---- lifecycle ----

  /** Closes every open handle and releases the caches. The union cannot be used afterwards. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.handles].map((h) => h.close().catch(() => undefined)));
    this.handles.clear();
  }
}

export { O_APPEND };
