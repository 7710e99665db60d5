// The fallback binding: fuse-native 2.2.6 (over Debian's libfuse2) driving the adapter, with our
// own libfuse option string, no per-operation timeout, and fixes to its fgetattr and xattr handlers.
import { createRequire } from 'node:module';
import type { FuseAdapter } from './adapter.js';
import { toFuseStat, toFuseStatfs, type FuseStat } from './attr.js';
import { ERR, toErrno } from './errno.js';

type Signal = (err: number, ...values: unknown[]) => void;
type Cb<T> = (err: number, value?: T) => void;

interface FuseInstance {
  mount(cb: (err: Error | null) => void): void;
}

type FuseClass = new (mnt: string, ops: object, opts: Record<string, unknown>) => FuseInstance;

/** Why a FUSE binding could not be loaded (a missing libfuse2, most often), in one line. */
export class FuseUnavailable extends Error {
  constructor(detail: string) {
    super(`ufsmount: cannot load FUSE support (libfuse2): ${detail}`);
    this.name = 'FuseUnavailable';
  }
}

let cached: FuseClass | undefined;

/** fuse-native's class; throws FuseUnavailable when it (or libfuse.so.2) cannot be loaded. */
export function loadFuseNative(): FuseClass {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  try {
    cached = require('fuse-native') as FuseClass;
  } catch (e) {
    const msg = e instanceof Error ? e.message.split('\n')[0]! : String(e);
    const hint = /libfuse\.so\.2/.test(msg) ? ' (install libfuse2)' : '';
    throw new FuseUnavailable(msg + hint);
  }
  return cached;
}

/** fuse-native's stat array: 18 uint32s (times in milliseconds, split low/high). */
function statArray(st: FuseStat): Uint32Array {
  const a = new Uint32Array(18);
  const dbl = (i: number, n: number): void => {
    a[i] = n % 4294967296;
    a[i + 1] = Math.floor(n / 4294967296);
  };
  a[0] = st.mode;
  a[1] = st.uid;
  a[2] = st.gid;
  dbl(3, st.size);
  a[5] = st.dev;
  a[6] = st.nlink;
  a[7] = st.ino;
  a[8] = st.rdev;
  a[9] = st.blksize;
  dbl(10, st.blocks);
  dbl(12, st.atime);
  dbl(14, st.mtime);
  dbl(16, st.ctime);
  return a;
}

function done<T>(cb: Cb<T>, p: Promise<T>): void {
  p.then((v) => cb(0, v), (e: unknown) => cb(toErrno(e)));
}

/** fuse-native's operations object over the adapter (its callback conventions, errors as -errno). */
export function fuseNativeOps(a: FuseAdapter): Record<string, (...args: never[]) => void> {
  const call = <T>(cb: Cb<T>, fn: () => Promise<T>): void => {
    let p: Promise<T>;
    try {
      p = fn();
    } catch (e) {
      cb(toErrno(e));
      return;
    }
    done(cb, p);
  };
  const ops = {
    init: (cb: Cb<void>) => cb(0),
    getattr: (p: string, cb: Cb<FuseStat>) => call(cb, async () => toFuseStat(await a.getattr(p))),
    fgetattr: (p: string, fd: number, cb: Cb<FuseStat>) => call(cb, async () => toFuseStat(await a.fgetattr(p, fd))),
    access: (p: string, mode: number, cb: Cb<void>) => call(cb, () => a.access(p, mode)),
    statfs: (p: string, cb: Cb<unknown>) => call(cb, async () => toFuseStatfs(await a.statfs(p), a.opts.readOnly)),
    readdir: (p: string, cb: (err: number, names?: string[], stats?: FuseStat[]) => void) => {
      a.readdir(p).then(
        (entries) => cb(0, entries.map((e) => e.name), entries.map((e) => toFuseStat(e.stats))),
        (e: unknown) => cb(toErrno(e)),
      );
    },
    open: (p: string, flags: number, cb: Cb<number>) => call(cb, async () => (await a.open(p, flags)).fh),
    create: (p: string, mode: number, cb: Cb<number>) => call(cb, async () => (await a.create(p, mode, undefined)).fh),
    read: (_p: string, fd: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void) => {
      a.read(fd, buf, len, pos).then(cb, (e: unknown) => cb(toErrno(e)));
    },
    write: (_p: string, fd: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void) => {
      a.write(fd, buf, len, pos).then(cb, (e: unknown) => cb(toErrno(e)));
    },
    flush: (_p: string, fd: number, cb: Cb<void>) => call(cb, () => a.flush(fd)),
    release: (_p: string, fd: number, cb: Cb<void>) => call(cb, () => a.release(fd)),
    fsync: (_p: string, datasync: number, fd: number, cb: Cb<void>) => call(cb, () => a.fsync(fd, datasync !== 0)),
    truncate: (p: string, size: number, cb: Cb<void>) => call(cb, () => a.truncate(p, size)),
    ftruncate: (p: string, fd: number, size: number, cb: Cb<void>) => call(cb, () => a.ftruncate(p, fd, size)),
    readlink: (p: string, cb: Cb<string>) => call(cb, () => a.readlink(p)),
    chown: (p: string, uid: number, gid: number, cb: Cb<void>) =>
      call(cb, () => a.chown(p, uid === 0xffffffff ? -1 : uid, gid === 0xffffffff ? -1 : gid)),
    chmod: (p: string, mode: number, cb: Cb<void>) => call(cb, () => a.chmod(p, mode)),
    // fuse-native hands over milliseconds, and the atime twice (its C glue drops the mtime).
    utimens: (p: string, atime: number, mtime: number, cb: Cb<void>) =>
      call(cb, () => a.utimens(p, { sec: Math.floor(atime / 1000), nsec: (atime % 1000) * 1e6 }, { sec: Math.floor(mtime / 1000), nsec: (mtime % 1000) * 1e6 })),
    mknod: (p: string, mode: number, dev: number, cb: Cb<void>) => call(cb, () => a.mknod(p, mode, dev)),
    unlink: (p: string, cb: Cb<void>) => call(cb, () => a.unlink(p)),
    rename: (src: string, dest: string, cb: Cb<void>) => call(cb, () => a.rename(src, dest)),
    link: (src: string, dest: string, cb: Cb<void>) => call(cb, () => a.link(src, dest)),
    symlink: (target: string, p: string, cb: Cb<void>) => call(cb, () => a.symlink(target, p)),
    mkdir: (p: string, mode: number, cb: Cb<void>) => call(cb, () => a.mkdir(p, mode)),
    rmdir: (p: string, cb: Cb<void>) => call(cb, () => a.rmdir(p)),
    getxattr: (p: string, name: string, _pos: number, cb: Cb<Buffer>) => call(cb, () => a.getxattr(p, name)),
    setxattr: (p: string, name: string, value: Buffer, _pos: number, flags: number, cb: Cb<void>) =>
      call(cb, () => a.setxattr(p, name, value, flags)),
    listxattr: (p: string, cb: Cb<string[]>) => call(cb, () => a.listxattr(p)),
    removexattr: (p: string, name: string, cb: Cb<void>) => call(cb, () => a.removexattr(p, name)),
  };
  return ops as unknown as Record<string, (...args: never[]) => void>;
}

/**
 * Mounts the adapter with fuse-native; resolves once the kernel has sent INIT. The subclass hands
 * libfuse exactly our option string (fuse-native passes only a fixed list), disables fuse-native's
 * 15 s per-operation timeout (a large copy-up may take longer), and replaces three handlers:
 * fgetattr (fuse-native answers it by path), getxattr and listxattr (it lets them overflow the
 * caller's buffer instead of answering ERANGE).
 */
export async function mountWithFuseNative(mountpoint: string, adapter: FuseAdapter, libfuseOptions: string[]): Promise<void> {
  const Fuse = loadFuseNative();
  const optionString = '-o' + libfuseOptions.join(',');
  if (Buffer.byteLength(optionString) >= 1024) {
    throw new Error('ufsmount: the libfuse option string is longer than fuse-native accepts (1023 bytes)');
  }
  const ops = fuseNativeOps(adapter) as unknown as {
    fgetattr(p: string, fd: number, cb: Cb<FuseStat>): void;
    getxattr(p: string, name: string, pos: number, cb: Cb<Buffer>): void;
    listxattr(p: string, cb: Cb<string[]>): void;
  };

  class UfsFuse extends Fuse {
    _fuseOptions(): string {
      return optionString;
    }

    _op_fgetattr(signal: Signal, path: string, fd: number): void {
      ops.fgetattr(path, fd, (err, st) => (err || !st ? signal(err || ERR.EIO) : signal(0, statArray(st))));
    }

    _op_getxattr(signal: Signal, path: string, name: string, valueBuf: Buffer, position: number): void {
      ops.getxattr(path, name, position, (err, value) => {
        if (err) return signal(err, valueBuf.buffer);
        if (!value) return signal(ERR.ENODATA, valueBuf.buffer);
        if (valueBuf.length === 0) return signal(value.length, valueBuf.buffer);
        if (value.length > valueBuf.length) return signal(ERR.ERANGE, valueBuf.buffer);
        value.copy(valueBuf);
        signal(value.length, valueBuf.buffer);
      });
    }

    _op_listxattr(signal: Signal, path: string, listBuf: Buffer): void {
      ops.listxattr(path, (err, list) => {
        if (err) return signal(err, listBuf.buffer);
        const names = Buffer.concat((list ?? []).map((n) => Buffer.from(n + '\0')));
        if (listBuf.length === 0) return signal(names.length, listBuf.buffer);
        if (names.length > listBuf.length) return signal(ERR.ERANGE, listBuf.buffer);
        names.copy(listBuf);
        signal(names.length, listBuf.buffer);
      });
    }
  }

  const fuse = new UfsFuse(mountpoint, ops, { timeout: false });
  await new Promise<void>((resolve, reject) => {
    fuse.mount((err) => (err ? reject(new Error(`ufsmount: mounting on ${mountpoint} failed: ${err.message}`)) : resolve()));
  });
}
