// ufs's binding to libfuse 2's low-level API (lib/fuse/native/ufs_fuse_ll.c; the default) driving the adapter:
// the C side keeps the inode table (one kernel inode per file, hard links shared) and hands each
// request over with the node's path; each is answered with reply(req, ...) from this thread. READs of
// files with a layer descriptor are answered in C (openFd/setFd keep it current; ufs_ll_fds.c).
import { existsSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parentOf, type Caller, type FuseAdapter, type OpenResult, type TimeSpec } from './adapter.js';
import type { StatsLike } from './attr.js';
import { toFuseStatfs } from './attr.js';
import { fsError } from '../errors.js';
import { toErrno } from './errno.js';
import { addonCandidates, statArray } from './ufs-binding.js';
import { DirPrefetcher } from './prefetch.js';

type Handler = (op: number, req: unknown, uid: number, gid: number, pid: number, path: string | null,
  path2: string | null, n0: number, n1: number, n2: number, x: unknown) => void;

interface UfsFuseLlAddon {
  version: number;
  /** timeouts: [entry, attr, negative] in seconds. */
  /**
   * flags bit 0: keep getattr/readdir/xattr answers per node; bit 1: copy-ups are reported (copiedUp),
   * so changes are followed node by node (the creates, removals and changes of files with one name
   * bring the directory's attributes along) instead of dropping every kept answer; bit 2: the
   * kernel is asked to handle POSIX ACLs (it checks permissions with them and caches them); bit 3:
   * READDIRPLUS is not asked for (it is when answers are kept: listings carry the entries' attributes).
   */
  /** Returns the mount (for openFd, readStats). */
  mount(mountpoint: string, args: string[], handler: Handler, timeouts: Float64Array, flags?: number): unknown;
  /**
   * Answers a request; false when the answer did not reach the kernel (abandoned when the session
   * ended, answered EINTR for a killed caller, or the caller is gone): an open's handle is then ours to close.
   */
  reply(req: unknown, result: number, ...values: unknown[]): boolean;
  /**
   * Before an open of `fh` is answered: the layer file descriptor its READs are served from in C
   * (-1: in JavaScript), and whether its WRITEs may be too (pwrite). Returns the entry setFd changes.
   */
  openFd?(mount: unknown, fh: number, fd: number, writable?: boolean): unknown;
  /** The open file's reads (and writes, when writable) use `fd` from now on (C uses its own duplicate: the old one may be closed at once). */
  setFd?(entry: unknown, fd: number, writable?: boolean): void;
  /**
   * [READs answered in C, READs handed to JavaScript, then per op of OPS: answered in C, handed to
   * JavaScript; then listings read from the layers in C, entries handed out with READDIRPLUS].
   */
  readStats?(mount: unknown): number[];
  /** The union copied `path` up (mounts with flags bit 1: what C keeps about it is dropped). */
  copiedUp?(mount: unknown, path: string): void;
  /**
   * The layers' directories, the upper's first (null: none), and the whiteout format: listings of
   * directories only lower layers hold are then read in C (ufs_ll_scan.c), and with `opens`,
   * read-only opens of files only lower layers hold are served there too (ufs_ll_open.c). Before
   * the kernel's INIT.
   */
  scanLayers?(mount: unknown, roots: Array<string | null>, aufs: boolean, opens?: boolean): void;
}

// The operation numbers of ufs_fuse_ll.c's `enum op`, in order.
const OPS = ['INIT', 'LOOKUP', 'GETATTR', 'FGETATTR', 'SETATTR', 'READLINK', 'MKNOD', 'MKDIR', 'UNLINK', 'RMDIR',
  'SYMLINK', 'RENAME', 'LINK', 'OPEN', 'READ', 'WRITE', 'FLUSH', 'RELEASE', 'FSYNC', 'READDIR', 'STATFS', 'SETXATTR',
  'GETXATTR', 'LISTXATTR', 'REMOVEXATTR', 'ACCESS', 'CREATE', 'EXIT'] as const;
const OP = Object.fromEntries(OPS.map((n, i) => [n, i])) as Record<(typeof OPS)[number], number>;

// fuse_lowlevel.h's FUSE_SET_ATTR_* bits.
const SET_MODE = 1, SET_UID = 2, SET_GID = 4, SET_SIZE = 8, SET_ATIME = 16, SET_MTIME = 32, SET_ATIME_NOW = 128, SET_MTIME_NOW = 256;

let loaded: UfsFuseLlAddon | null | undefined;
let loadError = 'not built (node lib/fuse/native/build.mjs)';

/** The addon, or null when it is not built or does not load (see ufsLlBindingError()). */
export function loadUfsLlBinding(): UfsFuseLlAddon | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  const file = addonCandidates().map((f) => f.replace(/ufs_fuse\.node$/, 'ufs_fuse_ll.node')).find((f) => existsSync(f));
  if (!file) return loaded;
  try {
    const mod = createRequire(import.meta.url)(file) as UfsFuseLlAddon;
    if (typeof mod.mount === 'function' && typeof mod.reply === 'function') loaded = mod;
    else loadError = `${file} is not ufs_fuse_ll`;
  } catch (e) {
    loadError = (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
  }
  return loaded;
}

export function ufsLlBindingError(): string {
  return loadError;
}

/**
 * setattr: the changes `to_set` names, in the order chmod, chown, truncate, utimens; then the new
 * attributes. A node without a name (unlinked while open: the kernel sends fchmod, fchown and
 * futimens with the inode only) is changed through one of its open handles (fh, chosen in C).
 */
async function setattr(a: FuseAdapter, p: string | null, v: Float64Array): Promise<StatsLike> {
  const set = v[0]!, fh = v[5]!;
  if (p === null && fh < 0) throw fsError('ENOENT', 'setattr');
  if (set & SET_MODE) await (p !== null ? a.chmod(p, v[1]!) : a.fchmod(fh, v[1]!));
  if (set & (SET_UID | SET_GID)) {
    const uid = set & SET_UID ? v[2]! : -1, gid = set & SET_GID ? v[3]! : -1;
    await (p !== null ? a.chown(p, uid, gid) : a.fchown(fh, uid, gid));
  }
  if (set & SET_SIZE) await (fh >= 0 ? a.ftruncate(p, fh, v[4]!) : a.truncate(p!, v[4]!));
  if (set & (SET_ATIME | SET_MTIME | SET_ATIME_NOW | SET_MTIME_NOW)) {
    const spec = (bit: number, now: number, i: number): TimeSpec =>
      set & now ? 'now' : set & bit ? { sec: v[i]!, nsec: v[i + 1]! } : 'omit';
    const [at, mt] = [spec(SET_ATIME, SET_ATIME_NOW, 6), spec(SET_MTIME, SET_MTIME_NOW, 8)];
    await (p !== null ? a.utimens(p, at, mt) : a.futimens(fh, at, mt));
  }
  return p !== null ? a.getattr(p) : a.fgetattr(null, fh);
}

/** Whether READs may be served in C from the layer file (UFS_FUSE_JS_READS=1: all in JavaScript). */
const cReads = process.env.UFS_FUSE_JS_READS !== '1';
/** And WRITEs of files the upper layer holds, open for writing (UFS_FUSE_JS_WRITES=1: in JavaScript). */
const cWrites = cReads && process.env.UFS_FUSE_JS_WRITES !== '1';

/** The mount as the handler sees it: the addon's, whether changes are followed, whether C reads lower listings. */
interface MountRef {
  ref?: unknown;
  follow?: boolean;
  scans?: boolean;
}

/** The request handler: adapter calls per request, answered through addon.reply. */
function makeHandler(addon: UfsFuseLlAddon, a: FuseAdapter, mount: MountRef, events: { init(): void; exit(): void }): Handler {
  // Before an open is answered, C learns the descriptor to read it from and each later change
  // (copy-up, close) from the handle itself, synchronously, before the old descriptor is closed.
  const serveReads = (fh: number): void => {
    if (!addon.openFd || !addon.setFd || mount.ref === undefined) return;
    let entry: unknown;
    const fd = cReads ? a.watchFd(fh, (d) => addon.setFd!(entry, d, cWrites && d >= 0 && a.fdWritable(fh))) : -1;
    entry = addon.openFd(mount.ref, fh, fd, cWrites && fd >= 0 && a.fdWritable(fh));
  };
  // READDIR also sends the entries' xattr names when C keeps answers (its cache is on)
  const keepXattrs = a.opts.attrCache !== false;
  // Subdirectories read ahead into the union's caches after each listing (UFS_FUSE_PREFETCH=0: not;
  // nor when C reads the lower layers' listings itself)
  const prefetch = keepXattrs && !mount.scans && process.env.UFS_FUSE_PREFETCH !== '0' ? new DirPrefetcher((p) => a.readdir(p, true)) : null;
  return (op, req, uid, gid, pid, p, p2, x, y, z, w) => {
    const path = p ?? '';
    const caller: Caller = { uid, gid, pid };
    const answer = (promise: Promise<unknown>, ok: (v: never) => void = () => addon.reply(req, 0)): void => {
      promise.then(ok as (v: unknown) => void, (e: unknown) => addon.reply(req, toErrno(e)));
    };
    // A followed change (see mount's flags) brings its directory's attributes after it along.
    const parentStats = (): Promise<Float64Array | undefined> =>
      mount.follow ? a.getattr(parentOf(path)).then((s) => statArray(s).slice(), () => undefined) : Promise.resolve(undefined);
    const entry = (made: Promise<unknown>, at = path, withParent = true): void =>
      answer(made.then(async () => ({ st: await a.getattr(at), ps: withParent ? await parentStats() : undefined })),
        (v: { st: StatsLike; ps: Float64Array | undefined }) => addon.reply(req, 0, statArray(v.st), v.ps));
    const opened = (r: OpenResult): number => (r.keepCache ? 1 : 0);
    try {
      switch (op) {
        case OP.INIT: addon.reply(req, 0); events.init(); return;
        case OP.EXIT: prefetch?.stop(); addon.reply(req, 0); writeStats(addon, mount.ref); events.exit(); return;
        case OP.LOOKUP: case OP.GETATTR: return answer(a.getattr(path), (st: StatsLike) => addon.reply(req, 0, statArray(st)));
        case OP.FGETATTR: return answer(a.fgetattr(null, x), (st: StatsLike) => addon.reply(req, 0, statArray(st)));
        case OP.SETATTR: return answer(setattr(a, p, w as Float64Array), (st: StatsLike) => addon.reply(req, 0, statArray(st)));
        case OP.READLINK: return answer(a.readlink(path), (t: string) => addon.reply(req, 0, t));
        case OP.MKNOD: return entry(a.mknod(path, x, y, caller));
        case OP.MKDIR: return entry(a.mkdir(path, x, caller));
        case OP.SYMLINK: return entry(a.symlink(p2!, path, caller));
        case OP.LINK: return entry(a.link(p2!, path), path, false);
        case OP.UNLINK: return answer(a.unlink(path).then(parentStats), (ps: Float64Array | undefined) => addon.reply(req, 0, ps));
        case OP.RMDIR: return answer(a.rmdir(path).then(parentStats), (ps: Float64Array | undefined) => addon.reply(req, 0, ps));
        case OP.RENAME: return answer(a.rename(path, p2!));
        case OP.OPEN: return answer(a.open(path, x), (r: OpenResult) => {
          serveReads(r.fh);
          if (!addon.reply(req, 0, r.fh, opened(r))) void a.release(r.fh).catch(() => undefined);
        });
        case OP.CREATE:
          return answer((async () => {
            const r = await a.create(path, x, y, caller);
            try {
              // with its xattr names (inherited ACLs, labels): C answers the kernel's getxattr at the first write
              const names = keepXattrs ? await a.listxattr(path).then((l) => Buffer.from(l.map((n) => n + '\0').join('')), () => undefined) : undefined;
              return { r, st: await a.fgetattr(path, r.fh), names, ps: await parentStats() };
            } catch (e) {
              await a.release(r.fh);
              throw e;
            }
          })(), (v: { r: OpenResult; st: StatsLike; names: Buffer | undefined; ps: Float64Array | undefined }) => {
            serveReads(v.r.fh);
            if (!addon.reply(req, 0, v.r.fh, opened(v.r), statArray(v.st), v.names, v.ps)) void a.release(v.r.fh).catch(() => undefined);
          });
        case OP.READ: {
          const buf = Buffer.allocUnsafe(z);
          return answer(a.read(x, buf, z, y), (k: number) => addon.reply(req, k, buf));
        }
        case OP.WRITE: {
          const buf = w as Buffer;
          return answer(a.write(x, buf, buf.length, y), (k: number) => addon.reply(req, k));
        }
        case OP.FLUSH: return answer(a.flush(x));
        case OP.RELEASE: return answer(a.release(x));
        case OP.FSYNC: return answer(a.fsync(x, y !== 0));
        case OP.READDIR:
          return answer(a.readdir(path, keepXattrs), (entries: Array<{ name: string; stats: StatsLike; xattrs?: string[] }>) => {
            // ino and mode for the listing; every entry's attributes and xattr names (NUL-ended,
            // at [offset, length] in one buffer; length -1: not known), so that C answers their
            // lookups, getxattr and listxattr
            const meta = new Float64Array(entries.length * 2);
            const stats = new Float64Array(entries.length * 16);
            const xat = new Float64Array(entries.length * 2);
            const blobs: string[] = [];
            let at = 0;
            entries.forEach((e, i) => {
              meta[2 * i] = e.stats.ino;
              meta[2 * i + 1] = e.stats.mode;
              stats.set(statArray(e.stats), 16 * i);
              const b = e.xattrs?.map((n) => n + '\0').join('');
              xat[2 * i] = at;
              xat[2 * i + 1] = b === undefined ? -1 : Buffer.byteLength(b);
              if (b) { blobs.push(b); at += Buffer.byteLength(b); }
            });
            addon.reply(req, 0, entries.map((e) => e.name), meta, stats, Buffer.from(blobs.join('')), xat);
            prefetch?.listed(path, entries);
          });
        case OP.STATFS:
          return answer(a.statfs(path), (s: Parameters<typeof toFuseStatfs>[0]) => {
            const f = toFuseStatfs(s, a.opts.readOnly);
            addon.reply(req, 0, Float64Array.from([f.bsize, f.frsize, f.blocks, f.bfree, f.bavail, f.files, f.ffree, f.favail, f.fsid, f.flag, f.namemax]));
          });
        case OP.SETXATTR: return answer(a.setxattr(path, p2!, w as Buffer, x));
        case OP.GETXATTR: {
          // The names come along, so that the binding answers ENODATA for the others by itself.
          const value = a.getxattr(path, p2!).then((v) => ({ v }), (e: unknown) => ({ e }));
          const names = a.listxattr(path).then((l) => Buffer.from(l.map((s) => s + '\0').join('')), () => undefined);
          void Promise.all([value, names]).then(([r, l]) => {
            if ('e' in r) addon.reply(req, toErrno(r.e), undefined, l);
            else addon.reply(req, 0, r.v, l);
          });
          return;
        }
        case OP.LISTXATTR:
          return answer(a.listxattr(path), (names: string[]) => addon.reply(req, 0, Buffer.from(names.map((s) => s + '\0').join(''))));
        case OP.REMOVEXATTR: return answer(a.removexattr(path, p2!));
        case OP.ACCESS: return answer(a.access(path, x));
        default:
          addon.reply(req, -38); // ENOSYS
      }
    } catch (e) {
      addon.reply(req, toErrno(e));
    }
  };
}

/**
 * UFS_FUSE_STATS=FILE: at the mount's end, {"readsC": n, "readsJs": n, "readsSplice": n (of readsC), "ops": {"LOOKUP": [in C, in
 * JavaScript], ...}, "listingsC": n, "plusEntries": n} is written there (tests; ops answered in C
 * from kept answers are counted too; listingsC: READDIRs read from the layers in C, plusEntries:
 * entries given with their attributes by READDIRPLUS, lookups the kernel then needs not send).
 */
function writeStats(addon: UfsFuseLlAddon, ref: unknown): void {
  const file = process.env.UFS_FUSE_STATS;
  if (!file || !addon.readStats || ref === undefined) return;
  const [readsC, readsJs, ...perOp] = addon.readStats(ref);
  const ops = Object.fromEntries(OPS.map((n, i) => [n, [perOp[2 * i] ?? 0, perOp[2 * i + 1] ?? 0]]));
  const listingsC = perOp[2 * OPS.length] ?? 0, plusEntries = perOp[2 * OPS.length + 1] ?? 0;
  const readsSplice = perOp[2 * OPS.length + 2] ?? 0;
  try {
    writeFileSync(file, JSON.stringify({ readsC, readsJs, readsSplice, ops, listingsC, plusEntries }) + '\n');
  } catch { /* a test's file: nothing to do */ }
}

// Options of libfuse 2's high-level API that the low-level one refuses; the timeouts go to the binding.
const HIGH_LEVEL_ONLY = new Set(['use_ino', 'readdir_ino', 'auto_cache', 'kernel_cache']);
const TIMEOUTS = ['entry_timeout', 'attr_timeout', 'negative_timeout'] as const;

/** Splits the option list into what libfuse takes and the kernel cache timeouts (seconds). */
export function splitLlOptions(options: string[]): { args: string[]; timeouts: [number, number, number] } {
  const timeouts: [number, number, number] = [1, 0, 0];
  const args: string[] = [];
  for (const o of options) {
    const eq = o.indexOf('=');
    const key = eq < 0 ? o : o.slice(0, eq);
    const t = (TIMEOUTS as readonly string[]).indexOf(key);
    if (t >= 0) timeouts[t] = Number(o.slice(eq + 1));
    else if (!HIGH_LEVEL_ONLY.has(key)) args.push(o);
  }
  return { args, timeouts };
}

/**
 * Mounts the adapter with ufs_fuse_ll; resolves once the kernel has sent INIT. `exited` resolves
 * when libfuse's loop has ended (unmounted from anywhere) and the binding has let go of the mount.
 */
export async function mountWithUfsLlBinding(mountpoint: string, adapter: FuseAdapter, libfuseOptions: string[]): Promise<{ exited: Promise<void> }> {
  const addon = loadUfsLlBinding();
  if (!addon) throw new Error(`ufsmount: ufs_fuse_ll binding unavailable: ${loadError}`);
  let onInit!: () => void;
  let onExit!: () => void;
  const ready = new Promise<void>((r) => (onInit = r));
  const exited = new Promise<void>((r) => (onExit = r));
  const { args, timeouts } = splitLlOptions(libfuseOptions);
  try {
    const mount: MountRef = {};
    // Changes are followed node by node when the union reports its copy-ups (UFS_FUSE_FOLLOW=0: not;
    // every change then drops all kept answers)
    const keep = adapter.opts.attrCache !== false;
    mount.follow = keep && process.env.UFS_FUSE_FOLLOW !== '0' && typeof addon.copiedUp === 'function' &&
      adapter.watchCopyUps((p) => { if (mount.ref !== undefined) addon.copiedUp!(mount.ref, p); });
    // Listings of directories only lower layers hold are read in C from the layers on disk, when the
    // answers are kept and changes followed (UFS_FUSE_C_LISTINGS=0: all in JavaScript)
    const dirs = mount.follow && process.env.UFS_FUSE_C_LISTINGS !== '0' && typeof addon.scanLayers === 'function' ? adapter.layerDirs() : null;
    mount.scans = dirs !== null;
    mount.ref = addon.mount(mountpoint, ['-o', args.join(',')], makeHandler(addon, adapter, mount, { init: onInit, exit: onExit }),
      Float64Array.from(timeouts), (keep ? 1 : 0) | (mount.follow ? 2 : 0) | (process.env.UFS_FUSE_POSIX_ACL !== '0' ? 4 : 0) |
      (process.env.UFS_FUSE_READDIRPLUS === '0' ? 8 : 0) | (process.env.UFS_FUSE_SPLICE === '0' ? 16 : 0));
    // and read-only opens of lower files are served in C too (UFS_FUSE_C_OPENS=0: not; nor when a
    // copy-up may leave a file's data below, metacopy, nor when reads are JavaScript's)
    const opens = cReads && process.env.UFS_FUSE_C_OPENS !== '0' && dirs?.metacopy === false;
    if (dirs) addon.scanLayers!(mount.ref, [dirs.upper, ...dirs.lowers], dirs.whiteouts === 'aufs', opens);
  } catch (e) {
    throw new Error(`ufsmount: mounting on ${mountpoint} failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  await Promise.race([ready, exited.then(() => Promise.reject(new Error(`ufsmount: the mount on ${mountpoint} ended before it started`)))]);
  return { exited };
}
