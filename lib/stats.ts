// What the union shows of an inode: fs.Stats objects with the union's st_dev and stable inode
// numbers (the origin's, so they survive copy-up), and fs.Dirent objects for readdir.
import fs from 'node:fs';

const { S_IFMT, S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK } = fs.constants;

/** A copy of `real` that looks like an fs.Stats, with the union's `ino` and `dev`. */
export function unionStats(real: fs.Stats, ino: number, dev: number, nlink?: number): fs.Stats {
  const s = Object.assign(Object.create(fs.Stats.prototype) as fs.Stats, real);
  s.ino = ino;
  s.dev = dev;
  if (nlink !== undefined) s.nlink = nlink;
  return s;
}

/** A fresh copy of a union Stats (cached Stats are never handed out themselves). */
export function cloneStats(s: fs.Stats): fs.Stats {
  return Object.assign(Object.create(fs.Stats.prototype) as fs.Stats, s);
}

// libuv's dirent type numbers, which fs.Dirent takes.
const UV_DIRENT: Record<number, number> = {
  [S_IFREG]: 1,
  [S_IFDIR]: 2,
  [S_IFLNK]: 3,
  [S_IFIFO]: 4,
  [S_IFSOCK]: 5,
  [S_IFCHR]: 6,
  [S_IFBLK]: 7,
};

type DirentCtor = new (name: string, type: number, path: string) => fs.Dirent;

export function makeDirent(name: string, type: number, parentPath: string): fs.Dirent {
  return new (fs.Dirent as unknown as DirentCtor)(name, UV_DIRENT[type & S_IFMT] ?? 0, parentPath);
}

export function typeOf(mode: number): number {
  return mode & S_IFMT;
}

export function isDirType(type: number): boolean {
  return type === S_IFDIR;
}

/**
 * Maps (layer filesystem, inode) to union inode numbers. When every layer lives on one filesystem
 * the real inode numbers are already unique and are used as they are (like overlayfs on one fs);
 * otherwise each filesystem gets a 2^40-sized range of its own (like overlayfs' xino).
 */
export class InoMapper {
  private readonly devIndex = new Map<number, number>();
  constructor(private readonly sameFs: boolean) {}

  map(dev: number, ino: number): number {
    if (this.sameFs) return ino;
    let idx = this.devIndex.get(dev);
    if (idx === undefined) {
      idx = this.devIndex.size;
      this.devIndex.set(dev, idx);
    }
    if (ino < 2 ** 40 && idx < 2 ** 12) return idx * 2 ** 40 + ino;
    // Out of range: fold into 53 bits (a collision is possible but very unlikely).
    return ((ino % 2 ** 40) ^ (idx * 0x9e3779b1)) % Number.MAX_SAFE_INTEGER;
  }
}
