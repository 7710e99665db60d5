// A POSIX-suite target over a real directory: node:fs/promises plus mknod, mkfifo and xattr calls
// done by the mknod/mkfifo/setfattr/getfattr commands; used for a plain temp dir and for mounts.
import { execFile } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import { constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fsError } from '../../lib/errors.js';
import type { PosixCaps, PosixFs, PosixFsCore, PosixTarget } from './types.js';

/** glibc's makedev(3). */
export function makedev(major: number, minor: number): number {
  return ((major & 0xfff) << 8) | (minor & 0xff) | ((minor & 0xfff00) << 12);
}
export function major(dev: number): number {
  return (dev >>> 8) & 0xfff;
}
export function minor(dev: number): number {
  return (dev & 0xff) | ((dev >>> 12) & 0xfff00);
}

const messageCodes: Array<[string, string]> = [
  ['No such attribute', 'ENODATA'],
  ['No data available', 'ENODATA'],
  ['File exists', 'EEXIST'],
  ['No such file or directory', 'ENOENT'],
  ['Not a directory', 'ENOTDIR'],
  ['Is a directory', 'EISDIR'],
  ['Operation not permitted', 'EPERM'],
  ['Permission denied', 'EACCES'],
  ['Operation not supported', 'ENOTSUP'],
  ['File name too long', 'ENAMETOOLONG'],
  ['Too many levels of symbolic links', 'ELOOP'],
  ['Numerical result out of range', 'ERANGE'],
  ['Argument list too long', 'E2BIG'],
  ['No space left on device', 'ENOSPC'],
  ['Read-only file system', 'EROFS'],
  ['Invalid argument', 'EINVAL'],
];

interface RunResult {
  stdout: Buffer;
}

/** Runs a command; a failure becomes a Node-shaped error guessed from its message. */
function run(cmd: string, args: string[], syscall: string, path: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'buffer' }, (err, stdout, stderr) => {
      if (!err) {
        resolve({ stdout });
        return;
      }
      const text = stderr.toString('utf8').trim() || err.message;
      const found = messageCodes.find(([m]) => text.includes(m));
      reject(fsError(found ? found[1] : 'EIO', syscall, path, undefined, found ? undefined : text));
    });
  });
}

function mode8(mode: number): string {
  return (mode & 0o7777).toString(8);
}

/** node:fs/promises plus the optional calls, done with commands on real paths. */
export function nodeFs(): PosixFs {
  const core: PosixFsCore = fsp;
  return {
    ...core,
    async mkfifo(path: string, mode: number): Promise<void> {
      await run('mkfifo', ['-m', mode8(mode), '--', path], 'mkfifo', path);
    },
    async mknod(path: string, mode: number, dev: number): Promise<void> {
      const type = mode & constants.S_IFMT;
      const args = ['-m', mode8(mode), '--', path];
      if (type === constants.S_IFIFO) args.push('p');
      else if (type === constants.S_IFCHR) args.push('c', String(major(dev)), String(minor(dev)));
      else if (type === constants.S_IFBLK) args.push('b', String(major(dev)), String(minor(dev)));
      else if (type === constants.S_IFREG || type === 0) {
        const h = await fsp.open(path, 'wx', mode & 0o7777);
        await h.close();
        return;
      } else throw fsError('EINVAL', 'mknod', path);
      await run('mknod', args, 'mknod', path);
    },
    async getxattr(path: string, name: string): Promise<Buffer> {
      const r = await run('getfattr', ['-h', '--absolute-names', '--only-values', '-n', name, '--', path], 'lgetxattr', path);
      return r.stdout;
    },
    async setxattr(path: string, name: string, value: Buffer | string): Promise<void> {
      const buf = typeof value === 'string' ? Buffer.from(value) : value;
      const args = ['-h', '-n', name];
      if (buf.length > 0) args.push('-v', `0s${buf.toString('base64')}`);
      await run('setfattr', [...args, '--', path], 'lsetxattr', path);
    },
    async listxattr(path: string): Promise<string[]> {
      const r = await run('getfattr', ['-h', '--absolute-names', '-m', '-', '--', path], 'llistxattr', path);
      return r.stdout
        .toString('utf8')
        .split('\n')
        .filter((l) => l !== '' && !l.startsWith('# file:'));
    },
    async removexattr(path: string, name: string): Promise<void> {
      await run('setfattr', ['-h', '-x', name, '--', path], 'lremovexattr', path);
    },
  };
}

/** Finds out, by trying in `dir` (a real directory), what the suite may expect there. */
export async function probeCaps(dir: string, fs: PosixFs = nodeFs()): Promise<PosixCaps> {
  const root = process.getuid?.() === 0;
  const probe = join(dir, `.caps-probe-${process.pid}`);
  await fs.writeFile(probe, '');
  const works = async (f: () => Promise<unknown>): Promise<boolean> => {
    try {
      await f();
      return true;
    } catch {
      return false;
    }
  };
  const xattr = await works(async () => {
    await fs.setxattr?.(probe, 'user.probe', 'x');
    if ((await fs.getxattr?.(probe, 'user.probe'))?.toString() !== 'x') throw new Error('no xattr');
  });
  const hardlinks = await works(() => fs.link(probe, `${probe}.link`));
  const mknodDevices =
    root && (await works(() => fs.mknod?.(`${probe}.dev`, constants.S_IFCHR | 0o600, makedev(1, 3)) ?? Promise.reject()));
  for (const f of [probe, `${probe}.link`, `${probe}.dev`]) await fs.rm(f, { force: true });
  return { root, xattr, mknodDevices, hardlinks };
}

export interface NodeTargetOptions {
  /** What to undo when the suite ends (e.g. unmount); the directory itself is left alone. */
  cleanup?: () => Promise<void>;
  /** Capabilities to claim instead of probing for them. */
  caps?: Partial<PosixCaps>;
}

/** A target over an existing real directory (a temp dir, or a mountpoint): p(rel) = `${dir}/${rel}`. */
export async function nodeFsTarget(dir: string, opts: NodeTargetOptions = {}): Promise<PosixTarget> {
  const fs = nodeFs();
  const caps = { ...(await probeCaps(dir, fs)), ...opts.caps };
  return {
    fs,
    p: (rel) => (rel === '' ? dir : `${dir}/${rel}`),
    root: dir,
    caps,
    cleanup: opts.cleanup ?? (async () => {}),
  };
}

/** A fresh temp directory, removed at cleanup: the reference target. */
export async function plainDirTarget(): Promise<PosixTarget> {
  const dir = await fsp.mkdtemp(join(tmpdir(), 'ufs-posix-'));
  return nodeFsTarget(dir, { cleanup: () => fsp.rm(dir, { recursive: true, force: true }) });
}
