// A layer held in process memory: a tree of inodes with data, modes, owners, times and xattrs,
// behind the same Layer interface as a directory on disk (for the memory driver and for tests).
// Paths never follow symlinks (the union resolves them); errors are Node-shaped.
import fs from 'node:fs';
import type { Layer, LayerDirent, LayerHandle } from './layer.js';
import { fsError } from '../errors.js';

const { S_IFMT, S_IFREG, S_IFDIR, S_IFLNK, O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_DIRECTORY } = fs.constants;
const O_ACCMODE = 3;
/** One st_dev for every memory layer, so their inode numbers (unique across them) are used as they are. */
export const MEM_DEV = 0x6d656d;
let nextIno = 1;

interface MemInode {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  rdev: number;
  nlink: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
  birthtimeMs: number;
  data: Buffer;
  size: number;
  target: string;
  children: Map<string, MemInode> | null;
  xattrs: Map<string, Buffer>;
}

function inode(mode: number): MemInode {
  const now = Date.now();
  return {
    ino: nextIno++,
    mode,
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    rdev: 0,
    nlink: (mode & S_IFMT) === S_IFDIR ? 2 : 1,
    atimeMs: now,
    mtimeMs: now,
    ctimeMs: now,
    birthtimeMs: now,
    data: Buffer.alloc(0),
    size: 0,
    target: '',
    children: (mode & S_IFMT) === S_IFDIR ? new Map() : null,
    xattrs: new Map(),
  };
}

function umask(mode: number): number {
  return mode & ~process.umask();
}

function toMs(t: number | Date): number {
  return t instanceof Date ? t.getTime() : t * 1000;
}

function statsOf(n: MemInode): fs.Stats {
  const s = Object.create(fs.Stats.prototype) as fs.Stats;
  Object.assign(s, {
    dev: MEM_DEV,
    mode: n.mode,
    nlink: n.nlink,
    uid: n.uid,
    gid: n.gid,
    rdev: n.rdev,
    blksize: 4096,
    ino: n.ino,
    size: (n.mode & S_IFMT) === S_IFLNK ? Buffer.byteLength(n.target) : (n.mode & S_IFMT) === S_IFDIR ? 4096 : n.size,
    blocks: Math.ceil(n.size / 512),
    atimeMs: n.atimeMs,
    mtimeMs: n.mtimeMs,
    ctimeMs: n.ctimeMs,
    birthtimeMs: n.birthtimeMs,
    atime: new Date(n.atimeMs),
    mtime: new Date(n.mtimeMs),
    ctime: new Date(n.ctimeMs),
    birthtime: new Date(n.birthtimeMs),
  });
  return s;
}

function ensureCapacity(n: MemInode, size: number): void {
  if (n.data.length >= size) return;
  const grown = Buffer.alloc(Math.max(size, n.data.length * 2, 64));
  n.data.copy(grown, 0, 0, n.size);
  n.data = grown;
}

function setSize(n: MemInode, len: number): void {
  if (len > n.size) {
    ensureCapacity(n, len);
    n.data.fill(0, n.size, len);
  }
  n.size = len;
  n.mtimeMs = n.ctimeMs = Date.now();
}

class MemHandle implements LayerHandle {
  readonly fd = null;
  private closed = false;
  constructor(
    private readonly n: MemInode,
    private readonly flags: number,
  ) {}
  private live(syscall: string): void {
    if (this.closed) throw fsError('EBADF', syscall);
  }
  async read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    this.live('read');
    if (this.n.children) throw fsError('EISDIR', 'read');
    if (position >= this.n.size) return 0;
    const count = Math.min(length, this.n.size - position);
    buf.set(this.n.data.subarray(position, position + count), offset);
    return count;
  }
  async write(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    this.live('write');
    if ((this.flags & O_ACCMODE) === fs.constants.O_RDONLY) throw fsError('EBADF', 'write');
    const at = this.flags & O_APPEND ? this.n.size : position;
    ensureCapacity(this.n, at + length);
    if (at > this.n.size) this.n.data.fill(0, this.n.size, at);
    this.n.data.set(buf.subarray(offset, offset + length), at);
    this.n.size = Math.max(this.n.size, at + length);
    this.n.mtimeMs = this.n.ctimeMs = Date.now();
    return length;
  }
  async stat(): Promise<fs.Stats> {
    this.live('fstat');
    return statsOf(this.n);
  }
  async truncate(len: number): Promise<void> {
    this.live('ftruncate');
    setSize(this.n, len);
  }
  async sync(): Promise<void> {
    this.live('fsync');
  }
  async datasync(): Promise<void> {
    this.live('fdatasync');
  }
  async chmod(mode: number): Promise<void> {
    this.n.mode = (this.n.mode & S_IFMT) | (mode & 0o7777);
    this.n.ctimeMs = Date.now();
  }
  async chown(uid: number, gid: number): Promise<void> {
    if (uid !== -1) this.n.uid = uid;
    if (gid !== -1) this.n.gid = gid;
    // Like Linux: changing a regular file's owner drops setuid, and setgid when group-executable.
    if ((this.n.mode & S_IFMT) === S_IFREG) {
      this.n.mode &= ~0o4000;
      if (this.n.mode & 0o010) this.n.mode &= ~0o2000;
    }
    this.n.ctimeMs = Date.now();
  }
  async utimes(atime: number | Date, mtime: number | Date): Promise<void> {
    this.n.atimeMs = toMs(atime);
    this.n.mtimeMs = toMs(mtime);
    this.n.ctimeMs = Date.now();
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

export class MemLayer implements Layer {
  readonly root = null;
  readonly id: string;
  private readonly top = inode(S_IFDIR | 0o755);
  private static count = 0;

  constructor(name?: string) {
    this.id = `mem:${name ?? ++MemLayer.count}`;
  }

  async supportsXattrs(): Promise<boolean> {
    return true;
  }
  async canMknodWhiteout(): Promise<boolean> {
    return true;
  }

  private walk(rel: string, syscall: string): MemInode {
    let n = this.top;
    if (rel === '') return n;
    for (const part of rel.split('/')) {
      if (!n.children) throw fsError('ENOTDIR', syscall, rel);
      const c = n.children.get(part);
      if (!c) throw fsError('ENOENT', syscall, rel);
      n = c;
    }
    return n;
  }

  private parentOf(rel: string, syscall: string): { dir: MemInode; name: string } {
    const i = rel.lastIndexOf('/');
    const dir = this.walk(i < 0 ? '' : rel.slice(0, i), syscall);
    if (!dir.children) throw fsError('ENOTDIR', syscall, rel);
    return { dir, name: i < 0 ? rel : rel.slice(i + 1) };
  }

  private add(rel: string, n: MemInode, syscall: string): void {
    const { dir, name } = this.parentOf(rel, syscall);
    if (dir.children!.has(name)) throw fsError('EEXIST', syscall, rel);
    dir.children!.set(name, n);
    if (n.children) dir.nlink++;
    dir.mtimeMs = dir.ctimeMs = Date.now();
  }

  async lstat(rel: string): Promise<fs.Stats> {
    return statsOf(this.walk(rel, 'lstat'));
  }

  async readdir(rel: string): Promise<LayerDirent[]> {
    const n = this.walk(rel, 'scandir');
    if (!n.children) throw fsError('ENOTDIR', 'scandir', rel);
    return [...n.children].map(([name, c]) => ({ name, type: c.mode & S_IFMT }));
  }

  async readlink(rel: string): Promise<string> {
    const n = this.walk(rel, 'readlink');
    if ((n.mode & S_IFMT) !== S_IFLNK) throw fsError('EINVAL', 'readlink', rel);
    return n.target;
  }

  async open(rel: string, flags: number, mode = 0o666): Promise<LayerHandle> {
    let n: MemInode;
    try {
      n = this.walk(rel, 'open');
      if (flags & O_CREAT && flags & O_EXCL) throw fsError('EEXIST', 'open', rel);
    } catch (e) {
      if ((e as { code?: string }).code !== 'ENOENT' || !(flags & O_CREAT)) throw e;
      n = inode(S_IFREG | umask(mode & 0o7777));
      this.add(rel, n, 'open');
    }
    if ((n.mode & S_IFMT) === S_IFLNK) throw fsError('ELOOP', 'open', rel);
    if (flags & O_DIRECTORY && !n.children) throw fsError('ENOTDIR', 'open', rel);
    if (n.children && (flags & O_ACCMODE) !== fs.constants.O_RDONLY) throw fsError('EISDIR', 'open', rel);
    if (flags & O_TRUNC && !n.children) setSize(n, 0);
    return new MemHandle(n, flags);
  }

  async statfs(): Promise<fs.StatsFs> {
    return { type: 0x01021994, bsize: 4096, blocks: 1 << 20, bfree: 1 << 19, bavail: 1 << 19, files: 1 << 20, ffree: 1 << 19 } as fs.StatsFs;
  }

  async getxattr(rel: string, name: string): Promise<Buffer | null> {
    return this.walk(rel, 'getxattr').xattrs.get(name) ?? null;
  }
  async listxattr(rel: string): Promise<string[]> {
    return [...this.walk(rel, 'listxattr').xattrs.keys()];
  }

  async mkdir(rel: string, mode: number): Promise<void> {
    this.add(rel, inode(S_IFDIR | umask(mode & 0o7777)), 'mkdir');
  }

  async rmdir(rel: string): Promise<void> {
    const { dir, name } = this.parentOf(rel, 'rmdir');
    const n = dir.children!.get(name);
    if (!n) throw fsError('ENOENT', 'rmdir', rel);
    if (!n.children) throw fsError('ENOTDIR', 'rmdir', rel);
    if (n.children.size) throw fsError('ENOTEMPTY', 'rmdir', rel);
    dir.children!.delete(name);
    dir.nlink--;
    dir.mtimeMs = dir.ctimeMs = Date.now();
  }

  async unlink(rel: string): Promise<void> {
    const { dir, name } = this.parentOf(rel, 'unlink');
    const n = dir.children!.get(name);
    if (!n) throw fsError('ENOENT', 'unlink', rel);
    if (n.children) throw fsError('EISDIR', 'unlink', rel);
    dir.children!.delete(name);
    n.nlink--;
    n.ctimeMs = dir.mtimeMs = dir.ctimeMs = Date.now();
  }

  async rename(from: string, to: string): Promise<void> {
    const a = this.parentOf(from, 'rename');
    const n = a.dir.children!.get(a.name);
    if (!n) throw fsError('ENOENT', 'rename', from, to);
    const b = this.parentOf(to, 'rename');
    const old = b.dir.children!.get(b.name);
    if (old === n) return;
    if (old) {
      if (old.children && !n.children) throw fsError('EISDIR', 'rename', from, to);
      if (!old.children && n.children) throw fsError('ENOTDIR', 'rename', from, to);
      if (old.children && old.children.size) throw fsError('ENOTEMPTY', 'rename', from, to);
      old.nlink--;
    }
    a.dir.children!.delete(a.name);
    b.dir.children!.set(b.name, n);
    a.dir.mtimeMs = a.dir.ctimeMs = b.dir.mtimeMs = b.dir.ctimeMs = n.ctimeMs = Date.now();
    if (n.children && a.dir !== b.dir) {
      a.dir.nlink--;
      b.dir.nlink++;
    }
  }

  async link(existing: string, rel: string): Promise<void> {
    const n = this.walk(existing, 'link');
    if (n.children) throw fsError('EPERM', 'link', existing, rel);
    this.add(rel, n, 'link');
    n.nlink++;
  }

  async symlink(target: string, rel: string): Promise<void> {
    const n = inode(S_IFLNK | 0o777);
    n.target = target;
    this.add(rel, n, 'symlink');
  }

  async mknod(rel: string, mode: number, dev: number): Promise<void> {
    const n = inode((mode & S_IFMT || S_IFREG) | umask(mode & 0o7777));
    n.rdev = dev;
    this.add(rel, n, 'mknod');
  }

  async chmod(rel: string, mode: number): Promise<void> {
    await new MemHandle(this.walk(rel, 'chmod'), 0).chmod(mode);
  }
  async lchown(rel: string, uid: number, gid: number): Promise<void> {
    await new MemHandle(this.walk(rel, 'lchown'), 0).chown(uid, gid);
  }
  async lutimes(rel: string, atime: number | Date, mtime: number | Date): Promise<void> {
    await new MemHandle(this.walk(rel, 'lutime'), 0).utimes(atime, mtime);
  }
  async truncate(rel: string, len: number): Promise<void> {
    const n = this.walk(rel, 'open');
    if (n.children) throw fsError('EISDIR', 'open', rel);
    setSize(n, len);
  }

  async setxattr(rel: string, name: string, value: Buffer, flags = 0): Promise<void> {
    const n = this.walk(rel, 'setxattr');
    if (flags & 1 && n.xattrs.has(name)) throw fsError('EEXIST', 'setxattr', rel);
    if (flags & 2 && !n.xattrs.has(name)) throw fsError('ENODATA', 'setxattr', rel);
    n.xattrs.set(name, Buffer.from(value));
  }
  async removexattr(rel: string, name: string): Promise<void> {
    const n = this.walk(rel, 'removexattr');
    if (!n.xattrs.delete(name)) throw fsError('ENODATA', 'removexattr', rel);
  }

  async copyFileFrom(from: Layer, src: string, rel: string): Promise<void> {
    const sh = await from.open(src, fs.constants.O_RDONLY);
    const chunks: Buffer[] = [];
    try {
      const buf = Buffer.allocUnsafe(1 << 20);
      for (let pos = 0; ; ) {
        const n = await sh.read(buf, 0, buf.length, pos);
        if (n === 0) break;
        chunks.push(Buffer.from(buf.subarray(0, n)));
        pos += n;
      }
    } finally {
      await sh.close();
    }
    let n: MemInode;
    try {
      n = this.walk(rel, 'copyfile');
    } catch {
      n = inode(S_IFREG | 0o600);
      this.add(rel, n, 'copyfile');
    }
    const data = Buffer.concat(chunks);
    n.data = data;
    n.size = data.length;
  }
}
