// A read-only virtual Layer in the aufs format that shows part of a full tree: the names a changeset
// lists, plus synthesized `.wh.` whiteouts and opaque markers. The tar writer reads it like any layer.
import fs from 'node:fs';
import type { Layer, LayerDirent, LayerHandle } from '../layers/layer.js';
import { AUFS_OPAQUE, AUFS_WH_PREFIX } from '../layers/whiteout.js';
import { fsError } from '../errors.js';

const { S_IFREG, S_IFMT } = fs.constants;

/** One directory of a changeset: the names it carries, the names it whites out, opacity. */
export interface DirSpec {
  names: Set<string>;
  whiteouts: Set<string>;
  opaque: boolean;
}

/** A changeset, directory by directory (layer-relative path, '' for the root). */
export type ChangesetSpec = Map<string, DirSpec>;

/** An empty regular file handle (for synthesized markers). */
class EmptyHandle implements LayerHandle {
  readonly fd = null;
  constructor(private readonly st: fs.Stats) {}
  async read(): Promise<number> {
    return 0;
  }
  async write(): Promise<number> {
    throw fsError('EROFS', 'write');
  }
  async stat(): Promise<fs.Stats> {
    return this.st;
  }
  async truncate(): Promise<void> {
    throw fsError('EROFS', 'ftruncate');
  }
  async sync(): Promise<void> {}
  async datasync(): Promise<void> {}
  async chmod(): Promise<void> {
    throw fsError('EROFS', 'fchmod');
  }
  async chown(): Promise<void> {
    throw fsError('EROFS', 'fchown');
  }
  async utimes(): Promise<void> {
    throw fsError('EROFS', 'futimes');
  }
  async close(): Promise<void> {}
}

function split(rel: string): [string, string] {
  const i = rel.lastIndexOf('/');
  return i < 0 ? ['', rel] : [rel.slice(0, i), rel.slice(i + 1)];
}

export class ChangesetLayer implements Layer {
  readonly id: string;
  readonly root = null;

  constructor(
    private readonly tree: Layer,
    private readonly cs: ChangesetSpec,
  ) {
    this.id = `changeset:${tree.id}`;
  }

  /** The marker a layer path names, when it is a synthesized whiteout or opaque marker. */
  private marker(rel: string): boolean {
    const [dir, name] = split(rel);
    const s = this.cs.get(dir);
    if (!s) return false;
    if (name === AUFS_OPAQUE) return s.opaque;
    return name.startsWith(AUFS_WH_PREFIX) && s.whiteouts.has(name.slice(AUFS_WH_PREFIX.length));
  }

  /** Whether `rel` is part of the changeset (every ancestor lists the next component). */
  private included(rel: string): boolean {
    if (rel === '') return true;
    const [dir, name] = split(rel);
    const s = this.cs.get(dir);
    return s !== undefined && s.names.has(name) && this.included(dir);
  }

  private check(rel: string, syscall: string): void {
    if (!this.included(rel)) throw fsError('ENOENT', syscall, rel);
  }

  /** Stats for a marker: an empty, read-only regular file owned like its directory. */
  private async markerStats(rel: string): Promise<fs.Stats> {
    const [dir] = split(rel);
    const d = await this.tree.lstat(dir);
    const st = Object.create(fs.Stats.prototype) as fs.Stats;
    Object.assign(st, d, { mode: S_IFREG | 0o444, size: 0, blocks: 0, nlink: 1, rdev: 0 });
    return st;
  }

  async supportsXattrs(): Promise<boolean> {
    return this.tree.supportsXattrs();
  }
  async canMknodWhiteout(): Promise<boolean> {
    return false;
  }

  async lstat(rel: string): Promise<fs.Stats> {
    if (this.marker(rel)) return this.markerStats(rel);
    this.check(rel, 'lstat');
    return this.tree.lstat(rel);
  }

  async readdir(rel: string): Promise<LayerDirent[]> {
    this.check(rel, 'scandir');
    const st = await this.tree.lstat(rel);
    if ((st.mode & S_IFMT) !== fs.constants.S_IFDIR) throw fsError('ENOTDIR', 'scandir', rel);
    const s = this.cs.get(rel);
    if (!s) return [];
    const types = new Map((await this.tree.readdir(rel)).map((e) => [e.name, e.type]));
    const out: LayerDirent[] = [];
    for (const name of s.names) {
      const type = types.get(name);
      if (type !== undefined) out.push({ name, type });
    }
    for (const name of s.whiteouts) out.push({ name: AUFS_WH_PREFIX + name, type: S_IFREG });
    if (s.opaque) out.push({ name: AUFS_OPAQUE, type: S_IFREG });
    return out;
  }

  async readlink(rel: string): Promise<string> {
    this.check(rel, 'readlink');
    return this.tree.readlink(rel);
  }

  async open(rel: string, flags: number, mode?: number): Promise<LayerHandle> {
    if ((flags & 3) !== fs.constants.O_RDONLY) throw fsError('EROFS', 'open', rel);
    if (this.marker(rel)) return new EmptyHandle(await this.markerStats(rel));
    this.check(rel, 'open');
    return this.tree.open(rel, flags, mode);
  }

  statfs(rel: string): Promise<fs.StatsFs> {
    return this.tree.statfs(rel);
  }

  async getxattr(rel: string, name: string): Promise<Buffer | null> {
    if (this.marker(rel)) return null;
    this.check(rel, 'getxattr');
    return this.tree.getxattr(rel, name);
  }

  async listxattr(rel: string): Promise<string[]> {
    if (this.marker(rel)) return [];
    this.check(rel, 'listxattr');
    return this.tree.listxattr(rel);
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
  link(_existing: string, rel: string): Promise<void> {
    return this.rofs('link', rel);
  }
  symlink(_target: string, rel: string): Promise<void> {
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
  copyFileFrom(_from: Layer, _src: string, rel: string): Promise<void> {
    return this.rofs('copyfile', rel);
  }
}
