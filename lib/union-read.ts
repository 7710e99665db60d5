// UnionReader: the reading half of the union's node:fs/promises-shaped API (stat, access, readdir,
// readlink, realpath, readFile, statfs), shared state and checks; UnionFs (union.ts) adds the changes.
import fs from 'node:fs';
import type { Layer } from './layers/layer.js';
import type { UnionCore } from './core.js';
import { UnionFileHandle } from './handles.js';
import { fsError, relabel } from './errors.js';
import { pathString } from './path.js';
import { makeDirent } from './stats.js';
import type { OpenFlags } from './args.js';

const { S_IFDIR, S_IFLNK } = fs.constants;
const { R_OK, W_OK, X_OK } = fs.constants;

export type ReaddirOptions = { withFileTypes?: boolean; encoding?: BufferEncoding | 'buffer' | null; recursive?: boolean } | BufferEncoding | null;

export interface DirentWithStats {
  name: string;
  stats: fs.Stats;
  /** The entry's extended attribute names, as listxattr gives them (only when asked: `{ xattrs: true }`). */
  xattrs?: string[];
}

export abstract class UnionReader {
  readonly core: UnionCore;
  protected closed = false;

  protected constructor(core: UnionCore) {
    this.core = core;
  }

  /** The whiteout format in use. */
  get whiteout(): 'overlay' | 'aufs' {
    return this.core.format.name;
  }

  /**
   * Union paths of this many bytes or more give ENAMETOOLONG (default 4096, Linux's PATH_MAX). A
   * FUSE server sets Infinity: its paths run from the mount root, the kernel checked the caller's.
   */
  get pathMax(): number {
    return this.core.pathMax;
  }
  set pathMax(n: number) {
    this.core.pathMax = n;
  }

  get readonly(): boolean {
    return this.core.readonly;
  }

  /** The layers, upper first (null when read-only), then the lower ones topmost first. */
  get layers(): ReadonlyArray<Layer | null> {
    return this.core.layers;
  }

  protected live(): void {
    if (this.closed) throw fsError('EBADF', 'union', undefined, undefined, 'the union is closed');
  }

  abstract open(p: fs.PathLike, flags?: OpenFlags, mode?: number | string): Promise<UnionFileHandle>;

  // ---- reading ----

  async stat(p: fs.PathLike, _opts?: { bigint?: false }): Promise<fs.Stats> {
    this.live();
    const r = await this.core.resolve(p, 'stat', true);
    return this.core.statResolved(r, 'stat', p);
  }

  async lstat(p: fs.PathLike, _opts?: { bigint?: false }): Promise<fs.Stats> {
    this.live();
    const r = await this.core.resolve(p, 'lstat', false);
    return this.core.statResolved(r, 'lstat', p);
  }

  async access(p: fs.PathLike, mode: number = fs.constants.F_OK): Promise<void> {
    this.live();
    const st = await this.stat(p).catch((e: unknown) => {
      throw relabel(e, 'access', pathString(p));
    });
    if (mode === fs.constants.F_OK) return;
    if (mode & W_OK && this.core.readonly) throw fsError('EROFS', 'access', pathString(p));
    const uid = process.getuid?.() ?? 0;
    if (uid === 0) {
      if (mode & X_OK && !st.isDirectory() && (st.mode & 0o111) === 0) throw fsError('EACCES', 'access', pathString(p));
      return;
    }
    const groups = process.getgroups?.() ?? [];
    const shift = st.uid === uid ? 6 : st.gid === process.getgid?.() || groups.includes(st.gid) ? 3 : 0;
    const bits = (st.mode >> shift) & 7;
    const want = ((mode & R_OK) ? 4 : 0) | ((mode & W_OK) ? 2 : 0) | ((mode & X_OK) ? 1 : 0);
    if ((bits & want) !== want) throw fsError('EACCES', 'access', pathString(p));
  }

  protected async dirData(p: fs.PathLike, syscall: string) {
    const r = await this.core.existing(p, syscall, true);
    if (r.entry.type !== S_IFDIR) throw fsError('ENOTDIR', syscall, pathString(p));
    const node = this.core.dirNodeOf(r);
    try {
      return { r, node, data: await this.core.dataOf(node) };
    } catch (e) {
      throw relabel(e, syscall, pathString(p));
    }
  }

  readdir(p: fs.PathLike, opts: { withFileTypes: true; recursive?: boolean }): Promise<fs.Dirent[]>;
  readdir(p: fs.PathLike, opts: { encoding: 'buffer'; withFileTypes?: false; recursive?: boolean } | 'buffer'): Promise<Buffer[]>;
  readdir(p: fs.PathLike, opts?: ReaddirOptions): Promise<string[]>;
  readdir(p: fs.PathLike, opts?: ReaddirOptions | { encoding: 'buffer' }): Promise<string[] | Buffer[] | fs.Dirent[]>;
  async readdir(p: fs.PathLike, opts?: ReaddirOptions | { encoding: 'buffer' } | 'buffer'): Promise<string[] | Buffer[] | fs.Dirent[]> {
    this.live();
    const o: { withFileTypes?: boolean; encoding?: string | null; recursive?: boolean } = typeof opts === 'string' ? { encoding: opts } : (opts ?? {});
    const { r, data } = await this.dirData(p, 'scandir');
    if (o.recursive) return this.readdirRecursive(r.path, o.withFileTypes === true);
    if (o.withFileTypes) {
      const parent = pathString(p);
      return [...data.entries].map(([n, e]) => makeDirent(n, e.type, parent));
    }
    const names = [...data.entries.keys()];
    return o.encoding === 'buffer' ? names.map((n) => Buffer.from(n)) : names;
  }

  private async readdirRecursive(root: string, types: boolean): Promise<string[] | fs.Dirent[]> {
    const names: string[] = [];
    const dirents: fs.Dirent[] = [];
    const walk = async (dir: string, prefix: string): Promise<void> => {
      const { data } = await this.dirData(dir, 'scandir');
      for (const [n, e] of data.entries) {
        const rel = prefix ? `${prefix}/${n}` : n;
        if (types) dirents.push(makeDirent(n, e.type, dir));
        else names.push(rel);
        if (e.type === S_IFDIR) await walk(dir === '/' ? `/${n}` : `${dir}/${n}`, rel);
      }
    };
    await walk(root, '');
    return types ? dirents : names;
  }

  /**
   * Names with their attributes, in one call (what a FUSE readdirplus wants); with `{ xattrs: true }`
   * also each entry's extended attribute names (an entry whose names cannot be read has none given).
   */
  async readdirPlus(p: fs.PathLike, opts?: { xattrs?: boolean }): Promise<DirentWithStats[]> {
    this.live();
    const { data } = await this.dirData(p, 'scandir');
    const entries = [...data.entries];
    const stats = await Promise.all(entries.map(([, e]) => this.core.statEntry(e).catch(() => null)));
    const format = this.core.format;
    const xattrs = opts?.xattrs
      ? await Promise.all(entries.map(([, e], i) => stats[i]
        ? this.core.layerXattrNames(e.layer, e.rel).then((l) => l.filter((n) => !format.isPrivateXattr(n)), () => undefined)
        : undefined))
      : [];
    const out: DirentWithStats[] = [];
    entries.forEach(([name], i) => {
      const s = stats[i];
      const x = xattrs[i];
      if (s) out.push(x ? { name, stats: s, xattrs: x } : { name, stats: s });
    });
    return out;
  }

  async readlink(p: fs.PathLike, _opts?: BufferEncoding | { encoding?: BufferEncoding | null }): Promise<string> {
    this.live();
    const r = await this.core.existing(p, 'readlink', false);
    if (r.entry.type !== S_IFLNK) throw fsError('EINVAL', 'readlink', pathString(p));
    try {
      return await this.core.layerReadlink(r.entry.layer, r.entry.rel);
    } catch (e) {
      throw relabel(e, 'readlink', pathString(p));
    }
  }

  async realpath(p: fs.PathLike, _opts?: BufferEncoding | { encoding?: BufferEncoding | null }): Promise<string> {
    this.live();
    const r = await this.core.existing(p, 'realpath', true);
    return r.path;
  }

  async readFile(p: fs.PathLike | UnionFileHandle, opts?: { encoding?: null; flag?: OpenFlags } | null): Promise<Buffer>;
  async readFile(p: fs.PathLike | UnionFileHandle, opts: { encoding: BufferEncoding; flag?: OpenFlags } | BufferEncoding): Promise<string>;
  async readFile(p: fs.PathLike | UnionFileHandle, opts?: { encoding?: BufferEncoding | null; flag?: OpenFlags } | BufferEncoding | null): Promise<Buffer | string>;
  async readFile(p: fs.PathLike | UnionFileHandle, opts?: { encoding?: BufferEncoding | null; flag?: OpenFlags } | BufferEncoding | null): Promise<Buffer | string> {
    const o = typeof opts === 'string' ? { encoding: opts } : (opts ?? {});
    if (p instanceof UnionFileHandle) return p.readFile(o);
    const h = await this.open(p, o.flag ?? 'r');
    try {
      if ((await h.stat()).isDirectory()) throw fsError('EISDIR', 'read', pathString(p));
      return await h.readFile(o);
    } finally {
      await h.close();
    }
  }

  async statfs(p: fs.PathLike): Promise<fs.StatsFs> {
    this.live();
    await this.core.existing(p, 'statfs', true);
    const l = this.core.upper ?? this.core.layer(1);
    return l.statfs('');
  }

}
