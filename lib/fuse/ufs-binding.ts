// ufs's high-level libfuse binding (lib/fuse/native/ufs_fuse.c; UFS_FUSE_BINDING=ufs, or when the
// low-level one is not built) driving the adapter: requests arrive with
// the caller's credentials, nanosecond times and open flags; each is answered with reply(req, ...).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Caller, FuseAdapter, TimeSpec } from './adapter.js';
import type { StatsLike } from './attr.js';
import { toFuseStatfs } from './attr.js';
import { toErrno } from './errno.js';

type Handler = (op: number, req: unknown, uid: number, gid: number, pid: number, path: string | null,
  a: unknown, b: unknown, c: unknown, d: unknown) => void;

interface UfsFuseAddon {
  version: number;
  /** flags bit 0: cache getattr/readdir answers in the binding (dropped by every changing request). */
  mount(mountpoint: string, args: string[], handler: Handler, flags?: number): void;
  reply(req: unknown, result: number, x?: unknown, y?: unknown): void;
}

// The operation numbers of ufs_fuse.c's `enum op`, in order.
const OPS = ['INIT', 'GETATTR', 'FGETATTR', 'ACCESS', 'READLINK', 'MKNOD', 'MKDIR', 'UNLINK', 'RMDIR', 'SYMLINK',
  'RENAME', 'LINK', 'CHMOD', 'CHOWN', 'TRUNCATE', 'FTRUNCATE', 'UTIMENS', 'OPEN', 'CREATE', 'READ', 'WRITE', 'STATFS',
  'FLUSH', 'RELEASE', 'FSYNC', 'SETXATTR', 'GETXATTR', 'LISTXATTR', 'REMOVEXATTR', 'READDIR', 'EXIT'] as const;
const OP = Object.fromEntries(OPS.map((n, i) => [n, i])) as Record<(typeof OPS)[number], number>;

const UTIME_NOW = 2 ** 30 - 1;
const UTIME_OMIT = 2 ** 30 - 2;

/** Where a build of ufs_fuse.c may be, from the package root (sources run by tsx, or dist/). */
export function addonCandidates(): string[] {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const roots = [path.resolve(here, '..', '..'), path.resolve(here, '..', '..', '..')];
  return roots.flatMap((r) => [
    path.join(r, 'lib', 'fuse', 'native', 'build', 'ufs_fuse.node'),
    path.join(r, 'native', 'build', 'Release', 'ufs_fuse.node'),
  ]);
}

let loaded: UfsFuseAddon | null | undefined;
let loadError = 'not built (node lib/fuse/native/build.mjs)';

/** The addon, or null when it is not built or does not load (see ufsBindingError()). */
export function loadUfsBinding(): UfsFuseAddon | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  const file = addonCandidates().find((f) => existsSync(f));
  if (!file) return loaded;
  try {
    const mod = createRequire(import.meta.url)(file) as UfsFuseAddon;
    if (typeof mod.mount === 'function' && typeof mod.reply === 'function') loaded = mod;
    else loadError = `${file} is not ufs_fuse`;
  } catch (e) {
    loadError = (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
  }
  return loaded;
}

export function ufsBindingError(): string {
  return loadError;
}

const statBuf = new Float64Array(16);

function splitMs(ms: number, out: Float64Array, i: number): void {
  const sec = Math.floor(ms / 1000);
  out[i] = sec;
  // node:fs's ms doubles are good to ~15 ns near today; times it writes are whole microseconds.
  out[i + 1] = Math.min(999_999_000, Math.max(0, Math.round((ms - sec * 1000) * 1e3) * 1e3));
}

/**
 * struct stat as ufs_fuse.c and ufs_fuse_ll.c read it: 16 doubles, times as seconds and nanoseconds.
 * One shared buffer: the addon copies it during the reply call that receives it.
 */
export function statArray(s: StatsLike): Float64Array {
  statBuf[0] = s.mode;
  statBuf[1] = s.uid;
  statBuf[2] = s.gid;
  statBuf[3] = s.size;
  statBuf[4] = s.dev;
  statBuf[5] = s.nlink;
  statBuf[6] = s.ino;
  statBuf[7] = s.rdev;
  statBuf[8] = s.blksize;
  statBuf[9] = s.blocks;
  splitMs(s.atimeMs, statBuf, 10);
  splitMs(s.mtimeMs, statBuf, 12);
  splitMs(s.ctimeMs, statBuf, 14);
  return statBuf;
}

function timeSpec(sec: number, nsec: number): TimeSpec {
  if (nsec === UTIME_NOW) return 'now';
  if (nsec === UTIME_OMIT) return 'omit';
  return { sec, nsec };
}

/** The request handler: one adapter call per request, answered through addon.reply. */
function makeHandler(addon: UfsFuseAddon, a: FuseAdapter, events: { init(): void; exit(): void }): Handler {
  return (op, req, uid, gid, pid, p, x, y, z, w) => {
    const path = p ?? '';
    const caller: Caller = { uid, gid, pid };
    const answer = (promise: Promise<unknown>, ok: (v: never) => void = () => addon.reply(req, 0)): void => {
      promise.then(ok as (v: unknown) => void, (e: unknown) => addon.reply(req, toErrno(e)));
    };
    const n = (v: unknown): number => v as number;
    try {
      switch (op) {
        case OP.INIT: addon.reply(req, 0); events.init(); return;
        case OP.EXIT: events.exit(); return;
        case OP.GETATTR: return answer(a.getattr(path), (st: StatsLike) => addon.reply(req, 0, statArray(st)));
        case OP.FGETATTR: return answer(a.fgetattr(p, n(x)), (st: StatsLike) => addon.reply(req, 0, statArray(st)));
        case OP.ACCESS: return answer(a.access(path, n(x)));
        case OP.READLINK: return answer(a.readlink(path), (t: string) => addon.reply(req, 0, t));
        case OP.MKNOD: return answer(a.mknod(path, n(x), n(y), caller));
        case OP.MKDIR: return answer(a.mkdir(path, n(x), caller));
        case OP.UNLINK: return answer(a.unlink(path));
        case OP.RMDIR: return answer(a.rmdir(path));
        case OP.SYMLINK: return answer(a.symlink(x as string, path, caller));
        case OP.RENAME: return answer(a.rename(path, x as string));
        case OP.LINK: return answer(a.link(path, x as string));
        case OP.CHMOD: return answer(a.chmod(path, n(x)));
        case OP.CHOWN: return answer(a.chown(path, n(x), n(y)));
        case OP.TRUNCATE: return answer(a.truncate(path, n(x)));
        case OP.FTRUNCATE: return answer(a.ftruncate(p, n(y), n(x)));
        case OP.UTIMENS: return answer(a.utimens(path, timeSpec(n(x), n(y)), timeSpec(n(z), n(w))));
        case OP.OPEN:
          return answer(a.open(path, n(x)), (r: { fh: number; keepCache: boolean }) => addon.reply(req, 0, r.fh, r.keepCache ? 1 : 0));
        case OP.CREATE:
          return answer(a.create(path, n(x), n(y), caller), (r: { fh: number; keepCache: boolean }) => addon.reply(req, 0, r.fh, r.keepCache ? 1 : 0));
        case OP.READ: {
          const buf = z as Buffer;
          return answer(a.read(n(x), buf, buf.length, n(y)), (k: number) => addon.reply(req, k));
        }
        case OP.WRITE: {
          const buf = z as Buffer;
          return answer(a.write(n(x), buf, buf.length, n(y)), (k: number) => addon.reply(req, k));
        }
        case OP.STATFS:
          return answer(a.statfs(path), (s: Parameters<typeof toFuseStatfs>[0]) => {
            const f = toFuseStatfs(s, a.opts.readOnly);
            addon.reply(req, 0, Float64Array.from([f.bsize, f.frsize, f.blocks, f.bfree, f.bavail, f.files, f.ffree, f.favail, f.fsid, f.flag, f.namemax]));
          });
        case OP.FLUSH: return answer(a.flush(n(x)));
        case OP.RELEASE: return answer(a.release(n(x)));
        case OP.FSYNC: return answer(a.fsync(n(y), n(x) !== 0));
        case OP.SETXATTR: return answer(a.setxattr(path, x as string, y as Buffer, n(z)));
        case OP.GETXATTR: return answer(a.getxattr(path, x as string), (v: Buffer) => addon.reply(req, 0, v));
        case OP.LISTXATTR:
          return answer(a.listxattr(path), (names: string[]) => addon.reply(req, 0, Buffer.from(names.map((s) => s + '\0').join(''))));
        case OP.REMOVEXATTR: return answer(a.removexattr(path, x as string));
        case OP.READDIR:
          return answer(a.readdir(path), (entries: Array<{ name: string; stats: StatsLike }>) => {
            const meta = new Float64Array(entries.length * 2);
            entries.forEach((e, i) => {
              meta[2 * i] = e.stats.ino;
              meta[2 * i + 1] = e.stats.mode;
            });
            addon.reply(req, 0, entries.map((e) => e.name), meta);
          });
        default:
          addon.reply(req, -38); // ENOSYS
      }
    } catch (e) {
      addon.reply(req, toErrno(e));
    }
  };
}

/**
 * Mounts the adapter with ufs_fuse; resolves once the kernel has sent INIT. `exited` resolves when
 * libfuse's loop has ended (unmounted from anywhere) and the binding has let go of the mount.
 */
export async function mountWithUfsBinding(mountpoint: string, adapter: FuseAdapter, libfuseOptions: string[]): Promise<{ exited: Promise<void> }> {
  const addon = loadUfsBinding();
  if (!addon) throw new Error(`ufsmount: ufs_fuse binding unavailable: ${loadError}`);
  let onInit!: () => void;
  let onExit!: () => void;
  const ready = new Promise<void>((r) => (onInit = r));
  const exited = new Promise<void>((r) => (onExit = r));
  try {
    addon.mount(mountpoint, ['-o', libfuseOptions.join(',')], makeHandler(addon, adapter, { init: onInit, exit: onExit }), adapter.opts.attrCache === false ? 0 : 1);
  } catch (e) {
    throw new Error(`ufsmount: mounting on ${mountpoint} failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  await Promise.race([ready, exited.then(() => Promise.reject(new Error(`ufsmount: the mount on ${mountpoint} ended before it started`)))]);
  return { exited };
}
