// The memory driver: layers are changesets held in process memory (MemLayer, aufs whiteouts), for
// tests and programs embedding ufs. They live as long as the process; a store using it is ephemeral.
import type { Readable } from 'node:stream';
import type { ApplyResult, Change, CreateOpts, Driver, DriverCapabilities, GetOpts, StatusPair, View } from './driver.js';
import { registerDriver } from './registry.js';
import { ViewTable } from './view-table.js';
import { validateId } from './disk-base.js';
import { ChangesetLayer, changesOfChangeset, compareTrees, layerDataSize, readChangeset } from './naive-diff.js';
import { UnionLayer } from './union-layer.js';
import { layerToTar, tarToLayer } from './tar-bridge.js';
import { MemLayer } from '../layers/mem-layer.js';
import { aufsFormat } from '../layers/whiteout-aufs.js';
import { UnionFs } from '../union.js';
import { fsError, isErrno } from '../errors.js';

interface MemEntry {
  layer: MemLayer;
  parent: string | null;
  rw: boolean;
  applied: boolean;
  created: string;
}

/** Every memory driver's layers, by home: reopening a store in the same process finds them again. */
const homes = new Map<string, Map<string, MemEntry>>();

export class MemoryDriver implements Driver {
  readonly name = 'memory';
  private readonly layers: Map<string, MemEntry>;
  private readonly views = new ViewTable();

  constructor(readonly home: string) {
    let m = homes.get(home);
    if (!m) {
      m = new Map();
      homes.set(home, m);
    }
    this.layers = m;
  }

  /** Forgets every layer of the memory store at `home` (what a process exit does). */
  static forget(home: string): void {
    homes.delete(home);
  }

  capabilities(): DriverCapabilities {
    return { whiteout: 'aufs', nativeDiff: true, pathViews: false, kernelMount: false, persistent: false, reflink: false };
  }

  private entry(id: string): MemEntry {
    validateId(id);
    const e = this.layers.get(id);
    if (!e) throw fsError('ENOENT', 'layer', id, undefined, `layer ${id} does not exist in the memory driver`);
    return e;
  }

  private chain(id: string): MemEntry[] {
    const out: MemEntry[] = [];
    for (let cur: string | null = id; cur !== null; cur = this.entry(cur).parent) out.push(this.entry(cur));
    return out;
  }

  private async make(id: string, parent: string | null, rw: boolean, opts?: CreateOpts): Promise<void> {
    validateId(id);
    const keys = Object.keys(opts?.storageOpt ?? {});
    if (keys.length) throw fsError('EINVAL', 'create', id, undefined, `the memory driver takes no storage options (got ${keys.join(', ')})`);
    if (this.layers.has(id)) throw fsError('EEXIST', 'create', id, undefined, `layer ${id} already exists`);
    if (parent !== null && this.entry(parent).rw) throw fsError('EINVAL', 'create', id, undefined, `parent ${parent} is a read-write layer`);
    this.layers.set(id, { layer: new MemLayer(id), parent, rw, applied: false, created: new Date().toISOString() });
  }

  create(id: string, parent: string | null, opts?: CreateOpts): Promise<void> {
    return this.make(id, parent, false, opts);
  }
  createReadWrite(id: string, parent: string | null, opts?: CreateOpts): Promise<void> {
    return this.make(id, parent, true, opts);
  }

  async remove(id: string): Promise<void> {
    this.entry(id);
    if (this.views.count(id) > 0) throw fsError('EBUSY', 'remove', id, undefined, `layer ${id} is in use (${this.views.count(id)} views); release them first`);
    this.layers.delete(id);
  }

  private async union(id: string, opts: GetOpts = {}, forceRo = false): Promise<UnionFs> {
    const chain = this.chain(id).map((e) => e.layer);
    const top = this.entry(id);
    if (top.rw && !forceRo) {
      const lower = chain.slice(1);
      return UnionFs.open({ lowerdir: lower.length ? lower : [new MemLayer()], upperdir: chain[0]!, whiteout: 'aufs', ...(opts.volumes ? { volumes: opts.volumes } : {}) });
    }
    return UnionFs.open({ lowerdir: chain, whiteout: 'aufs' });
  }

  async get(id: string, opts: GetOpts = {}): Promise<View> {
    const e = this.entry(id);
    if (opts.volumes?.length && !e.rw) throw fsError('EINVAL', 'get', id, undefined, 'volumes need a read-write layer');
    return this.views.get(
      id,
      async () => ({ id, readonly: !e.rw, fs: await this.union(id, opts), path: null }),
      async (v) => v.fs?.close(),
    );
  }

  put(id: string): Promise<void> {
    return this.views.put(id);
  }

  async exists(id: string): Promise<boolean> {
    validateId(id);
    return this.layers.has(id);
  }

  async list(): Promise<string[]> {
    return [...this.layers.keys()].sort();
  }

  async leftovers(): Promise<string[]> {
    return [];
  }

  async removeLeftovers(): Promise<string[]> {
    return [];
  }

  async status(): Promise<StatusPair[]> {
    return [
      ['Backing Filesystem', 'process memory'],
      ['Layers', String(this.layers.size)],
    ];
  }

  async metadata(id: string): Promise<Record<string, string>> {
    const e = this.entry(id);
    return { Parent: e.parent ?? '', ReadWrite: String(e.rw), Created: e.created };
  }

  async parent(id: string): Promise<string | null> {
    return this.entry(id).parent;
  }

  /** The changeset of `id` against `parent` as a layer (the layer itself when `parent` is its own). */
  private async changesetLayer(id: string, parent: string | null): Promise<{ layer: ChangesetLayer | MemLayer; close: () => Promise<void> }> {
    const e = this.entry(id);
    if (parent === e.parent) return { layer: e.layer, close: async () => {} };
    const cu = await this.union(id, {}, true);
    const pu = parent === null ? null : await this.union(parent, {}, true);
    try {
      const child = new UnionLayer(cu, `view:${id}`);
      const d = await compareTrees(pu ? new UnionLayer(pu, `view:${parent}`) : null, child);
      return { layer: new ChangesetLayer(child, d.changeset), close: async () => cu.close() };
    } finally {
      await pu?.close();
    }
  }

  async diff(id: string, parent: string | null): Promise<Readable> {
    const { layer, close } = await this.changesetLayer(id, parent);
    const out = layerToTar(layer, aufsFormat);
    const done = (): void => void close();
    out.once('close', done);
    out.once('error', done);
    return out;
  }

  async changes(id: string, parent: string | null): Promise<Change[]> {
    const e = this.entry(id);
    if (parent !== e.parent) {
      const cu = await this.union(id, {}, true);
      const pu = parent === null ? null : await this.union(parent, {}, true);
      try {
        return (await compareTrees(pu ? new UnionLayer(pu, `view:${parent}`) : null, new UnionLayer(cu, `view:${id}`))).changes;
      } finally {
        await cu.close();
        await pu?.close();
      }
    }
    const cs = await readChangeset(e.layer, aufsFormat);
    const pu = parent === null ? null : await this.union(parent, {}, true);
    try {
      return await changesOfChangeset(
        cs,
        async (rel) => {
          if (!pu) return false;
          try {
            await pu.lstat(`/${rel}`);
            return true;
          } catch (err) {
            if (isErrno(err, 'ENOENT', 'ENOTDIR')) return false;
            throw err;
          }
        },
        async (rel) => (pu ? ((await pu.readdir(`/${rel}`).catch(() => [])) as string[]) : []),
      );
    } finally {
      await pu?.close();
    }
  }

  async applyDiff(id: string, parent: string | null, tar: Readable): Promise<ApplyResult> {
    const e = this.entry(id);
    if (parent !== e.parent) throw fsError('EINVAL', 'applyDiff', id, undefined, `layer ${id} was created on ${e.parent ?? 'no parent'}, not ${parent ?? 'no parent'}`);
    if (e.applied) throw fsError('EEXIST', 'applyDiff', id, undefined, `layer ${id} already has its diff applied`);
    if (this.views.count(id) > 0) throw fsError('EBUSY', 'applyDiff', id, undefined, `layer ${id} is in use`);
    const fresh = new MemLayer(id);
    const r = await tarToLayer(tar, fresh, aufsFormat);
    e.layer = fresh;
    e.applied = true;
    return { diffID: r.diffID, size: await this.diffSize(id, parent) };
  }

  async diffSize(id: string, parent: string | null): Promise<number> {
    const { layer, close } = await this.changesetLayer(id, parent);
    try {
      return await layerDataSize(layer, aufsFormat);
    } finally {
      await close();
    }
  }

  async cleanup(): Promise<void> {
    await this.views.closeAll();
  }
}

registerDriver({
  name: 'memory',
  description: 'layers in process memory (aufs whiteouts); gone when the process exits; for tests and embedding',
  priority: 90,
  persistent: false,
  async available() {
    return null;
  },
  async open(home) {
    return new MemoryDriver(home);
  },
});
