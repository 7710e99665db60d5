// A read-only Layer over a UnionFs view, so that the generic tree walk (naive-diff) can compare
// any two merged views, whatever driver produced them.
import fs from 'node:fs';
import type { Layer, LayerDirent, LayerHandle } from '../layers/layer.js';
import type { UnionFs } from '../union.js';
import { fsError, isErrno } from '../errors.js';

const abs = (rel: string): string => `/${rel}`;

function direntType(d: fs.Dirent): number {
  if (d.isFile()) return fs.constants.S_IFREG;
  if (d.isDirectory()) return fs.constants.S_IFDIR;
  if (d.isSymbolicLink()) return fs.constants.S_IFLNK;
  if (d.isCharacterDevice()) return fs.constants.S_IFCHR;
  if (d.isBlockDevice()) return fs.constants.S_IFBLK;
  if (d.isFIFO()) return fs.constants.S_IFIFO;
  if (d.isSocket()) return fs.constants.S_IFSOCK;
  return 0;
}

export class UnionLayer implements Layer {
  readonly root = null;
  constructor(
    private readonly u: UnionFs,
    readonly id: string,
  ) {}

  async supportsXattrs(): Promise<boolean> {
    return true;
  }
  async canMknodWhiteout(): Promise<boolean> {
    return false;
  }
  lstat(rel: string): Promise<fs.Stats> {
    return this.u.lstat(abs(rel));
  }
  async readdir(rel: string): Promise<LayerDirent[]> {
    const list = await this.u.readdir(abs(rel), { withFileTypes: true });
    const out: LayerDirent[] = [];
    for (const d of list) {
      let type = direntType(d);
      if (type === 0) type = (await this.u.lstat(abs(rel === '' ? d.name : `${rel}/${d.name}`))).mode & fs.constants.S_IFMT;
      out.push({ name: d.name, type });
    }
    return out;
  }
  readlink(rel: string): Promise<string> {
    return this.u.readlink(abs(rel));
  }
  async open(rel: string, flags: number): Promise<LayerHandle> {
    if ((flags & 3) !== fs.constants.O_RDONLY) throw fsError('EROFS', 'open', rel);
    const h = await this.u.open(abs(rel), 'r');
    return {
      fd: null,
      read: async (buf, offset, length, position) => (await h.read(buf, offset, length, position)).bytesRead,
      write: async () => {
        throw fsError('EROFS', 'write', rel);
      },
      stat: () => h.stat(),
      truncate: async () => {
        throw fsError('EROFS', 'ftruncate', rel);
      },
      sync: async () => {},
      datasync: async () => {},
      chmod: async () => {
        throw fsError('EROFS', 'fchmod', rel);
      },
      chown: async () => {
        throw fsError('EROFS', 'fchown', rel);
      },
      utimes: async () => {
        throw fsError('EROFS', 'futimes', rel);
      },
      close: () => h.close(),
    };
  }
  statfs(rel: string): Promise<fs.StatsFs> {
    return this.u.statfs(abs(rel));
  }
  async getxattr(rel: string, name: string): Promise<Buffer | null> {
    try {
      return await this.u.getxattr(abs(rel), name);
    } catch (e) {
      if (isErrno(e, 'ENODATA', 'ENOTSUP', 'EOPNOTSUPP')) return null;
      throw e;
    }
  }
  listxattr(rel: string): Promise<string[]> {
    return this.u.listxattr(abs(rel));
  }
  private rofs(syscall: string, rel: string): Promise<never> {
    return Promise.reject(fsError('EROFS', syscall, rel));
  }
  mkdir(rel: string): Promise<void> {
    return this.rofs('mkdir', rel);
  }
  rmdir(rel: string): Promise<void> {
    return this.rofs('rmdir', rel);
  }
  unlink(rel: string): Promise<void> {
    return this.rofs('unlink', rel);
  }
  rename(from: string): Promise<void> {
    return this.rofs('rename', from);
  }
  link(_e: string, rel: string): Promise<void> {
    return this.rofs('link', rel);
  }
  symlink(_t: string, rel: string): Promise<void> {
    return this.rofs('symlink', rel);
  }
  mknod(rel: string): Promise<void> {
    return this.rofs('mknod', rel);
  }
  chmod(rel: string): Promise<void> {
    return this.rofs('chmod', rel);
  }
  lchown(rel: string): Promise<void> {
    return this.rofs('lchown', rel);
  }
  lutimes(rel: string): Promise<void> {
    return this.rofs('lutimes', rel);
  }
  truncate(rel: string): Promise<void> {
    return this.rofs('truncate', rel);
  }
  setxattr(rel: string): Promise<void> {
    return this.rofs('setxattr', rel);
  }
  removexattr(rel: string): Promise<void> {
    return this.rofs('removexattr', rel);
  }
  copyFileFrom(_f: Layer, _s: string, rel: string): Promise<void> {
    return this.rofs('copyfile', rel);
  }
}
