// The FUSE adapter: each FUSE operation as one promise over FuseTarget (UnionFs) calls, whichever
// binding delivers it. Translation only — attributes, handles, credentials — and no union logic.
import fs from 'node:fs';
import { fsError } from '../errors.js';
import type { StatsLike } from './attr.js';
import type { FuseTarget, TargetHandle } from './target.js';

/** Who asked (known with ufs's own binding; fuse-native does not say). */
export interface Caller {
  uid: number;
  gid: number;
  pid: number;
}

/**
 * Seconds as a double that node:fs (libuv) turns back into exactly `sec` and `nsec` rounded to the
 * microsecond: libuv truncates the fraction to whole microseconds, and a double near 1e9 s is only
 * good to ~0.1 µs, so 0.1 s would come back as 99999.999 µs. Half a microsecond towards the sign of
 * the time keeps the truncation on the right microsecond. Below a microsecond is lost (node:fs has no
 * nanosecond utimes).
 */
export function exactSeconds(sec: number, nsec: number): number {
  const us = Math.round(nsec / 1000);
  const t = sec + us / 1e6;
  return t + (t < 0 ? -5e-7 : 5e-7);
}

/** exactSeconds of a node:fs `*timeMs` (a double good to ~15 ns today), to the microsecond. */
export function msSeconds(ms: number): number {
  const sec = Math.floor(ms / 1000);
  return exactSeconds(sec, Math.round((ms - sec * 1000) * 1e3) * 1e3);
}

/** A time from utimensat: seconds and nanoseconds, or "now", or "leave it". */
export type TimeSpec = { sec: number; nsec: number } | 'now' | 'omit';

export interface OpenResult {
  fh: number;
  /** The kernel may keep this file's page cache from earlier opens. */
  keepCache: boolean;
}

export interface AdapterOptions {
  /** The union has no writable layer: every change is EROFS before it reaches the target. */
  readOnly: boolean;
  /**
   * Whether the binding may keep getattr/readdir answers until the next changing request (default
   * true). False when parts of the target change behind ufs (volumes: host directories).
   */
  attrCache?: boolean;
}

/** The adapter's open-file table: FUSE file handles (never 0, below 2^31) to target handles. */
export class HandleTable {
  private readonly map = new Map<number, TargetHandle>();
  private next = 1;

  add(h: TargetHandle): number {
    while (this.map.has(this.next)) this.next = this.next >= 0x7ffffffe ? 1 : this.next + 1;
    const fh = this.next;
    this.map.set(fh, h);
    this.next = this.next >= 0x7ffffffe ? 1 : this.next + 1;
    return fh;
  }

  get(fh: number): TargetHandle {
    const h = this.map.get(fh);
    if (!h) throw fsError('EBADF', 'fuse');
    return h;
  }

  has(fh: number): boolean {
    return this.map.has(fh);
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
const S_ISGID = 0o2000;
const { O_APPEND, O_DIRECT, O_CREAT, O_EXCL, O_TRUNC, O_RDWR, O_WRONLY, S_IFMT, S_IFREG } = fs.constants;

/** True when some component of `p` is longer than NAME_MAX bytes (the kernel leaves this to us). */
export function hasLongName(p: string): boolean {
  if (p.length <= NAME_MAX && Buffer.byteLength(p) <= NAME_MAX) return false;
  return p.split('/').some((c) => c.length > 0 && Buffer.byteLength(c) > NAME_MAX);
}

/** The parent of a union path ('/' for '/' and top-level names). */
export function parentOf(p: string): string {
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

/** What a union file handle (lib/handles.ts) offers beyond TargetHandle: fchmod, fchown, futimes. */
interface MetaHandle extends TargetHandle {
  chmod(mode: number): Promise<void>;
  chown(uid: number, gid: number): Promise<void>;
  utimes(atime: number, mtime: number): Promise<void>;
}

/** `h` when it can do `method` (every UnionFileHandle can); ENOTSUP otherwise. */
function metaHandle(h: TargetHandle, method: 'chmod' | 'chown' | 'utimes', syscall: string): MetaHandle {
  if (typeof (h as Partial<MetaHandle>)[method] !== 'function') throw fsError('ENOTSUP', syscall);
  return h as MetaHandle;
}

/** A handle whose layer descriptor is known and which says when it changes (lib/handles.ts). */
interface FdHandle {
  readonly fd: number;
  readonly fdWritable?: boolean;
  onFdChange: ((fd: number) => void) | null;
}

function checkNames(...paths: Array<string | null>): void {
  for (const p of paths) if (p !== null && hasLongName(p)) throw fsError('ENAMETOOLONG', 'fuse', p);
}

const serverUid = process.getuid?.() ?? -1;
const serverGid = process.getgid?.() ?? -1;

/** The FUSE operations over `target`; every method resolves with its answer or rejects Node-shaped. */
export class FuseAdapter {
  readonly handles: HandleTable;
  private readonly writes: boolean;

  constructor(private readonly target: FuseTarget, readonly opts: AdapterOptions, handles = new HandleTable()) {
    this.handles = handles;
    this.writes = !opts.readOnly;
  }

  private writable(p: string | null): void {
    if (!this.writes) throw fsError('EROFS', 'fuse', p ?? undefined);
  }

  /**
   * A new inode made for another user belongs to that user (the server runs as root): owner from the
   * caller, group from the caller unless the parent directory is set-group-ID (then the filesystem
   * already gave it the parent's group).
   */
  private async own(p: string, caller: Caller | undefined): Promise<void> {
    if (!caller || serverUid !== 0 || (caller.uid === serverUid && caller.gid === serverGid)) return;
    const parent = await this.target.lstat(parentOf(p));
    const gid = parent.mode & S_ISGID ? -1 : caller.gid;
    await this.target.lchown(p, caller.uid, gid);
  }

  async getattr(p: string): Promise<StatsLike> {
    checkNames(p);
    return this.target.lstat(p);
  }

  async fgetattr(p: string | null, fh: number): Promise<StatsLike> {
    if (!this.handles.has(fh) && p !== null) return this.getattr(p);
    return this.handles.get(fh).stat();
  }

  async access(p: string, mode: number): Promise<void> {
    checkNames(p);
    if (!this.writes && mode & fs.constants.W_OK) {
      await this.target.access(p, fs.constants.F_OK);
      throw fsError('EROFS', 'access', p);
    }
    await this.target.access(p, mode);
  }

  async statfs(p: string): Promise<fs.StatsFs> {
    return this.target.statfs(p);
  }

  /**
   * Entries with their attributes, '.' and '..' first; with `xattrs`, also the entries' xattr
   * names (for a binding that answers their getxattr/listxattr itself).
   */
  async readdir(p: string, xattrs = false): Promise<Array<{ name: string; stats: StatsLike; xattrs?: string[] }>> {
    checkNames(p);
    const [entries, self, parent] = await Promise.all([
      this.target.readdirPlus(p, xattrs ? { xattrs } : undefined),
      this.target.lstat(p),
      p === '/' ? null : this.target.lstat(parentOf(p)),
    ]);
    return [{ name: '.', stats: self }, { name: '..', stats: parent ?? self }, ...entries];
  }

  async open(p: string, flags: number): Promise<OpenResult> {
    checkNames(p);
    if (!this.writes && (flags & O_ACCMODE) !== 0) throw fsError('EROFS', 'open', p);
    const h = await this.target.open(p, targetOpenFlags(flags));
    return { fh: this.handles.add(h), keepCache: await this.keepCache(h) };
  }

  async create(p: string, mode: number, flags: number | undefined, caller?: Caller): Promise<OpenResult> {
    checkNames(p);
    this.writable(p);
    const acc = flags === undefined ? O_RDWR : flags & O_ACCMODE;
    // Opened for writing whatever the caller asked: it is creating the file. Only a file this call
    // created is given to the caller; one that appeared meanwhile is opened as it is (unless O_EXCL).
    const rw = acc === 0 ? O_RDWR : acc;
    let h: TargetHandle;
    try {
      h = await this.target.open(p, O_CREAT | O_EXCL | rw, mode & 0o7777);
    } catch (e) {
      if ((e as { code?: string }).code !== 'EEXIST' || (flags !== undefined && flags & O_EXCL)) throw e;
      h = await this.target.open(p, rw | (flags !== undefined ? flags & O_TRUNC : 0));
      return { fh: this.handles.add(h), keepCache: await this.keepCache(h) };
    }
    const fh = this.handles.add(h);
    try {
      await this.own(p, caller);
    } catch (e) {
      await this.release(fh);
      throw e;
    }
    return { fh, keepCache: true };
  }

  /**
   * The page cache may be kept across opens when nothing but this mount's kernel inode can change the
   * file: always on a read-only union; on a writable one, when the file has a single name (libfuse
   * gives each name of a hard-linked file its own kernel inode).
   */
  private async keepCache(h: TargetHandle): Promise<boolean> {
    if (!this.writes) return true;
    try {
      return (await h.stat()).nlink === 1;
    } catch {
      return false;
    }
  }

  async read(fh: number, buf: Buffer, len: number, pos: number): Promise<number> {
    return (await this.handles.get(fh).read(buf, 0, len, pos)).bytesRead;
  }

  /** Calls `fn` with the union path of each copy-up as it happens, when the target reports them (else false). */
  watchCopyUps(fn: (path: string) => void): boolean {
    if (typeof this.target.onCopyUp !== 'function') return false;
    this.target.onCopyUp(fn);
    return true;
  }

  /** Where the target's layers are on disk, when it says (UnionFs.layerDirs), else null. */
  layerDirs(): { upper: string | null; lowers: string[]; whiteouts: 'overlay' | 'aufs'; metacopy?: boolean } | null {
    return typeof this.target.layerDirs === 'function' ? this.target.layerDirs() : null;
  }

  /**
   * The real descriptor reads of open file `fh` may use directly (-1: none), for a handle that says
   * when it changes (UnionFileHandle's onFdChange): `onChange` is then told synchronously, with the
   * new descriptor after a copy-up re-opened the file and -1 before the handle closes.
   */
  watchFd(fh: number, onChange: (fd: number) => void): number {
    if (!this.handles.has(fh)) return -1;
    const h = this.handles.get(fh) as TargetHandle & Partial<FdHandle>;
    if (typeof h.fd !== 'number' || !('onFdChange' in h)) return -1;
    h.onFdChange = onChange;
    return h.fd;
  }

  /** Whether writes to open file `fh` may go straight to its descriptor (see UnionFileHandle.fdWritable). */
  fdWritable(fh: number): boolean {
    if (!this.handles.has(fh)) return false;
    return (this.handles.get(fh) as TargetHandle & Partial<FdHandle>).fdWritable === true;
  }

  async write(fh: number, buf: Buffer, len: number, pos: number): Promise<number> {
    return (await this.handles.get(fh).write(buf, 0, len, pos)).bytesWritten;
  }

  /** Checks the handle only (writes are not buffered); ufs-ll answers FLUSH of a handle it knows itself. */
  async flush(fh: number): Promise<void> {
    this.handles.get(fh);
  }

  async release(fh: number): Promise<void> {
    await this.handles.take(fh)?.close();
  }

  async fsync(fh: number, datasync: boolean): Promise<void> {
    const h = this.handles.get(fh);
    await (datasync ? h.datasync() : h.sync());
  }

  async truncate(p: string, size: number): Promise<void> {
    checkNames(p);
    this.writable(p);
    await this.target.truncate(p, size);
  }

  async ftruncate(p: string | null, fh: number, size: number): Promise<void> {
    this.writable(p);
    if (!this.handles.has(fh) && p !== null) return this.truncate(p, size);
    await this.handles.get(fh).truncate(size);
  }

  /**
   * fchmod, fchown, futimens through open handle `fh`: for a file that has no name any more
   * (unlinked while open; the low-level binding sends these with the inode only).
   */
  async fchmod(fh: number, mode: number): Promise<void> {
    this.writable(null);
    await metaHandle(this.handles.get(fh), 'chmod', 'fchmod').chmod(mode & 0o7777);
  }

  async fchown(fh: number, uid: number, gid: number): Promise<void> {
    this.writable(null);
    await metaHandle(this.handles.get(fh), 'chown', 'fchown').chown(uid, gid);
  }

  async futimens(fh: number, atime: TimeSpec, mtime: TimeSpec): Promise<void> {
    this.writable(null);
    if (atime === 'omit' && mtime === 'omit') return;
    const h = metaHandle(this.handles.get(fh), 'utimes', 'futimens');
    const cur = atime === 'omit' || mtime === 'omit' ? await h.stat() : undefined;
    const now = Date.now() / 1000;
    const secs = (t: TimeSpec, curMs: number | undefined): number =>
      t === 'now' ? now : t === 'omit' ? msSeconds(curMs!) : exactSeconds(t.sec, t.nsec);
    await h.utimes(secs(atime, cur?.atimeMs), secs(mtime, cur?.mtimeMs));
  }

  async readlink(p: string): Promise<string> {
    checkNames(p);
    return this.target.readlink(p);
  }

  async chown(p: string, uid: number, gid: number): Promise<void> {
    checkNames(p);
    this.writable(p);
    await this.target.lchown(p, uid, gid);
  }

  async chmod(p: string, mode: number): Promise<void> {
    checkNames(p);
    this.writable(p);
    await this.target.chmod(p, mode & 0o7777);
  }

  /** Sets times; a missing one keeps its value, 'now' is the server's clock. */
  async utimens(p: string, atime: TimeSpec, mtime: TimeSpec): Promise<void> {
    checkNames(p);
    this.writable(p);
    if (atime === 'omit' && mtime === 'omit') return;
    let cur: StatsLike | undefined;
    if (atime === 'omit' || mtime === 'omit') cur = await this.target.lstat(p);
    const now = Date.now() / 1000;
    const secs = (t: TimeSpec, curMs: number | undefined): number =>
      t === 'now' ? now : t === 'omit' ? msSeconds(curMs!) : exactSeconds(t.sec, t.nsec);
    await this.target.lutimes(p, secs(atime, cur?.atimeMs), secs(mtime, cur?.mtimeMs));
  }

  async mknod(p: string, mode: number, dev: number, caller?: Caller): Promise<void> {
    checkNames(p);
    this.writable(p);
    const type = mode & S_IFMT;
    if (type === S_IFREG || type === 0) {
      // A regular file made by mknod(2): create it empty with its mode.
      const h = await this.target.open(p, O_CREAT | O_EXCL | O_WRONLY, mode & 0o7777);
      await h.close();
    } else await this.target.mknod(p, mode, dev);
    await this.own(p, caller);
  }

  async mkdir(p: string, mode: number, caller?: Caller): Promise<void> {
    checkNames(p);
    this.writable(p);
    await this.target.mkdir(p, { mode: mode & 0o7777 });
    await this.own(p, caller);
  }

  async symlink(linkTarget: string, p: string, caller?: Caller): Promise<void> {
    checkNames(p);
    this.writable(p);
    await this.target.symlink(linkTarget, p);
    await this.own(p, caller);
  }

  async unlink(p: string): Promise<void> {
    checkNames(p);
    this.writable(p);
    await this.target.unlink(p);
  }

  async rmdir(p: string): Promise<void> {
    checkNames(p);
    this.writable(p);
    await this.target.rmdir(p);
  }

  async rename(src: string, dest: string): Promise<void> {
    checkNames(src, dest);
    this.writable(src);
    await this.target.rename(src, dest);
  }

  async link(src: string, dest: string): Promise<void> {
    checkNames(src, dest);
    this.writable(dest);
    await this.target.link(src, dest);
  }

  async getxattr(p: string, name: string): Promise<Buffer> {
    checkNames(p);
    return this.target.getxattr(p, name);
  }

  async setxattr(p: string, name: string, value: Buffer, flags: number): Promise<void> {
    checkNames(p);
    this.writable(p);
    await this.target.setxattr(p, name, Buffer.from(value), flags);
  }

  async listxattr(p: string): Promise<string[]> {
    checkNames(p);
    return this.target.listxattr(p);
  }

  async removexattr(p: string, name: string): Promise<void> {
    checkNames(p);
    this.writable(p);
    await this.target.removexattr(p, name);
  }
}
