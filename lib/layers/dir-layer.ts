// A layer that is a directory on disk: node:fs for everything Node has, the native addon for
// xattrs and mknod. Paths are relative to the layer root; '' is the root itself. Every call goes
// through `os()`, which shortens paths longer than the kernel takes (lib/long-path.ts).
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Layer, LayerDirent, LayerHandle } from './layer.js';
import { native, warnNoNativeOnce, XATTR_CREATE } from '../native.js';
import { fsError, isErrno } from '../errors.js';
import { shortPath } from '../long-path.js';
import { nodeTime } from '../args.js';

const { S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK } = fs.constants;

function direntType(d: fs.Dirent): number {
  if (d.isFile()) return S_IFREG;
  if (d.isDirectory()) return S_IFDIR;
  if (d.isSymbolicLink()) return S_IFLNK;
  if (d.isCharacterDevice()) return S_IFCHR;
  if (d.isBlockDevice()) return S_IFBLK;
  if (d.isFIFO()) return S_IFIFO;
  if (d.isSocket()) return S_IFSOCK;
  return 0;
}

class DirHandle implements LayerHandle {
  constructor(private readonly h: fsp.FileHandle) {}
  get fd(): number {
    return this.h.fd;
  }
  async read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return (await this.h.read(buf, offset, length, position)).bytesRead;
  }
  async write(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return (await this.h.write(buf, offset, length, position)).bytesWritten;
  }
  stat(): Promise<fs.Stats> {
    return this.h.stat();
  }
  truncate(len: number): Promise<void> {
    return this.h.truncate(len);
  }
  sync(): Promise<void> {
    return this.h.sync();
  }
  datasync(): Promise<void> {
    return this.h.datasync();
  }
  chmod(mode: number): Promise<void> {
    return this.h.chmod(mode);
  }
  chown(uid: number, gid: number): Promise<void> {
    return this.h.chown(uid, gid);
  }
  utimes(atime: number | Date, mtime: number | Date): Promise<void> {
    return this.h.utimes(nodeTime(atime), nodeTime(mtime));
  }
  close(): Promise<void> {
    return this.h.close();
  }
}

/**
 * Synchronous system calls for everything but data copies and fsync: metadata reads and changes,
 * opens, and open files' reads, writes and attribute changes. A FUSE server answers requests from a
 * single JavaScript thread, and a hop through libuv's thread pool costs more than the call itself
 * on a local filesystem (ufsmount turns this on; in-process users keep the asynchronous calls,
 * which never block their event loop).
 */
let syncMetadata = false;
export function setSyncMetadata(on: boolean): void {
  syncMetadata = on;
}

/** An open layer file on a plain descriptor with synchronous calls (setSyncMetadata). */
class SyncFdHandle implements LayerHandle {
  constructor(readonly fd: number) {}
  read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return now(() => fs.readSync(this.fd, buf, offset, length, position));
  }
  write(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return now(() => fs.writeSync(this.fd, buf, offset, length, position));
  }
  stat(): Promise<fs.Stats> {
    return now(() => fs.fstatSync(this.fd));
  }
  truncate(len: number): Promise<void> {
    return now(() => fs.ftruncateSync(this.fd, len));
  }
  sync(): Promise<void> {
    return new Promise((ok, fail) => fs.fsync(this.fd, (e) => (e ? fail(e) : ok())));
  }
  datasync(): Promise<void> {
    return new Promise((ok, fail) => fs.fdatasync(this.fd, (e) => (e ? fail(e) : ok())));
  }
  chmod(mode: number): Promise<void> {
    return now(() => fs.fchmodSync(this.fd, mode));
  }
  chown(uid: number, gid: number): Promise<void> {
    return now(() => fs.fchownSync(this.fd, uid, gid));
  }
  utimes(atime: number | Date, mtime: number | Date): Promise<void> {
    return now(() => fs.futimesSync(this.fd, nodeTime(atime), nodeTime(mtime)));
  }
  close(): Promise<void> {
    return now(() => fs.closeSync(this.fd));
  }
}

function now<T>(f: () => T): Promise<T> {
  try {
    return Promise.resolve(f());
  } catch (e) {
    return Promise.reject(e as Error);
  }
}

export class DirLayer implements Layer {
  readonly id: string;
  readonly root: string;
  private xattrOk: boolean | undefined;
  private mknodOk: boolean | undefined;

  constructor(root: string) {
    this.root = path.resolve(root);
    this.id = this.root;
  }

  /** The real path of a layer-relative path (may be longer than PATH_MAX: see os()). */
  real(rel: string): string {
    return rel === '' ? this.root : `${this.root}/${rel}`;
  }

  /** A path to give the OS for a layer-relative path: the real path, shortened when too long. */
  os(rel: string): string {
    return shortPath(rel === '' ? this.root : `${this.root}/${rel}`);
  }

  async supportsXattrs(): Promise<boolean> {
    if (this.xattrOk !== undefined) return this.xattrOk;
    const n = native();
    if (!n) {
      this.xattrOk = false;
      return false;
    }
    // Probe with a private attribute on the root: set then remove it.
    try {
      await n.lsetxattr(this.root, 'user.ufs.probe', Buffer.from('1'), 0);
      await n.lremovexattr(this.root, 'user.ufs.probe');
      this.xattrOk = true;
    } catch (e) {
      // A read-only lower layer cannot be probed by writing: reading tells whether xattrs exist at all.
      this.xattrOk = isErrno(e, 'EROFS', 'EACCES', 'EPERM');
    }
    return this.xattrOk;
  }

  async canMknodWhiteout(): Promise<boolean> {
    if (this.mknodOk !== undefined) return this.mknodOk;
    const n = native();
    if (!n || process.getuid?.() !== 0) {
      this.mknodOk = false;
      return false;
    }
    const probe = path.join(this.root, `.ufs-probe-${process.pid}-${Date.now()}`);
    try {
      await n.mknod(probe, S_IFCHR, 0);
      await fsp.unlink(probe);
      this.mknodOk = true;
    } catch {
      this.mknodOk = false;
    }
    return this.mknodOk;
  }

  lstat(rel: string): Promise<fs.Stats> {
    if (syncMetadata) return now(() => fs.lstatSync(this.os(rel)));
    return fsp.lstat(this.os(rel));
  }

  async readdir(rel: string): Promise<LayerDirent[]> {
    const list = syncMetadata ? fs.readdirSync(this.os(rel), { withFileTypes: true }) : await fsp.readdir(this.os(rel), { withFileTypes: true });
    const out: LayerDirent[] = new Array(list.length);
    for (let i = 0; i < list.length; i++) {
      const d = list[i]!;
      let type = direntType(d);
      if (type === 0) type = (await this.lstat(rel === '' ? d.name : `${rel}/${d.name}`)).mode & fs.constants.S_IFMT;
      out[i] = { name: d.name, type };
    }
    return out;
  }

  readlink(rel: string): Promise<string> {
    if (syncMetadata) return now(() => fs.readlinkSync(this.os(rel)));
    return fsp.readlink(this.os(rel));
  }

  async open(rel: string, flags: number, mode?: number): Promise<LayerHandle> {
    if (syncMetadata) return new SyncFdHandle(fs.openSync(this.os(rel), flags, mode));
    return new DirHandle(await fsp.open(this.os(rel), flags, mode));
  }

  statfs(rel: string): Promise<fs.StatsFs> {
    return fsp.statfs(this.os(rel));
  }

  async getxattr(rel: string, name: string): Promise<Buffer | null> {
    const n = native();
    if (!n) return null;
    try {
      return await (syncMetadata ? now(() => n.lgetxattrSync(this.os(rel), name)) : n.lgetxattr(this.os(rel), name));
    } catch (e) {
      if (isErrno(e, 'ENODATA', 'ENOTSUP', 'EOPNOTSUPP')) return null;
      throw e;
    }
  }

  async listxattr(rel: string): Promise<string[]> {
    const n = native();
    if (!n) return [];
    try {
      return await (syncMetadata ? now(() => n.llistxattrSync(this.os(rel))) : n.llistxattr(this.os(rel)));
    } catch (e) {
      if (isErrno(e, 'ENOTSUP', 'EOPNOTSUPP')) return [];
      throw e;
    }
  }

  mkdir(rel: string, mode: number): Promise<void> {
    if (syncMetadata) return now(() => void fs.mkdirSync(this.os(rel), mode));
    return fsp.mkdir(this.os(rel), mode) as Promise<unknown> as Promise<void>;
  }
  rmdir(rel: string): Promise<void> {
    if (syncMetadata) return now(() => fs.rmdirSync(this.os(rel)));
    return fsp.rmdir(this.os(rel));
  }
  unlink(rel: string): Promise<void> {
    if (syncMetadata) return now(() => fs.unlinkSync(this.os(rel)));
    return fsp.unlink(this.os(rel));
  }
  rename(from: string, to: string): Promise<void> {
    if (syncMetadata) return now(() => fs.renameSync(this.os(from), this.os(to)));
    return fsp.rename(this.os(from), this.os(to));
  }
  link(existing: string, rel: string): Promise<void> {
    if (syncMetadata) return now(() => fs.linkSync(this.os(existing), this.os(rel)));
    return fsp.link(this.os(existing), this.os(rel));
  }
  symlink(target: string, rel: string): Promise<void> {
    if (syncMetadata) return now(() => fs.symlinkSync(target, this.os(rel)));
    return fsp.symlink(target, this.os(rel));
  }
  async mknod(rel: string, mode: number, dev: number): Promise<void> {
    const type = mode & fs.constants.S_IFMT;
    const n = native();
    if (n) return syncMetadata ? now(() => n.mknodSync(this.os(rel), mode, dev)) : n.mknod(this.os(rel), mode, dev);
    warnNoNativeOnce('mknod is unavailable');
    if (type === S_IFREG || type === 0) {
      const h = await fsp.open(this.os(rel), 'wx', mode & 0o7777);
      return h.close();
    }
    throw fsError('ENOSYS', 'mknod', rel, undefined, 'mknod needs the native addon');
  }
  chmod(rel: string, mode: number): Promise<void> {
    if (syncMetadata) return now(() => fs.chmodSync(this.os(rel), mode));
    return fsp.chmod(this.os(rel), mode);
  }
  lchown(rel: string, uid: number, gid: number): Promise<void> {
    if (syncMetadata) return now(() => fs.lchownSync(this.os(rel), uid, gid));
    return fsp.lchown(this.os(rel), uid, gid);
  }
  lutimes(rel: string, atime: number | Date, mtime: number | Date): Promise<void> {
    if (syncMetadata) return now(() => fs.lutimesSync(this.os(rel), nodeTime(atime), nodeTime(mtime)));
    return fsp.lutimes(this.os(rel), nodeTime(atime), nodeTime(mtime));
  }
  truncate(rel: string, len: number): Promise<void> {
    if (syncMetadata) return now(() => fs.truncateSync(this.os(rel), len));
    return fsp.truncate(this.os(rel), len);
  }
  async setxattr(rel: string, name: string, value: Buffer, flags = 0): Promise<void> {
    const n = native();
    if (!n) {
      warnNoNativeOnce('xattrs are unavailable');
      throw fsError('ENOTSUP', 'setxattr', rel, undefined, 'xattrs need the native addon');
    }
    return syncMetadata ? now(() => n.lsetxattrSync(this.os(rel), name, value, flags)) : n.lsetxattr(this.os(rel), name, value, flags);
  }
  async removexattr(rel: string, name: string): Promise<void> {
    const n = native();
    if (!n) throw fsError('ENOTSUP', 'removexattr', rel, undefined, 'xattrs need the native addon');
    return syncMetadata ? now(() => n.lremovexattrSync(this.os(rel), name)) : n.lremovexattr(this.os(rel), name);
  }
  async copyFileFrom(from: Layer, src: string, rel: string): Promise<void> {
    if (from instanceof DirLayer) {
      // Made as a new file where it can be (a copy-up builds under a fresh name): then libuv does not
      // ftruncate it first, which would make ext4 write the whole copy out when it is closed
      // (auto_da_alloc: 0.2 s per GiB here, on the request's path).
      try {
        await fsp.copyFile(from.os(src), this.os(rel), fs.constants.COPYFILE_FICLONE | fs.constants.COPYFILE_EXCL);
      } catch (e) {
        if (!isErrno(e, 'EEXIST')) throw e;
        await fsp.copyFile(from.os(src), this.os(rel), fs.constants.COPYFILE_FICLONE);
      }
      return;
    }
    // From a memory layer: stream the bytes through.
    const sh = await from.open(src, fs.constants.O_RDONLY);
    const dh = await fsp.open(this.os(rel), 'w', 0o600);
    try {
      const buf = Buffer.allocUnsafe(1 << 20);
      let pos = 0;
      for (;;) {
        const n = await sh.read(buf, 0, buf.length, pos);
        if (n === 0) break;
        await dh.write(buf, 0, n, pos);
        pos += n;
      }
    } finally {
      await sh.close();
      await dh.close();
    }
  }
}

export { XATTR_CREATE };
