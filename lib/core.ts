// The union's state and lookup: the layers, the merged-directory cache (a tree of DirNodes whose
// merged listings are built from the layers once and then kept up to date by the union's own
// changes), path resolution across the stack with symlinks, and stats with stable inode numbers.
import fs from 'node:fs';
import { LRUCache } from 'lru-cache';
import type { Layer } from './layers/layer.js';
import type { DirLayer } from './layers/dir-layer.js';
import type { LayerDirInfo, WhiteoutFormat } from './layers/whiteout.js';
import { getOverlayXattr } from './layers/whiteout-overlay.js';
import { fsError, isErrno, relabel } from './errors.js';
import { childRel, joinComponents, PATH_MAX, pathString, splitPath } from './path.js';
import { KeyedMutex, RwLock } from './locks.js';
import { InoMapper, cloneStats, unionStats } from './stats.js';

const { S_IFDIR, S_IFLNK, S_IFREG } = fs.constants;
const MAX_SYMLINKS = 40;

/** Layer index 0 is the upper layer (when there is one); lower layers follow, topmost first. */
export const UPPER = 0;

/** One visible name in a merged directory: the layer holding its topmost instance. */
export interface Entry {
  layer: number;
  type: number;
  /** The layer-relative path of that instance. */
  rel: string;
}

/** A layer directory that contributes to a merged directory. */
export interface Source {
  layer: number;
  rel: string;
}

export interface MergedData {
  /** Contributing layer directories, topmost first (the upper one first when it exists). */
  sources: Source[];
  /** The merged listing: every visible name. */
  entries: Map<string, Entry>;
  /** The merged listing of the lower sources alone: a name here needs a whiteout when deleted. */
  lower: Map<string, Entry>;
  /** Whether the upper layer holds this directory. */
  upperDir: boolean;
  /** Names the upper layer's directory whites out. */
  upperWhiteouts: Set<string>;
}

/** A directory of the union in the cache tree. */
export class DirNode {
  readonly children = new Map<string, DirNode>();
  data: MergedData | null = null;
  /** Bumped by every change to this directory, so a listing built meanwhile is not kept. */
  version = 0;
  constructor(
    readonly name: string,
    readonly parent: DirNode | null,
  ) {}

  get rel(): string {
    const parts: string[] = [];
    for (let n: DirNode | null = this; n && n.parent; n = n.parent) parts.push(n.name);
    return parts.reverse().join('/');
  }
}

/** The outcome of resolving a path: the directory holding the last name, and its entry if any. */
export interface Resolved {
  /** Canonical union path of the result ('/a/b'). */
  path: string;
  /** Canonical components. */
  parts: string[];
  /** The directory holding the name (null for the root). */
  dir: DirNode | null;
  data: MergedData | null;
  name: string;
  entry: Entry | undefined;
  /** The path ended in '/' (or '/.'): it names a directory, so a file there is ENOTDIR. */
  trailingSlash?: boolean;
}

export interface CoreOptions {
  layers: (Layer | null)[];
  format: WhiteoutFormat;
  workdir: string | null;
  readonly: boolean;
  cacheEntries?: number;
  metacopy?: boolean;
}

export class UnionCore {
  /** layers[0] is the upper layer or null; lower layers follow, topmost first. */
  readonly layers: (Layer | null)[];
  readonly format: WhiteoutFormat;
  readonly workdir: string | null;
  /** The work directory as a layer: temp files are made there and renamed into the upper layer. */
  work: DirLayer | null = null;
  readonly readonly: boolean;
  /** Metadata-only copy-up (overlay format, like the kernel's metacopy=on). */
  readonly metacopy: boolean;
  readonly root = new DirNode('', null);
  readonly mutex = new KeyedMutex();
  /** Directory renames take this exclusively; every other change takes it shared. */
  readonly treeLock = new RwLock();
  ino!: InoMapper;
  dev = 0;
  /** Union paths of this many bytes or more give ENAMETOOLONG (Infinity behind FUSE: the kernel checked). */
  pathMax = PATH_MAX;
  private readonly layerInfo: LRUCache<string, LayerDirInfo>;
  private readonly lowerStats: LRUCache<string, fs.Stats>;
  private readonly lowerLinks: LRUCache<string, string>;
  private readonly dataLru: LRUCache<DirNode, true>;
  /** Told when an inode moved to the upper layer, so open handles can re-point themselves. */
  readonly copyUpListeners: Array<(unionIno: number, upperRel: string) => Promise<void>> = [];
  /** Told, as it happens, of each object made in the upper layer by a copy-up (its rel path). */
  readonly copiedUpWatchers: Array<(rel: string) => void> = [];
  /** Per lower layer: paths of its multiply-linked files by inode (see copy-up.ts). */
  readonly lowerLinkMaps = new Map<number, Map<number, string[]>>();
  /** Upper inode number → union inode number (the origin's), for copied-up files. */
  readonly originIno = new Map<number, number>();

  constructor(opts: CoreOptions) {
    this.layers = opts.layers;
    this.format = opts.format;
    this.workdir = opts.workdir;
    this.readonly = opts.readonly;
    this.metacopy = opts.metacopy === true && opts.format.name === 'overlay';
    const max = opts.cacheEntries ?? 1_000_000;
    this.layerInfo = new LRUCache({ maxSize: max, sizeCalculation: (v) => v.entries.size + v.whiteouts.size + 1 });
    this.lowerStats = new LRUCache({ max: Math.max(1000, max >> 2) });
    this.lowerLinks = new LRUCache({ max: 10_000 });
    this.dataLru = new LRUCache({
      maxSize: max,
      sizeCalculation: (_v, k) => (k.data ? k.data.entries.size + 1 : 1),
      dispose: (_v, node) => {
        node.data = null;
      },
    });
  }

  get upper(): Layer | null {
    return this.layers[UPPER] ?? null;
  }

  layer(i: number): Layer {
    const l = this.layers[i];
    if (!l) throw fsError('EIO', 'lookup', undefined, undefined, `no layer ${i}`);
    return l;
  }

  /** Sets st_dev and the inode mapping from the layers' filesystems. */
  async init(): Promise<void> {
    const devs: number[] = [];
    for (const l of this.layers) {
      if (!l) continue;
      devs.push((await l.lstat('')).dev);
    }
    const unique = [...new Set(devs)];
    this.ino = new InoMapper(unique.length <= 1);
    for (const d of unique) this.ino.map(d, 0);
    this.dev = devs[0] ?? 0;
  }

  // ---- layer reads (lower ones cached: lower layers never change) ----

  async readLayerDir(layer: number, rel: string): Promise<LayerDirInfo> {
    if (layer === UPPER) return this.format.readDir(this.layer(layer), rel);
    const key = `${layer}\0${rel}`;
    const hit = this.layerInfo.get(key);
    if (hit) return hit;
    const info = await this.format.readDir(this.layer(layer), rel);
    this.layerInfo.set(key, info);
    return info;
  }

  async layerLstat(layer: number, rel: string): Promise<fs.Stats> {
    if (layer === UPPER) return this.layer(layer).lstat(rel);
    const key = `${layer}\0${rel}`;
    const hit = this.lowerStats.get(key);
    if (hit) return hit;
    const st = await this.layer(layer).lstat(rel);
    this.lowerStats.set(key, st);
    return st;
  }

  async layerReadlink(layer: number, rel: string): Promise<string> {
    if (layer === UPPER) return this.layer(layer).readlink(rel);
    const key = `${layer}\0${rel}`;
    const hit = this.lowerLinks.get(key);
    if (hit !== undefined) return hit;
    const t = await this.layer(layer).readlink(rel);
    this.lowerLinks.set(key, t);
    return t;
  }

  private readonly lowerXattrNames = new LRUCache<string, string[]>({ max: 100_000 });

  /** The xattr names of an instance (a fresh array; lower layers' kept, as they never change). */
  async layerXattrNames(layer: number, rel: string): Promise<string[]> {
    if (layer === UPPER) return this.layer(layer).listxattr(rel);
    const key = `${layer}\0${rel}`;
    const hit = this.lowerXattrNames.get(key);
    if (hit) return [...hit];
    const names = await this.layer(layer).listxattr(rel);
    this.lowerXattrNames.set(key, names);
    return [...names];
  }

  // ---- merged directories ----

  /** The merged listing of a directory node, built from the layers when not cached. */
  async dataOf(node: DirNode): Promise<MergedData> {
    if (node.data) {
      this.dataLru.get(node);
      return node.data;
    }
    for (;;) {
      const version = node.version;
      const data = await this.build(node);
      if (node.version === version) {
        node.data = data;
        this.dataLru.set(node, true);
        return data;
      }
      // Changed while we read the layers: read again.
    }
  }

  private async sourcesOf(node: DirNode): Promise<Source[]> {
    if (!node.parent) {
      const out: Source[] = [];
      for (let i = 0; i < this.layers.length; i++) {
        if (!this.layers[i]) continue;
        out.push({ layer: i, rel: '' });
        if ((await this.readLayerDir(i, '')).opaque) break;
      }
      return out;
    }
    const pdata = await this.dataOf(node.parent);
    const out: Source[] = [];
    for (const s of pdata.sources) {
      const info = await this.readLayerDir(s.layer, s.rel);
      const type = info.entries.get(node.name);
      if (type !== undefined) {
        if (type !== S_IFDIR) break;
        const rel = childRel(s.rel, node.name);
        out.push({ layer: s.layer, rel });
        const own = await this.readLayerDir(s.layer, rel);
        if (own.opaque) break;
      }
      if (info.whiteouts.has(node.name)) break;
    }
    return out;
  }

  private async build(node: DirNode): Promise<MergedData> {
    const sources = await this.sourcesOf(node);
    if (sources.length === 0) throw fsError('ENOENT', 'scandir', joinComponents(node.rel.split('/').filter(Boolean)));
    const entries = new Map<string, Entry>();
    const lower = new Map<string, Entry>();
    const hidden = new Set<string>();
    const lowerHidden = new Set<string>();
    let upperWhiteouts = new Set<string>();
    for (const s of sources) {
      const info = await this.readLayerDir(s.layer, s.rel);
      if (s.layer === UPPER) upperWhiteouts = new Set(info.whiteouts);
      for (const [name, type] of info.entries) {
        const e: Entry = { layer: s.layer, type, rel: childRel(s.rel, name) };
        if (!entries.has(name) && !hidden.has(name)) entries.set(name, e);
        if (s.layer !== UPPER && !lower.has(name) && !lowerHidden.has(name)) lower.set(name, e);
      }
      for (const w of info.whiteouts) {
        hidden.add(w);
        if (s.layer !== UPPER) lowerHidden.add(w);
      }
    }
    return { sources, entries, lower, upperDir: sources[0]?.layer === UPPER && this.upper !== null, upperWhiteouts };
  }

  child(node: DirNode, name: string): DirNode {
    let c = node.children.get(name);
    if (!c) {
      c = new DirNode(name, node);
      node.children.set(name, c);
    }
    return c;
  }

  nodeAt(parts: readonly string[]): DirNode {
    let n = this.root;
    for (const p of parts) n = this.child(n, p);
    return n;
  }

  /** Forgets a directory and everything cached below it (after it was removed or renamed). */
  forget(node: DirNode, name: string): void {
    const c = node.children.get(name);
    if (!c) return;
    node.children.delete(name);
    const stack = [c];
    while (stack.length) {
      const n = stack.pop()!;
      n.version++;
      if (n.data) this.dataLru.delete(n);
      n.data = null;
      for (const k of n.children.values()) stack.push(k);
    }
  }

  /** Records in the cache that `name` in `node` now lives in the upper layer with `type`. */
  noteUpper(node: DirNode, name: string, type: number): void {
    node.version++;
    const d = node.data;
    if (!d) return;
    d.entries.set(name, { layer: UPPER, type, rel: childRel(node.rel, name) });
    if (type !== S_IFDIR) this.forget(node, name);
  }

  /** Records in the cache that `name` in `node` is gone from the merged view. */
  noteRemoved(node: DirNode, name: string): void {
    node.version++;
    if (node.data) node.data.entries.delete(name);
    this.forget(node, name);
  }

  /** Records that the directory `node` now exists in the upper layer (after a copy-up or mkdir). */
  noteUpperDir(node: DirNode, opaque: boolean): void {
    node.version++;
    const d = node.data;
    if (!d) return;
    if (!d.upperDir) {
      d.sources.unshift({ layer: UPPER, rel: node.rel });
      d.upperDir = true;
    }
    if (opaque) {
      d.sources = [{ layer: UPPER, rel: node.rel }];
      d.lower.clear();
    }
  }

  // ---- resolution ----

  /**
   * Resolves a union path. Intermediate symlinks are always followed; the last component only
   * when `follow`. The last name need not exist (`entry` is then undefined); every directory on
   * the way must.
   */
  async resolve(p: unknown, syscall: string, follow: boolean): Promise<Resolved> {
    const original = pathString(p);
    const trailing = original.length > 1 && (original.endsWith('/') || original.endsWith('/.'));
    const r = await this.resolveInner(original, syscall, follow || trailing);
    if (trailing) {
      if (r.entry && r.entry.type !== S_IFDIR) throw fsError('ENOTDIR', syscall, original);
      r.trailingSlash = true;
    }
    return r;
  }

  private async resolveInner(original: string, syscall: string, follow: boolean): Promise<Resolved> {
    let todo = splitPath(original, syscall, this.pathMax);
    const stack: string[] = [];
    let links = 0;
    let node = this.root;
    // Directory nodes along `stack`, so that '..' can step back.
    const nodes: DirNode[] = [this.root];
    for (let i = 0; i < todo.length; i++) {
      const name = todo[i]!;
      const last = i === todo.length - 1;
      if (name === '..') {
        if (stack.length > 0) {
          stack.pop();
          nodes.pop();
          node = nodes[nodes.length - 1]!;
        }
        if (last) return this.resolvedDir(stack, nodes, syscall, original);
        continue;
      }
      let data: MergedData;
      try {
        data = await this.dataOf(node);
      } catch (e) {
        throw relabel(e, syscall, original);
      }
      const entry = data.entries.get(name);
      if (entry && entry.type === S_IFLNK && (!last || follow)) {
        if (++links > MAX_SYMLINKS) throw fsError('ELOOP', syscall, original);
        const target = await this.layerReadlink(entry.layer, entry.rel);
        const tparts = splitPath(target, syscall);
        if (target.startsWith('/')) {
          stack.length = 0;
          nodes.length = 1;
          node = this.root;
        }
        todo = [...tparts, ...todo.slice(i + 1)];
        i = -1;
        if (todo.length === 0) return this.resolvedDir(stack, nodes, syscall, original);
        continue;
      }
      if (last) {
        const parts = [...stack, name];
        return { path: joinComponents(parts), parts, dir: node, data, name, entry };
      }
      if (!entry) throw fsError('ENOENT', syscall, original);
      if (entry.type !== S_IFDIR) throw fsError('ENOTDIR', syscall, original);
      stack.push(name);
      node = this.child(node, name);
      nodes.push(node);
    }
    return this.resolvedDir(stack, nodes, syscall, original);
  }

  /** A Resolved for a directory reached as the end of a path ('/', 'a/..', a symlink to a dir). */
  private async resolvedDir(stack: string[], nodes: DirNode[], syscall: string, original: string): Promise<Resolved> {
    if (stack.length === 0) {
      const data = await this.dataOf(this.root);
      const top = data.sources[0]!;
      return { path: '/', parts: [], dir: null, data: null, name: '', entry: { layer: top.layer, type: S_IFDIR, rel: '' } };
    }
    const parent = nodes[nodes.length - 2]!;
    const name = stack[stack.length - 1]!;
    const data = await this.dataOf(parent);
    const entry = data.entries.get(name);
    if (!entry) throw fsError('ENOENT', syscall, original);
    return { path: joinComponents(stack), parts: [...stack], dir: parent, data, name, entry };
  }

  /** Resolves and requires the result to exist. */
  async existing(p: unknown, syscall: string, follow: boolean): Promise<Resolved & { entry: Entry }> {
    const r = await this.resolve(p, syscall, follow);
    if (!r.entry) throw fsError('ENOENT', syscall, pathString(p));
    return r as Resolved & { entry: Entry };
  }

  /** The DirNode of a resolved directory. */
  dirNodeOf(r: Resolved): DirNode {
    return r.dir ? this.child(r.dir, r.name) : this.root;
  }

  // ---- stats ----

  /** The union inode number of an instance: its origin's for copied-up files. */
  async unionIno(layer: number, rel: string, st: fs.Stats): Promise<number> {
    if (layer !== UPPER) return this.ino.map(st.dev, st.ino);
    const known = this.originIno.get(st.ino);
    if (known !== undefined) return known;
    let ino = this.ino.map(st.dev, st.ino);
    if (this.format.usesXattrs || (await this.layer(UPPER).supportsXattrs())) {
      try {
        const v = await this.layer(UPPER).getxattr(rel, ORIGIN_XATTR);
        if (v) ino = Number(v.toString());
      } catch {
        // no origin recorded: the upper inode is its own origin
      }
    }
    this.originIno.set(st.ino, ino);
    return ino;
  }

  private readonly lowerUnionStats = new LRUCache<string, fs.Stats>({ max: 100_000 });

  /** Union stats of an entry (a fresh object each call). */
  async statEntry(e: Entry): Promise<fs.Stats> {
    if (e.layer !== UPPER) {
      const key = `${e.layer}\0${e.rel}`;
      const hit = this.lowerUnionStats.get(key);
      if (hit) return cloneStats(hit);
      const st = await this.layerLstat(e.layer, e.rel);
      const us = unionStats(st, await this.unionIno(e.layer, e.rel, st), this.dev);
      this.lowerUnionStats.set(key, us);
      return cloneStats(us);
    }
    const st = await this.layer(UPPER).lstat(e.rel);
    return unionStats(st, await this.unionIno(UPPER, e.rel, st), this.dev);
  }

  async statResolved(r: Resolved, syscall: string, p: unknown): Promise<fs.Stats> {
    if (!r.entry) throw fsError('ENOENT', syscall, pathString(p));
    try {
      return await this.statEntry(r.entry);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) {
        // The layer changed behind our back (only the upper can): forget what we knew.
        if (r.dir) this.noteRemoved(r.dir, r.name);
      }
      throw relabel(e, syscall, pathString(p));
    }
  }

  /** Whether an upper regular file holds metadata only, its data still in a lower layer. */
  async isMetacopy(rel: string): Promise<boolean> {
    if (!this.metacopy) return false;
    return (await getOverlayXattr(this.layer(UPPER), rel, 'metacopy')) !== null;
  }

  /** Throws EROFS when the union has no upper layer. */
  writable(syscall: string, p: unknown): Layer {
    if (this.readonly || !this.upper) throw fsError('EROFS', syscall, typeof p === 'string' ? p : undefined);
    return this.upper;
  }
}

/** ufs's record of a copied-up inode's origin (its union inode number), in the upper layer. */
export const ORIGIN_XATTR = 'user.ufs.origin';
export { S_IFDIR, S_IFLNK, S_IFREG };
