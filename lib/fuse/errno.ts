// The one place where ufs errors become FUSE replies: a Node-shaped error (code, errno) turns into
// the negative errno number libfuse expects; anything unrecognised is EIO.
import { errnoOf, isErrno } from '../errors.js';

/** The negative errno for an error thrown by the union (or by node:fs underneath it). */
export function toErrno(e: unknown): number {
  if (isErrno(e)) {
    if (typeof e.errno === 'number' && e.errno < 0 && e.errno > -4096) return e.errno;
    return -errnoOf(e.code);
  }
  return -errnoOf('EIO');
}

export const ERR = {
  EPERM: -errnoOf('EPERM'),
  ENOENT: -errnoOf('ENOENT'),
  EIO: -errnoOf('EIO'),
  EBADF: -errnoOf('EBADF'),
  EINVAL: -errnoOf('EINVAL'),
  ENOSYS: -errnoOf('ENOSYS'),
  ERANGE: -errnoOf('ERANGE'),
  ENODATA: -errnoOf('ENODATA'),
  ENAMETOOLONG: -errnoOf('ENAMETOOLONG'),
  EROFS: -errnoOf('EROFS'),
} as const;
