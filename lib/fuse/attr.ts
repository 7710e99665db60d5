// Attribute translation between the union's fs.Stats / StatFs and what fuse-native hands to
// libfuse (its stat and statvfs arrays are 32-bit fields, times in milliseconds).
import type fs from 'node:fs';

/** The stat fields fuse-native copies into a struct stat (times as milliseconds since the epoch). */
export interface FuseStat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  dev: number;
  nlink: number;
  ino: number;
  rdev: number;
  blksize: number;
  blocks: number;
  atime: number;
  mtime: number;
  ctime: number;
}

/** The statvfs fields fuse-native copies (each a 32-bit unsigned number). */
export interface FuseStatfs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail: number;
  fsid: number;
  flag: number;
  namemax: number;
}

/** The part of fs.Stats the adapter reads. */
export type StatsLike = Pick<fs.Stats, 'mode' | 'uid' | 'gid' | 'size' | 'dev' | 'nlink' | 'ino' | 'rdev'
  | 'blksize' | 'blocks' | 'atimeMs' | 'mtimeMs' | 'ctimeMs'>;

const U32 = 2 ** 32;

/** Folds an inode number into the 32 bits fuse-native passes on (the low bits, which differ most). */
function ino32(ino: number): number {
  if (ino < U32) return ino;
  const low = ino % U32;
  const high = Math.floor(ino / U32);
  return (low ^ Math.imul(high, 0x9e3779b1)) >>> 0 || 1;
}

export function toFuseStat(s: StatsLike): FuseStat {
  return {
    mode: s.mode,
    uid: s.uid,
    gid: s.gid,
    size: s.size,
    dev: s.dev % U32,
    nlink: s.nlink,
    ino: ino32(s.ino),
    rdev: s.rdev % U32,
    blksize: s.blksize,
    blocks: s.blocks,
    atime: Math.floor(s.atimeMs),
    mtime: Math.floor(s.mtimeMs),
    ctime: Math.floor(s.ctimeMs),
  };
}

/** The part of fs.StatsFs the adapter reads. */
export type StatFsLike = Pick<fs.StatsFs, 'bsize' | 'blocks' | 'bfree' | 'bavail' | 'files' | 'ffree'>;

const ST_RDONLY = 1;

/** statvfs for the union; block counts over 32 bits are expressed in larger fragments. */
export function toFuseStatfs(s: StatFsLike, readOnly: boolean): FuseStatfs {
  let frsize = s.bsize;
  let { blocks, bfree, bavail } = s;
  while (blocks >= U32) {
    frsize *= 2;
    blocks = Math.floor(blocks / 2);
    bfree = Math.floor(bfree / 2);
    bavail = Math.floor(bavail / 2);
  }
  const files = Math.min(s.files, U32 - 1);
  const ffree = Math.min(s.ffree, U32 - 1);
  return {
    bsize: s.bsize,
    frsize,
    blocks,
    bfree,
    bavail,
    files,
    ffree,
    favail: ffree,
    fsid: 0,
    flag: readOnly ? ST_RDONLY : 0,
    namemax: 255,
  };
}
