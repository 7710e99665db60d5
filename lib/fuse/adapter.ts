// The FUSE adapter: fuse-native's callback operations translated to FuseTarget (UnionFs) calls.
// Translation only — attributes, errno numbers, file handles — and no union logic of its own.
import fs from 'node:fs';
import { toFuseStat, toFuseStatfs, type FuseStat, type FuseStatfs } from './attr.js';
import { ERR, toErrno } from './errno.js';
import type { FuseTarget, TargetHandle } from './target.js';

type Cb<T = void> = T extends void ? (err: number) => void : (err: number, value?: T) => void;

/** The operations object fuse-native calls (its callback conventions, errors as negative errno). */
export interface FuseOps {
  init(cb: Cb): void;
  getattr(path: string, cb: Cb<FuseStat>): void;
  fgetattr(path: string, fd: number, cb: Cb<FuseStat>): void;
  access(path: string, mode: number, cb: Cb): void;
  statfs(path: string, cb: Cb<FuseStatfs>): void;
  readdir(path: string, cb: (err: number, names?: string[], stats?: FuseStat[]) => void): void;
  open(path: string, flags: number, cb: Cb<number>): void;
  create(path: string, mode: number, cb: Cb<number>): void;
  read(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void): void;
  write(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void): void;
  flush(path: string, fd: number, cb: Cb): void;
  release(path: string, fd: number, cb: Cb): void;
  fsync(path: string, datasync: number, fd: number, cb: Cb): void;
  truncate(path: string, size: number, cb: Cb): void;
  ftruncate(path: string, fd: number, size: number, cb: Cb): void;
  readlink(path: string, cb: Cb<string>): void;
  chown(path: string, uid: number, gid: number, cb: Cb): void;
  chmod(path: string, mode: number, cb: Cb): void;
  utimens(path: string, atime: number, mtime: number, cb: Cb): void;
  mknod(path: string, mode: number, dev: number, cb: Cb): void;
  unlink(path: string, cb: Cb): void;
  rename(src: string, dest: string, cb: Cb): void;
  link(src: string, dest: string, cb: Cb): void;
  symlink(target: string, path: string, cb: Cb): void;
  mkdir(path: string, mode: number, cb: Cb): void;
  rmdir(path: string, cb: Cb): void;
  getxattr(path: string, name: string, position: number, cb: (err: number, value?: Buffer) => void): void;
  setxattr(path: string, name: string, value: Buffer, position: number, flags: number, cb: Cb): void;
  listxattr(path: string, cb: (err: number, list?: string[]) => void): void;
  removexattr(path: string, name: string, cb: Cb): void;
}

export interface AdapterOptions {
  /** The union has no writable layer: every change is EROFS before it reaches the target. */
  readOnly: boolean;
}

/** The adapter's open-file table: FUSE file handles (32-bit, never 0) to target handles. */
export class HandleTable {
  private readonly map = new Map<number, TargetHandle>();
  private next = 1;

  add(h: TargetHandle): number {
    while (this.map.has(this.next) || this.next === 0) this.next = (this.next + 1) % 0x7fffffff;
    const fh = this.next;
    this.map.set(fh, h);
    this.next = (this.next + 1) % 0x7fffffff;
    return fh;
  }

  get(fh: number): TargetHandle | undefined {
    return this.map.get(fh);
  }

  take(fh: number): TargetHandle | undefined {
    const h = this.map.get(fh);
    this.map.delete(fh);
    return h;
  }

  get size(): number {
    return this.map.size;
  }

  /** Closes every handle still open (at unmount). */
  async closeAll(): Promise<void> {
    const all = [...this.map.values()];
    this.map.clear();
    await Promise.allSettled(all.map((h) => h.close()));
  }
}

const NAME_MAX = 255;
const O_ACCMODE = 3;
const { O_APPEND, O_DIRECT, O_CREAT, O_EXCL, O_TRUNC, O_RDWR, S_IFMT, S_IFREG, O_WRONLY } = fs.constants;
const UNCHANGED_ID = 0xffffffff;

/** True when some component of `p` is longer than NAME_MAX bytes (the kernel leaves this to us). */
export function hasLongName(p: string): boolean {
  if (p.length <= NAME_MAX && Buffer.byteLength(p) <= NAME_MAX) return false;
  return p.split('/').some((c) => c.length > 0 && Buffer.byteLength(c) > NAME_MAX);
}

/** The parent of a union path ('/' for '/' and top-level names). */
function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

/**
 * Open flags as the target sees them. The kernel already chose every write position (an O_APPEND
 * write arrives with the end-of-file offset), so O_APPEND is dropped, as is O_DIRECT (requests come
 * from libfuse's unaligned buffers); creation and truncation arrive as their own operations.
 */
export function targetOpenFlags(flags: number): number {
  return flags & ~(O_APPEND | O_DIRECT | O_CREAT | O_EXCL | O_TRUNC);
}

/** Builds the fuse-native operations over `target`, with `handles` as the open-file table. */
export function createOps(target: FuseTarget, opts: AdapterOptions, handles = new HandleTable()): FuseOps {
  const writes = !opts.readOnly;

  /** Runs `fn` and reports its value or its error (as negative errno) through `cb`. */
  function run<T>(cb: (err: number, value?: T) => void, fn: () => Promise<T>, ...paths: string[]): void {
    for (const p of paths) {
      if (hasLongName(p)) {
        cb(ERR.ENAMETOOLONG);
        return;
      }
    }
    let p: Promise<T>;
    try {
      p = fn();
    } catch (e) {
      cb(toErrno(e));
      return;
    }
    p.then((v) => cb(0, v), (e: unknown) => cb(toErrno(e)));
  }

  /** Like run, for operations that change the union: EROFS at once on a read-only mount. */
  function change(cb: (err: number) => void, fn: () => Promise<unknown>, ...paths: string[]): void {
    if (!writes) {
      cb(ERR.EROFS);
      return;
    }
    run(cb, fn, ...paths);
  }

  function withHandle<T>(fd: number, cb: (err: number, value?: T) => void, fn: (h: TargetHandle) => Promise<T>): void {
    const h = handles.get(fd);
    if (!h) {
      cb(ERR.EBADF);
      return;
    }
    run(cb, () => fn(h));
  }

  const ops: FuseOps = {
    init(cb) {
      cb(0);
    },

    getattr(path, cb) {
      run(cb, async () => toFuseStat(await target.lstat(path)), path);
    },

    fgetattr(path, fd, cb) {
      const h = handles.get(fd);
      if (!h) return ops.getattr(path, cb);
      run(cb, async () => toFuseStat(await h.stat()));
    },

    access(path, mode, cb) {
      run(cb, () => target.access(path, mode), path);
    },

    statfs(path, cb) {
      run(cb, async () => toFuseStatfs(await target.statfs(path), opts.readOnly), path);
    },

    readdir(path, cb) {
      if (hasLongName(path)) return cb(ERR.ENAMETOOLONG);
      Promise.all([target.readdirPlus(path), target.lstat(path), path === '/' ? null : target.lstat(parentOf(path))])
        .then(([entries, self, parent]) => {
          const names = ['.', '..'];
          const stats = [toFuseStat(self), toFuseStat(parent ?? self)];
          for (const e of entries) {
            names.push(e.name);
            stats.push(toFuseStat(e.stats));
          }
          cb(0, names, stats);
        }, (e: unknown) => cb(toErrno(e)));
    },

    open(path, flags, cb) {
      if (!writes && (flags & O_ACCMODE) !== 0) return cb(ERR.EROFS);
      run(cb, async () => handles.add(await target.open(path, targetOpenFlags(flags))), path);
    },

    create(path, mode, cb) {
      if (!writes) return cb(ERR.EROFS);
      run(cb, async () => handles.add(await target.open(path, O_CREAT | O_RDWR, mode & 0o7777)), path);
    },

    read(_path, fd, buf, len, pos, cb) {
      const h = handles.get(fd);
      if (!h) return cb(ERR.EBADF);
      h.read(buf, 0, len, pos).then((r) => cb(r.bytesRead), (e: unknown) => cb(toErrno(e)));
    },

    write(_path, fd, buf, len, pos, cb) {
      const h = handles.get(fd);
      if (!h) return cb(ERR.EBADF);
      h.write(buf, 0, len, pos).then((r) => cb(r.bytesWritten), (e: unknown) => cb(toErrno(e)));
    },

    flush(_path, fd, cb) {
      cb(handles.get(fd) ? 0 : ERR.EBADF);
    },

    release(_path, fd, cb) {
      const h = handles.take(fd);
      if (!h) return cb(0);
      h.close().then(() => cb(0), (e: unknown) => cb(toErrno(e)));
    },

    fsync(_path, datasync, fd, cb) {
      withHandle(fd, cb, (h) => (datasync ? h.datasync() : h.sync()));
    },

    truncate(path, size, cb) {
      change(cb, () => target.truncate(path, size), path);
    },

    ftruncate(path, fd, size, cb) {
      if (!writes) return cb(ERR.EROFS);
      if (!handles.get(fd)) return ops.truncate(path, size, cb);
      withHandle(fd, cb, (h) => h.truncate(size));
    },

    readlink(path, cb) {
      run(cb, () => target.readlink(path), path);
    },

    chown(path, uid, gid, cb) {
      const u = uid === UNCHANGED_ID ? -1 : uid;
      const g = gid === UNCHANGED_ID ? -1 : gid;
      change(cb, () => target.lchown(path, u, g), path);
    },

    chmod(path, mode, cb) {
      change(cb, () => target.chmod(path, mode & 0o7777), path);
    },

    utimens(path, atime, mtime, cb) {
      change(cb, () => target.lutimes(path, atime / 1000, mtime / 1000), path);
    },

    mknod(path, mode, dev, cb) {
      if ((mode & S_IFMT) === S_IFREG || (mode & S_IFMT) === 0) {
        // A regular file made by mknod(2): create it empty with its mode.
        change(cb, async () => {
          const h = await target.open(path, O_CREAT | O_EXCL | O_WRONLY, mode & 0o7777);
          await h.close();
        }, path);
        return;
      }
      change(cb, () => target.mknod(path, mode, dev), path);
    },

    unlink(path, cb) {
      change(cb, () => target.unlink(path), path);
    },

    rename(src, dest, cb) {
      change(cb, () => target.rename(src, dest), src, dest);
    },

    link(src, dest, cb) {
      change(cb, () => target.link(src, dest), src, dest);
    },

    symlink(linkTarget, path, cb) {
      change(cb, () => target.symlink(linkTarget, path), path);
    },

    mkdir(path, mode, cb) {
      change(cb, () => target.mkdir(path, { mode: mode & 0o7777 }), path);
    },

    rmdir(path, cb) {
      change(cb, () => target.rmdir(path), path);
    },

    getxattr(path, name, _position, cb) {
      run(cb, () => target.getxattr(path, name), path);
    },

    setxattr(path, name, value, _position, flags, cb) {
      const copy = Buffer.from(value); // libfuse's buffer is gone once we answer
      change(cb, () => target.setxattr(path, name, copy, flags), path);
    },

    listxattr(path, cb) {
      run(cb, () => target.listxattr(path), path);
    },

    removexattr(path, name, cb) {
      change(cb, () => target.removexattr(path, name), path);
    },
  };
  return ops;
}
