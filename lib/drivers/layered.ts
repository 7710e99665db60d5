// The drivers whose layers are changeset directories in a whiteout format (overlay, aufs): each
// layer holds only its changes; views stack the chain through the ufs engine; diffs are the directory itself.
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { ApplyResult, Change, DriverCapabilities, GetOpts, View } from './driver.js';
import { DiskDriver, type LayerMeta } from './disk-base.js';
import { ChangesetLayer, changesOfChangeset, compareTrees, layerDataSize, readChangeset } from './naive-diff.js';
import { UnionLayer } from './union-layer.js';
import { removeTree } from './tree-ops.js';
import { layerToTar, tarToLayer } from './tar-bridge.js';
import { DirLayer } from '../layers/dir-layer.js';
import type { WhiteoutFormat } from '../layers/whiteout.js';
import { aufsFormat } from '../layers/whiteout-aufs.js';
import { UnionFs } from '../union.js';
import { fsError, isErrno } from '../errors.js';

/**
 * An upper layer whose whiteout ability the driver established when it checked it could work here:
 * the union need not probe it (a probe creates a file in the layer's root and so changes its mtime).
 */
class ProbedDirLayer extends DirLayer {
  override async canMknodWhiteout(): Promise<boolean> {
    return true;
  }
}

export abstract class LayeredDriver extends DiskDriver {
  abstract readonly format: WhiteoutFormat;

  capabilities(): DriverCapabilities {
    return { whiteout: this.format.name, nativeDiff: true, pathViews: false, kernelMount: false, persistent: true, reflink: false };
  }

  diffDir(id: string): string {
    return path.join(this.layerDir(id), 'diff');
  }

  protected async populate(dir: string, _id: string, _parent: string | null, rw: boolean, _meta: LayerMeta): Promise<void> {
    await fsp.mkdir(path.join(dir, 'diff'), { mode: 0o755 });
    if (rw) await fsp.mkdir(path.join(dir, 'work'), { mode: 0o700 });
  }

  /** The union of the chain of `id` (topmost first) through the ufs engine. */
  protected async unionOf(id: string, meta: LayerMeta, opts: GetOpts): Promise<UnionFs> {
    const dirs = (await this.chain(id)).map((c) => this.diffDir(c));
    if (meta.rw) {
      const lower = dirs.slice(1);
      return UnionFs.open({
        lowerdir: lower.length ? lower : [this.emptyDir],
        upperdir: this.format.name === 'overlay' ? new ProbedDirLayer(dirs[0]!) : dirs[0]!,
        workdir: path.join(this.layerDir(id), 'work'),
        whiteout: this.format.name,
        ...(opts.volumes ? { volumes: opts.volumes } : {}),
      });
    }
    return UnionFs.open({ lowerdir: dirs, whiteout: this.format.name });
  }

  protected async openView(id: string, meta: LayerMeta, opts: GetOpts): Promise<View> {
    return { id, readonly: !meta.rw, fs: await this.unionOf(id, meta, opts), path: null };
  }

  protected async closeView(view: View): Promise<void> {
    await view.fs?.close();
  }

  /** Runs `fn` with a read-only union of `id`'s chain (null for no layer). */
  private async withUnion<T>(id: string | null, fn: (u: UnionFs | null) => Promise<T>): Promise<T> {
    if (id === null) return fn(null);
    const dirs = (await this.chain(id)).map((c) => this.diffDir(c));
    const u = await UnionFs.open({ lowerdir: dirs, whiteout: this.format.name });
    try {
      return await fn(u);
    } finally {
      await u.close();
    }
  }

  /** Runs `fn` on the generic tree walk of `id`'s view against `parent`'s (for a parent other than the recorded one). */
  private async naive<T>(id: string, parent: string | null, fn: (d: Awaited<ReturnType<typeof compareTrees>>, child: UnionLayer) => Promise<T>): Promise<T> {
    return this.withUnion(id, (cu) =>
      this.withUnion(parent, async (pu) => {
        const child = new UnionLayer(cu!, `view:${id}`);
        return fn(await compareTrees(pu ? new UnionLayer(pu, `view:${parent}`) : null, child), child);
      }),
    );
  }

  async diff(id: string, parent: string | null): Promise<Readable> {
    const meta = await this.readMeta(id);
    if (parent === meta.parent) return layerToTar(new DirLayer(this.diffDir(id)), this.format);
    // The tar must outlive this call: compute the changeset, then stream from a view kept open until the end.
    const cu = await UnionFs.open({ lowerdir: (await this.chain(id)).map((c) => this.diffDir(c)), whiteout: this.format.name });
    try {
      const child = new UnionLayer(cu, `view:${id}`);
      const d = await this.withUnion(parent, async (pu) => compareTrees(pu ? new UnionLayer(pu, `view:${parent}`) : null, child));
      const out = layerToTar(new ChangesetLayer(child, d.changeset), aufsFormat);
      const done = (): void => void cu.close();
      out.once('close', done);
      out.once('error', done);
      return out;
    } catch (e) {
      await cu.close();
      throw e;
    }
  }

  async changes(id: string, parent: string | null): Promise<Change[]> {
    const meta = await this.readMeta(id);
    if (parent !== meta.parent) return this.naive(id, parent, async (d) => d.changes);
    const cs = await readChangeset(new DirLayer(this.diffDir(id)), this.format);
    return this.withUnion(parent, (pu) =>
      changesOfChangeset(
        cs,
        async (rel) => {
          if (!pu) return false;
          try {
            await pu.lstat(`/${rel}`);
            return true;
          } catch (e) {
            if (isErrno(e, 'ENOENT', 'ENOTDIR')) return false;
            throw e;
          }
        },
        async (rel) => (pu ? ((await pu.readdir(`/${rel}`).catch(() => [])) as string[]) : []),
      ),
    );
  }

  async applyDiff(id: string, parent: string | null, tar: Readable): Promise<ApplyResult> {
    const meta = await this.readMeta(id);
    if (this.views.count(id) > 0) throw fsError('EBUSY', 'applyDiff', id, undefined, `layer ${id} is in use`);
    if (parent !== meta.parent) throw fsError('EINVAL', 'applyDiff', id, undefined, `layer ${id} was created on ${meta.parent ?? 'no parent'}, not ${parent ?? 'no parent'}`);
    if (meta.applied) throw fsError('EEXIST', 'applyDiff', id, undefined, `layer ${id} already has its diff applied`);
    // Applied into a fresh directory and swapped in only on success.
    const staged = await this.scratch(`apply-${id}`);
    const into = path.join(staged, 'diff');
    await fsp.mkdir(into, { mode: 0o755 });
    try {
      const r = await tarToLayer(tar, new DirLayer(into), this.format);
      const old = path.join(staged, 'old');
      await fsp.rename(this.diffDir(id), old);
      await fsp.rename(into, this.diffDir(id));
      await this.writeMeta(id, { ...meta, applied: true });
      return { diffID: r.diffID, size: await this.diffSize(id, parent) };
    } finally {
      await removeTree(staged);
    }
  }

  async diffSize(id: string, parent: string | null): Promise<number> {
    const meta = await this.readMeta(id);
    if (parent !== meta.parent) {
      return this.naive(id, parent, async (d, child) => layerDataSize(new ChangesetLayer(child, d.changeset), aufsFormat));
    }
    return layerDataSize(new DirLayer(this.diffDir(id)), this.format);
  }
}
