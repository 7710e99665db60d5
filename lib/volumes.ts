// Volumes: host directories mapped into a union at a path, like Docker's `--volume HOST:/path`.
// Calls on paths under a volume go straight to the host directory (node:fs), bypassing the layers,
// so what is written there survives the container and is never part of a diff or a commit.
import type fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { UnionFs } from './union.js';
import type { VolumeSpec } from './options.js';
import { fsError, isErrno, relabel } from './errors.js';
import { pathString } from './path.js';
import { native } from './native.js';
import { mkdirLong, rmTree, shortPath } from './long-path.js';

interface Mapped {
  vol: VolumeSpec;
  host: string;
}

/** Methods whose first argument is a path. */
const ONE_PATH = new Set([
  'stat', 'lstat', 'access', 'readdir', 'readdirPlus', 'readFile', 'writeFile', 'appendFile', 'open', 'mkdir', 'rmdir', 'rm',
  'unlink', 'readlink', 'realpath', 'chmod', 'chown', 'lchown', 'utimes', 'lutimes', 'truncate', 'mknod', 'mkfifo', 'statfs',
  'getxattr', 'setxattr', 'listxattr', 'removexattr',
]);
const TWO_PATHS = new Set(['rename', 'link', 'copyFile']);

type Fn = (...args: unknown[]) => Promise<unknown>;

/** The host-side versions of the calls node:fs/promises lacks or shapes differently (given the real host path). */
const hostOps: Record<string, Fn> = {
  readdirPlus: async (...a: unknown[]) => {
    const dir = a[0] as string;
    const names = await fsp.readdir(shortPath(dir));
    return Promise.all(names.map(async (name) => ({ name, stats: await fsp.lstat(shortPath(path.join(dir, name))) })));
  },
  rm: async (...a: unknown[]) => {
    const o = a[1] as fs.RmOptions | undefined;
    try {
      return await fsp.rm(shortPath(a[0] as string), o);
    } catch (e) {
      // A tree deeper than PATH_MAX below the path: walk it down with shortened paths.
      if (!o?.recursive || !isErrno(e, 'ENAMETOOLONG')) throw e;
      return rmTree(a[0] as string);
    }
  },
  mkdir: async (...a: unknown[]) => mkdirLong(a[0] as string, a[1] as fs.MakeDirectoryOptions | number | undefined),
  mknod: async (...a: unknown[]) => {
    const n = native();
    if (!n) throw fsError('ENOSYS', 'mknod', a[0] as string);
    return n.mknod(shortPath(a[0] as string), a[1] as number, (a[2] as number | undefined) ?? 0);
  },
  mkfifo: async (...a: unknown[]) => hostOps.mknod!(a[0], 0o010000 | ((a[1] as number | undefined) ?? 0o666), 0),
  getxattr: async (...a: unknown[]) => native()?.lgetxattr(shortPath(a[0] as string), a[1] as string) ?? Promise.reject(fsError('ENOTSUP', 'getxattr')),
  setxattr: async (...a: unknown[]) =>
    native()?.lsetxattr(shortPath(a[0] as string), a[1] as string, Buffer.from(a[2] as Buffer | string), (a[3] as number | undefined) ?? 0) ??
    Promise.reject(fsError('ENOTSUP', 'setxattr')),
  listxattr: async (...a: unknown[]) => native()?.llistxattr(shortPath(a[0] as string)) ?? [],
  removexattr: async (...a: unknown[]) => native()?.lremovexattr(shortPath(a[0] as string), a[1] as string) ?? Promise.reject(fsError('ENOTSUP', 'removexattr')),
};

export function normaliseVolumes(volumes: VolumeSpec[]): VolumeSpec[] {
  return volumes.map((v) => {
    if (typeof v.hostdir !== 'string' || typeof v.path !== 'string' || !v.path.startsWith('/')) {
      throw fsError('EINVAL', 'open', undefined, undefined, 'a volume needs a hostdir and an absolute path in the union');
    }
    const p = path.posix.resolve('/', v.path);
    if (p === '/') throw fsError('EINVAL', 'open', undefined, undefined, 'a volume cannot cover the whole union');
    return { ...v, hostdir: path.resolve(v.hostdir), path: p };
  });
}

function mapPath(volumes: VolumeSpec[], p: unknown): Mapped | null {
  if (typeof p !== 'string' && !(p instanceof Buffer) && !(p instanceof URL)) return null;
  const s = path.posix.resolve('/', pathString(p));
  for (const vol of volumes) {
    if (s === vol.path || s.startsWith(vol.path + '/')) return { vol, host: vol.hostdir + s.slice(vol.path.length) };
  }
  return null;
}

const WRITES = new Set(['writeFile', 'appendFile', 'mkdir', 'rmdir', 'rm', 'unlink', 'chmod', 'chown', 'lchown', 'utimes', 'lutimes', 'truncate', 'mknod', 'mkfifo', 'setxattr', 'removexattr', 'rename', 'link', 'copyFile', 'symlink']);

/** Wraps a union so that calls under a volume's path reach the host directory instead. */
export function withVolumes(u: UnionFs, volumes: VolumeSpec[]): UnionFs {
  if (volumes.length === 0) return u;
  const vols = normaliseVolumes(volumes);
  const call = async (name: string, args: unknown[], m: Mapped, argIndex: number): Promise<unknown> => {
    if (m.vol.readonly && (WRITES.has(name) || (name === 'open' && typeof args[1] !== 'undefined' && args[1] !== 'r' && args[1] !== 0))) {
      throw fsError('EROFS', name, pathString(args[argIndex]));
    }
    const a = [...args];
    const own = hostOps[name];
    a[argIndex] = own ? m.host : shortPath(m.host);
    const fn = own ?? ((fsp as unknown as Record<string, Fn>)[name] as Fn | undefined);
    if (!fn) throw fsError('ENOSYS', name, pathString(args[argIndex]));
    try {
      const out = await fn(...a);
      return name === 'realpath' && typeof out === 'string' ? m.vol.path + out.slice(m.vol.hostdir.length) : out;
    } catch (e) {
      throw relabel(e, name, pathString(args[argIndex]));
    }
  };
  return new Proxy(u, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof prop !== 'string' || typeof value !== 'function') return value;
      // the layers on disk are not the whole union: volumes lie across them
      if (prop === 'layerDirs') return () => null;
      const orig = value as Fn;
      if (ONE_PATH.has(prop)) {
        return (...args: unknown[]) => {
          const m = mapPath(vols, args[0]);
          return m ? call(prop, args, m, 0) : orig.apply(target, args);
        };
      }
      if (prop === 'symlink') {
        return (...args: unknown[]) => {
          const m = mapPath(vols, args[1]);
          return m ? call(prop, args, m, 1) : orig.apply(target, args);
        };
      }
      if (TWO_PATHS.has(prop)) {
        return async (...args: unknown[]) => {
          const a = mapPath(vols, args[0]);
          const b = mapPath(vols, args[1]);
          if (!a && !b) return orig.apply(target, args);
          if (a && b && a.vol === b.vol) {
            const out = [...args];
            out[1] = shortPath(b.host);
            return call(prop, out, a, 0);
          }
          if (prop === 'copyFile') {
            // Across the boundary: read on one side, write on the other.
            const src = a ? await fsp.readFile(shortPath(a.host)) : ((await u.readFile(args[0] as string)) as Buffer);
            if (b) await call('writeFile', [args[1], src], b, 0);
            else await u.writeFile(args[1] as string, src);
            return undefined;
          }
          throw fsError('EXDEV', prop, pathString(args[0]), pathString(args[1]));
        };
      }
      return value;
    },
  });
}

/** Makes sure every volume's mount point exists as a directory in a writable union. */
export async function ensureMountPoints(u: UnionFs, volumes: VolumeSpec[]): Promise<void> {
  for (const v of normaliseVolumes(volumes)) {
    try {
      await fsp.access(v.hostdir);
    } catch {
      throw fsError('ENOENT', 'open', v.hostdir, undefined, `volume host directory ${v.hostdir} does not exist`);
    }
    if (u.readonly) continue;
    await u.mkdir(v.path, { recursive: true }).catch((e: unknown) => {
      throw relabel(e, 'mkdir', v.path);
    });
  }
}
