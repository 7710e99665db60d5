// The one error type of ufs: Node-shaped (code, errno, syscall, path, dest) so callers can treat
// ufs like node:fs, plus helpers to build and recognise such errors.
import { constants as osConstants } from 'node:os';

const errnos = osConstants.errno as Record<string, number>;

const messages: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EEXIST: 'file already exists',
  ENOTDIR: 'not a directory',
  EISDIR: 'illegal operation on a directory',
  ENOTEMPTY: 'directory not empty',
  EROFS: 'read-only file system',
  EPERM: 'operation not permitted',
  EACCES: 'permission denied',
  EINVAL: 'invalid argument',
  EXDEV: 'cross-device link not permitted',
  ELOOP: 'too many symbolic links encountered',
  ENAMETOOLONG: 'name too long',
  EBADF: 'bad file descriptor',
  ENODATA: 'no data available',
  ENOTSUP: 'operation not supported on socket',
  EOPNOTSUPP: 'operation not supported on socket',
  EBUSY: 'resource busy or locked',
  ENOSYS: 'function not implemented',
  ERANGE: 'result too large',
  E2BIG: 'argument list too long',
  EMLINK: 'too many links',
  EFBIG: 'file too large',
  ENOSPC: 'no space left on device',
  EIO: 'i/o error',
};

/** An error shaped like the ones node:fs throws: `code`, `errno` (negative), `syscall`, `path`, `dest`. */
export class UfsError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  readonly path?: string;
  readonly dest?: string;

  constructor(code: string, syscall: string, path?: string, dest?: string, detail?: string) {
    const msg = messages[code] ?? code.toLowerCase();
    let text = `${code}: ${detail ?? msg}, ${syscall}`;
    if (path !== undefined) text += ` '${path}'`;
    if (dest !== undefined) text += ` -> '${dest}'`;
    super(text);
    this.name = 'Error';
    this.code = code;
    this.errno = -(errnos[code] ?? 5);
    this.syscall = syscall;
    if (path !== undefined) this.path = path;
    if (dest !== undefined) this.dest = dest;
  }
}

/** Builds a Node-shaped error; `detail` replaces the default message text. */
export function fsError(code: string, syscall: string, path?: string, dest?: string, detail?: string): UfsError {
  return new UfsError(code, syscall, path, dest, detail);
}

/** A Node-shaped error of any origin (node:fs, the native addon, ufs itself). */
export interface ErrnoLike extends Error {
  code: string;
  errno?: number;
  syscall?: string;
  path?: string;
  dest?: string;
}

export function isErrno(e: unknown, ...codes: string[]): e is ErrnoLike {
  if (typeof e !== 'object' || e === null) return false;
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && (codes.length === 0 || codes.includes(code));
}

/**
 * Re-labels an error from a layer (whose path is a real path on disk) with the union path the
 * caller used, so that no real layer path leaks out of the union.
 */
export function relabel(e: unknown, syscall: string, path?: string, dest?: string): Error {
  if (isErrno(e)) return new UfsError(e.code, syscall, path, dest);
  return e instanceof Error ? e : new Error(String(e));
}

/** The positive errno number for a code, for the FUSE adapter (which returns it negated). */
export function errnoOf(code: string): number {
  return errnos[code] ?? 5;
}
