// What the on-disk drivers share: one directory per layer under <home>/layers/<id> holding its
// meta.json (written last), created in <home>/tmp and renamed into place so a crash leaves debris only there.
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { ApplyResult, Change, CreateOpts, Driver, DriverCapabilities, GetOpts, StatusPair, View } from './driver.js';
import { ViewTable } from './view-table.js';
import { backingFs, randomId, removeTree } from './tree-ops.js';
import { readJson, writeJsonAtomic, fsyncDir } from '../store/atomic.js';
import { fsError, isErrno } from '../errors.js';

/** What a driver records about one layer. */
export interface LayerMeta {
  id: string;
  parent: string | null;
  rw: boolean;
  created: string;
  /** Driver-specific facts (the overlay short link, the vfs changeset...). */
  [key: string]: unknown;
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export function validateId(id: string): void {
  if (typeof id !== 'string' || !ID_RE.test(id)) {
    throw fsError('EINVAL', 'create', String(id), undefined, `invalid layer id '${String(id)}' (letters, digits, '_', '.', '-'; at most 128)`);
  }
}

export abstract class DiskDriver implements Driver {
  abstract readonly name: string;
  readonly home: string;
  protected readonly views = new ViewTable();
  private readonly metaCache = new Map<string, LayerMeta>();

  constructor(home: string) {
    this.home = path.resolve(home);
  }

  /** Creates the driver's directories. */
  async init(): Promise<this> {
    for (const d of ['layers', 'tmp', 'empty']) await fsp.mkdir(path.join(this.home, d), { recursive: true, mode: 0o700 });
    await fsp.chmod(path.join(this.home, 'empty'), 0o755);
    return this;
  }

  abstract capabilities(): DriverCapabilities;
  /** Fills a new layer's directory (built in tmp, renamed into place afterwards). */
  protected abstract populate(dir: string, id: string, parent: string | null, rw: boolean, meta: LayerMeta): Promise<void>;
  protected abstract openView(id: string, meta: LayerMeta, opts: GetOpts): Promise<View>;
  protected abstract closeView(view: View): Promise<void>;
  abstract diff(id: string, parent: string | null): Promise<Readable>;
  abstract changes(id: string, parent: string | null): Promise<Change[]>;
  abstract applyDiff(id: string, parent: string | null, tar: Readable): Promise<ApplyResult>;
  abstract diffSize(id: string, parent: string | null): Promise<number>;

  layerDir(id: string): string {
    return path.join(this.home, 'layers', id);
  }

  protected get emptyDir(): string {
    return path.join(this.home, 'empty');
  }

  /** A fresh directory in tmp (the place for work that a crash may interrupt). */
  protected async scratch(what: string): Promise<string> {
    const d = path.join(this.home, 'tmp', `${what}-${randomId(6)}`);
    await fsp.mkdir(d, { mode: 0o700 });
    return d;
  }

  async readMeta(id: string): Promise<LayerMeta> {
    validateId(id);
    const hit = this.metaCache.get(id);
    if (hit) return hit;
    const m = await readJson<LayerMeta>(path.join(this.layerDir(id), 'meta.json'));
    if (!m) throw fsError('ENOENT', 'layer', id, undefined, `layer ${id} does not exist in the ${this.name} driver`);
    this.metaCache.set(id, m);
    return m;
  }

  protected async writeMeta(id: string, meta: LayerMeta): Promise<void> {
    this.metaCache.delete(id);
    await writeJsonAtomic(path.join(this.layerDir(id), 'meta.json'), meta);
  }

  /** The layer and its ancestors, topmost first. */
  async chain(id: string): Promise<string[]> {
    const out: string[] = [];
    for (let cur: string | null = id; cur !== null; cur = (await this.readMeta(cur)).parent) {
      if (out.length > 4096) throw fsError('ELOOP', 'layer', id, undefined, `layer ${id} has a parent loop`);
      out.push(cur);
    }
    return out;
  }

  create(id: string, parent: string | null, opts?: CreateOpts): Promise<void> {
    return this.make(id, parent, false, opts);
  }

  createReadWrite(id: string, parent: string | null, opts?: CreateOpts): Promise<void> {
    return this.make(id, parent, true, opts);
  }

  private async make(id: string, parent: string | null, rw: boolean, opts?: CreateOpts): Promise<void> {
    validateId(id);
    const keys = Object.keys(opts?.storageOpt ?? {});
    if (keys.length) throw fsError('EINVAL', 'create', id, undefined, `the ${this.name} driver takes no storage options (got ${keys.join(', ')})`);
    if (await this.exists(id)) throw fsError('EEXIST', 'create', id, undefined, `layer ${id} already exists`);
    if (parent !== null) {
      await this.readMeta(parent);
      // A read-write layer is a leaf: nothing may stand on it.
      if ((await this.readMeta(parent)).rw) throw fsError('EINVAL', 'create', id, undefined, `parent ${parent} is a read-write layer`);
    }
    const tmp = await this.scratch(`create-${id}`);
    const meta: LayerMeta = { id, parent, rw, created: new Date().toISOString() };
    try {
      await this.populate(tmp, id, parent, rw, meta);
      await writeJsonAtomic(path.join(tmp, 'meta.json'), meta);
      await fsp.rename(tmp, this.layerDir(id));
      await fsyncDir(path.dirname(this.layerDir(id)));
    } catch (e) {
      await removeTree(tmp);
      throw e;
    }
  }

  /** Called before a layer's directory goes (e.g. to unmount a stale kernel mount). */
  protected async beforeRemove(_id: string): Promise<void> {}

  async remove(id: string): Promise<void> {
    validateId(id);
    if (this.views.count(id) > 0) throw fsError('EBUSY', 'remove', id, undefined, `layer ${id} is in use (${this.views.count(id)} views); release them first`);
    if (!(await this.exists(id)) && !(await this.present(id))) throw fsError('ENOENT', 'remove', id, undefined, `layer ${id} does not exist`);
    await this.beforeRemove(id);
    // Renamed away first, so the layer disappears at once; a crash mid-delete leaves debris in tmp.
    const gone = path.join(this.home, 'tmp', `remove-${id}-${randomId(6)}`);
    await fsp.rename(this.layerDir(id), gone);
    this.metaCache.delete(id);
    await removeTree(gone);
  }

  async exists(id: string): Promise<boolean> {
    validateId(id);
    try {
      await fsp.access(path.join(this.layerDir(id), 'meta.json'));
      return true;
    } catch {
      return false;
    }
  }

  /** Whether the layer's directory exists at all (even without meta.json). */
  private async present(id: string): Promise<boolean> {
    try {
      await fsp.access(this.layerDir(id));
      return true;
    } catch {
      return false;
    }
  }

  async list(): Promise<string[]> {
    try {
      return (await fsp.readdir(path.join(this.home, 'layers'))).filter((n) => ID_RE.test(n)).sort();
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return [];
      throw e;
    }
  }

  async leftovers(): Promise<string[]> {
    try {
      return (await fsp.readdir(path.join(this.home, 'tmp'))).map((n) => path.join(this.home, 'tmp', n)).sort();
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return [];
      throw e;
    }
  }

  async removeLeftovers(): Promise<string[]> {
    const all = await this.leftovers();
    for (const p of all) await removeTree(p);
    return all;
  }

  async get(id: string, opts: GetOpts = {}): Promise<View> {
    const meta = await this.readMeta(id);
    if (opts.volumes?.length && !meta.rw) throw fsError('EINVAL', 'get', id, undefined, 'volumes need a read-write layer');
    return this.views.get(id, () => this.openView(id, meta, opts), (v) => this.closeView(v));
  }

  put(id: string): Promise<void> {
    return this.views.put(id);
  }

  async status(): Promise<StatusPair[]> {
    const layers = await this.list();
    return [
      ['Backing Filesystem', await backingFs(this.home)],
      ['Layers', String(layers.length)],
    ];
  }

  async metadata(id: string): Promise<Record<string, string>> {
    const m = await this.readMeta(id);
    return {
      Dir: this.layerDir(id),
      Parent: m.parent ?? '',
      ReadWrite: String(m.rw),
      Created: m.created,
    };
  }

  async parent(id: string): Promise<string | null> {
    return (await this.readMeta(id)).parent;
  }

  async cleanup(): Promise<void> {
    await this.views.closeAll();
  }
}
