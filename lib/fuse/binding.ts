// Loads fuse-native (over Debian's libfuse2) and adapts it to ufs: our own libfuse option string
// (fuse-native passes only a fixed list), no per-operation timeout, and fixes to fgetattr and xattrs.
import { createRequire } from 'node:module';
import type { FuseOps } from './adapter.js';
import type { FuseStat } from './attr.js';
import { ERR } from './errno.js';

type Signal = (err: number, ...values: unknown[]) => void;

/** A fuse-native instance, as much of it as ufs uses. */
export interface FuseInstance {
  readonly mnt: string;
  mount(cb: (err: Error | null) => void): void;
}

interface FuseStatic {
  new (mnt: string, ops: object, opts: Record<string, unknown>): FuseInstance;
  unmount(mnt: string, cb: (err: Error | null) => void): void;
}

/** Why fuse-native could not be loaded (a missing libfuse2, most often), in one line. */
export class FuseUnavailable extends Error {
  constructor(detail: string) {
    super(`ufsmount: cannot load FUSE support (fuse-native over libfuse2): ${detail}`);
    this.name = 'FuseUnavailable';
  }
}

let cached: FuseStatic | undefined;

/** fuse-native's class; throws FuseUnavailable when it (or libfuse.so.2) cannot be loaded. */
export function loadFuseNative(): FuseStatic {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  try {
    cached = require('fuse-native') as FuseStatic;
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

/** Options for one mount: the libfuse `-o` list (already complete) and debugging. */
export interface BindingOptions {
  libfuseOptions: string[];
  debug: boolean;
}

/**
 * A fuse-native mount of `ops` at `mountpoint`. The subclass hands libfuse exactly our option
 * string (big_writes, max_write, use_ino, timeouts...), disables fuse-native's 15 s per-operation
 * timeout (a large copy-up may take longer), and replaces three fuse-native handlers: fgetattr
 * (which fuse-native answers by path), getxattr and listxattr (which it lets overflow the caller's
 * buffer instead of answering ERANGE).
 */
export function createFuse(mountpoint: string, ops: FuseOps, opts: BindingOptions): FuseInstance {
  const Fuse = loadFuseNative();
  const optionString = '-o' + opts.libfuseOptions.join(',');
  if (Buffer.byteLength(optionString) >= 1024) {
    throw new Error('ufsmount: the libfuse option string is longer than fuse-native accepts (1023 bytes)');
  }

  class UfsFuse extends (Fuse as unknown as new (mnt: string, ops: object, opts: Record<string, unknown>) => object) {
    _fuseOptions(): string {
      return optionString;
    }

    _op_fgetattr(signal: Signal, path: string, fd: number): void {
      ops.fgetattr(path, fd, (err, st) => {
        if (err || !st) return signal(err || ERR.EIO);
        signal(0, statArray(st));
      });
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

  return new UfsFuse(mountpoint, ops, {
    timeout: false,
    debug: opts.debug,
  }) as unknown as FuseInstance;
}
