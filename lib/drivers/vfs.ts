// The vfs driver: every layer a full copy of its parent plus its changes (reflinked where the
// filesystem can), views are plain directories, diffs come from comparing trees (naive-diff).
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { ApplyResult, Change, DriverCapabilities, GetOpts, StatusPair, View } from './driver.js';
import { DiskDriver, type LayerMeta } from './disk-base.js';
import { registerDriver } from './registry.js';
import { ChangesetLayer, changesOfChangeset, changesetFromJSON, changesetToJSON, compareTrees, layerDataSize, readChangeset, type ChangesetSpec } from './naive-diff.js';
import { canReflink, copyTree, mergeStagedIntoTree, removeTree } from './tree-ops.js';
import { layerToTar, tarToLayer } from './tar-bridge.js';
import { DirLayer } from '../layers/dir-layer.js';
import { aufsFormat } from '../layers/whiteout-aufs.js';
import { UnionFs } from '../union.js';
import { fsError, isErrno } from '../errors.js';
import { nearestExisting } from './registry.js';
import { shortPath } from '../long-path.js';

type ChangesetJSON = ReturnType<typeof changesetToJSON>;

export class VfsDriver extends DiskDriver {
  readonly name = 'vfs';
  private reflink = false;

  override async init(): Promise<this> {
    await super.init();
    this.reflink = await canReflink(path.join(this.home, 'tmp'));
    return this;
  }

  capabilities(): DriverCapabilities {
    return { whiteout: 'none', nativeDiff: false, pathViews: true, kernelMount: false, persistent: true, reflink: this.reflink, createCopiesParent: true };
  }

  treeDir(id: string): string {
    return path.join(this.layerDir(id), 'tree');
  }

  protected async populate(dir: string, _id: string, parent: string | null, rw: boolean, meta: LayerMeta): Promise<void> {
    const tree = path.join(dir, 'tree');
    if (parent === null) await fsp.mkdir(tree, { mode: 0o755 });
    else await copyTree(this.treeDir(parent), tree);
    if (rw) await fsp.mkdir(path.join(dir, 'work'), { mode: 0o700 });
    else meta.changeset = changesetToJSON(new Map([['', { names: new Set(), whiteouts: new Set(), opaque: false }]]));
  }

  protected async openView(id: string, meta: LayerMeta, opts: GetOpts): Promise<View> {
    const tree = this.treeDir(id);
    // A read-write layer's recorded changeset (from applyDiff) stops being true once it is written.
    if (meta.rw && meta.changeset) {
      const { changeset: _gone, ...rest } = meta;
      await this.writeMeta(id, rest as LayerMeta);
    }
    const fs = meta.rw
      ? await UnionFs.open({ lowerdir: [this.emptyDir], upperdir: tree, workdir: path.join(this.layerDir(id), 'work'), whiteout: 'aufs', ...(opts.volumes ? { volumes: opts.volumes } : {}) })
      : await UnionFs.open({ lowerdir: [tree], whiteout: 'aufs' });
    return { id, readonly: !meta.rw, fs, path: tree };
  }

  protected async closeView(view: View): Promise<void> {
    await view.fs?.close();
  }

  /** The changeset of `id` against `parent`: recorded when the layer came from a tar, computed otherwise. */
  private async changeset(id: string, parent: string | null): Promise<{ cs: ChangesetSpec; recorded: boolean }> {
    const meta = await this.readMeta(id);
    if (meta.changeset && parent === meta.parent) return { cs: changesetFromJSON(meta.changeset as ChangesetJSON), recorded: true };
    const base = parent === null ? null : new DirLayer(this.treeDir(parent));
    return { cs: (await compareTrees(base, new DirLayer(this.treeDir(id)))).changeset, recorded: false };
  }

  async diff(id: string, parent: string | null): Promise<Readable> {
    const { cs } = await this.changeset(id, parent);
    return layerToTar(new ChangesetLayer(new DirLayer(this.treeDir(id)), cs), aufsFormat);
  }

  async changes(id: string, parent: string | null): Promise<Change[]> {
    const meta = await this.readMeta(id);
    if (!meta.changeset || parent !== meta.parent) {
      const base = parent === null ? null : new DirLayer(this.treeDir(parent));
      return (await compareTrees(base, new DirLayer(this.treeDir(id)))).changes;
    }
    const cs = changesetFromJSON(meta.changeset as ChangesetJSON);
    const ptree = parent === null ? null : this.treeDir(parent);
    return changesOfChangeset(
      cs,
      async (rel) => {
        if (!ptree) return false;
        try {
          await fsp.lstat(shortPath(path.join(ptree, rel)));
          return true;
        } catch (e) {
          if (isErrno(e, 'ENOENT', 'ENOTDIR')) return false;
          throw e;
        }
      },
      async (rel) => (ptree ? fsp.readdir(shortPath(path.join(ptree, rel))).catch(() => [] as string[]) : []),
    );
  }

  async applyDiff(id: string, parent: string | null, tar: Readable): Promise<ApplyResult> {
    const meta = await this.readMeta(id);
    if (this.views.count(id) > 0) throw fsError('EBUSY', 'applyDiff', id, undefined, `layer ${id} is in use`);
    if (parent !== meta.parent) throw fsError('EINVAL', 'applyDiff', id, undefined, `layer ${id} was created on ${meta.parent ?? 'no parent'}, not ${parent ?? 'no parent'}`);
    if (meta.applied) throw fsError('EEXIST', 'applyDiff', id, undefined, `layer ${id} already has its diff applied`);
    const staged = await this.scratch(`apply-${id}`);
    try {
      const r = await tarToLayer(tar, new DirLayer(staged), aufsFormat);
      const cs = await readChangeset(new DirLayer(staged), aufsFormat);
      await mergeStagedIntoTree(staged, this.treeDir(id));
      await this.writeMeta(id, { ...meta, changeset: changesetToJSON(cs), applied: true });
      return { diffID: r.diffID, size: await this.diffSize(id, parent) };
    } finally {
      await removeTree(staged);
    }
  }

  async diffSize(id: string, parent: string | null): Promise<number> {
    const { cs } = await this.changeset(id, parent);
    return layerDataSize(new ChangesetLayer(new DirLayer(this.treeDir(id)), cs), aufsFormat);
  }

  override async status(): Promise<StatusPair[]> {
    return [...(await super.status()), ['Reflink', String(this.reflink)]];
  }
}

registerDriver({
  name: 'vfs',
  description: 'full copy per layer (reflinked where possible); views are plain directories; works anywhere',
  priority: 30,
  persistent: true,
  async available(home) {
    const at = await nearestExisting(home);
    try {
      await fsp.access(at, fsp.constants.W_OK);
    } catch {
      return `cannot write to ${at}`;
    }
    return null;
  },
  async open(home) {
    return new VfsDriver(home).init();
  },
});
