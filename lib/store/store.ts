// The store: one root directory of layers (content-addressed by chainID), images (config digest
// IDs, repository:tag names) and containers, kept by one storage driver, shared safely between processes.
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import '../drivers/index.js';
import type { Change, Driver, DriverOptions, View } from '../drivers/driver.js';
import { defaultDriverName, openDriver } from '../drivers/registry.js';
import { layerToTar } from '../drivers/tar-bridge.js';
import { DirLayer } from '../layers/dir-layer.js';
import { aufsFormat } from '../layers/whiteout-aufs.js';
import { overlayFormat } from '../layers/whiteout-overlay.js';
import { chainIDs, type Digest } from '../layers/digest.js';
import { jsonBytes, newImageConfig, parseImageConfig, type ImageConfig } from '../layers/image-config.js';
import type { VolumeSpec } from '../options.js';
import { fsError } from '../errors.js';
import { acquireLock, type LockMode } from './lock.js';
import { emptyMeta, loadMeta, saveMeta, type ContainerRecord, type ImageRecord, type LayerRecord, type StoreMeta } from './meta.js';
import { readBlob, removeBlob, writeBlob } from './blobs.js';
import { defaultRoot } from './paths.js';
import { normalizeImageName } from './refs.js';
import { layerChain, resolveContainer, resolveImage, resolveLayer } from './resolve.js';
import { crashPoint } from './crash.js';
import * as containers from './containers.js';
import { checkStore, type CheckReport } from './check.js';
import { migrateStore, type MigrateOptions, type MigrateReport } from './migrate.js';
import { diskFree, type DiskFree } from './df.js';
import { tarSplitStream } from './tar-split-files.js';
import * as layerOps from './layers.js';

export interface StoreOptions {
  /** The store directory (default: UFS_ROOT, /var/lib/ufs as root, ~/.local/share/ufs otherwise). */
  root?: string;
  /** The driver: for a new store, the one to use (default: the fastest that works here); for an existing one, it must match. */
  driver?: string;
  driverOptions?: DriverOptions;
  /** Create the store when missing (default true). */
  create?: boolean;
}

export interface CreateContainerOptions {
  name?: string;
  volumes?: VolumeSpec[];
}

export interface RemoveImageResult {
  untagged: string[];
  deleted: Digest | null;
  layersRemoved: Digest[];
}

/** What the store's helpers (containers, check, migrate, df) may use. */
export interface StoreInternals {
  readonly root: string;
  driver: Driver;
  read<T>(fn: (m: StoreMeta) => Promise<T> | T): Promise<T>;
  write<T>(fn: (m: StoreMeta) => Promise<T> | T): Promise<T>;
  /** Like read, for a stream: the shared lock is held until the stream ends. */
  readStream(fn: (m: StoreMeta) => Promise<Readable>): Promise<Readable>;
  /** Runs `fn` under the exclusive lock without saving anything (check, migrate manage saving). */
  exclusive<T>(fn: (m: StoreMeta) => Promise<T>): Promise<T>;
  save(m: StoreMeta): Promise<void>;
  /** Layer GC after an image or container went: removes unreferenced layers from `top` down. */
  collect(m: StoreMeta, top: Digest | null): Promise<Digest[]>;
  viewCount(): number;
}

export class Store {
  readonly root: string;
  private drv: Driver;
  private readonly views = new Map<string, number>();
  private readonly internals: StoreInternals;

  private constructor(root: string, driver: Driver) {
    this.root = root;
    this.drv = driver;
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    this.internals = {
      root,
      get driver() {
        return self.drv;
      },
      set driver(d: Driver) {
        self.drv = d;
      },
      read: (fn) => this.locked('shared', async (m) => fn(m)),
      write: (fn) => this.locked('exclusive', async (m) => {
        const r = await fn(m);
        await saveMeta(this.root, m);
        return r;
      }),
      exclusive: (fn) => this.locked('exclusive', fn),
      readStream: (fn) => this.lockedStream(fn),
      save: (m) => saveMeta(this.root, m),
      collect: (m, top) => layerOps.collect(this.internals, m, top),
      viewCount: () => [...this.views.values()].reduce((a, b) => a + b, 0),
    };
  }

  /** The storage driver that keeps this store's layers. */
  get driver(): Driver {
    return this.drv;
  }

  /** Opens (and by default creates) the store at `root`. */
  static async open(opts: StoreOptions = {}): Promise<Store> {
    const root = path.resolve(opts.root ?? defaultRoot());
    if (opts.create === false) {
      if ((await loadMeta(root)) === null) throw fsError('ENOENT', 'open', root, undefined, `no ufs store at ${root} (create one with 'ufs info --root ${root}' or Store.open)`);
    } else {
      await fsp.mkdir(root, { recursive: true, mode: 0o700 });
    }
    let meta = await loadMeta(root);
    if (meta === null) {
      const release = await acquireLock(path.join(root, 'lock'), 'exclusive');
      try {
        meta = await loadMeta(root);
        if (meta === null) {
          const name = opts.driver ?? (await defaultDriverName(root));
          // Fails (saying why) when the driver cannot work here, before anything is written.
          const d = await openDriver(name, path.join(root, name), opts.driverOptions);
          await d.cleanup();
          meta = emptyMeta(name);
          await saveMeta(root, meta);
        }
      } finally {
        release();
      }
    }
    if (opts.driver !== undefined && opts.driver !== meta.driver) {
      throw fsError('EINVAL', 'open', root, undefined,
        `the store at ${root} uses the '${meta.driver}' driver, not '${opts.driver}': open it with driver '${meta.driver}', or run 'ufs migrate --to ${opts.driver}'`);
    }
    const driver = await openDriver(meta.driver, path.join(root, meta.driver), opts.driverOptions);
    return new Store(root, driver);
  }

  // ---- locking ----

  private async locked<T>(mode: LockMode, fn: (m: StoreMeta) => Promise<T>): Promise<T> {
    const release = await acquireLock(path.join(this.root, 'lock'), mode);
    try {
      const m = await loadMeta(this.root);
      if (m === null) throw fsError('ENOENT', 'open', this.root, undefined, `the store at ${this.root} has no metadata any more`);
      if (m.driver !== this.drv.name) {
        throw fsError('ESTALE', 'open', this.root, undefined, `the store was migrated to the '${m.driver}' driver by another process; open it again`);
      }
      return await fn(m);
    } finally {
      release();
    }
  }

  private async lockedStream(fn: (m: StoreMeta) => Promise<Readable>): Promise<Readable> {
    const release = await acquireLock(path.join(this.root, 'lock'), 'shared');
    try {
      const m = await loadMeta(this.root);
      if (m === null || m.driver !== this.drv.name) throw fsError('ESTALE', 'open', this.root, undefined, 'the store changed under this process; open it again');
      const out = await fn(m);
      // The shared lock is held until the stream is done, so nobody removes the layer meanwhile.
      out.once('close', release);
      out.once('error', release);
      out.once('end', release);
      return out;
    } catch (e) {
      release();
      throw e;
    }
  }

  // ---- layers ----

  /** The store's layers, oldest first; layers of an image import not finished yet are left out. */
  async layers(): Promise<LayerRecord[]> {
    return this.internals.read((m) => Object.values(m.layers).filter((l) => l.importing === undefined).sort((a, b) => a.created.localeCompare(b.created)));
  }

  async layer(ref: string): Promise<LayerRecord> {
    return this.internals.read((m) => resolveLayer(m, ref));
  }

  /**
   * Applies an uncompressed (or gzip/zstd) layer tar onto `parent` (a layer ref, null for a base
   * layer) and records it by chainID; an identical layer already there is reused. The tar is applied
   * outside the store lock (staged) and recorded under it. Its exact bytes are kept (tar-split), so
   * layerTar gives them back and the diffID stays.
   */
  async createLayer(parent: string | null, tar: Readable): Promise<LayerRecord> {
    return layerOps.createLayer(this.internals, parent, tar, { tarSplit: true });
  }

  /** Makes a layer of a directory (read in the aufs format, or overlay's with format 'overlay'). */
  async createLayerFromDir(dir: string, opts: { parent?: string | null; format?: 'aufs' | 'overlay' } = {}): Promise<LayerRecord> {
    const st = await fsp.stat(dir).catch(() => null);
    if (!st?.isDirectory()) throw fsError('ENOTDIR', 'open', dir, undefined, `${dir} is not a directory`);
    const tar = layerToTar(new DirLayer(dir), opts.format === 'overlay' ? overlayFormat : aufsFormat);
    // ufs's own deterministic bytes: diff() makes them again, no tar-split record needed.
    return layerOps.createLayer(this.internals, opts.parent ?? null, tar);
  }

  /**
   * Starts an image import: its layers (LayerImport.createLayers) are staged and applied several at a
   * time, and stay unlisted until addImage records the image; close it when done, abort it on failure.
   */
  async beginImport(): Promise<layerOps.LayerImport> {
    return new layerOps.LayerImport(this.internals, await layerOps.openSession(this.internals));
  }

  /**
   * The layer as an uncompressed tar, the bytes of its diffID: reassembled from its tar-split record
   * (imports; EINTEGRITY at the end if its files changed), or made again by the driver (ufs's own).
   */
  async layerTar(ref: string): Promise<Readable> {
    return this.lockedStream(async (m) => {
      const l = resolveLayer(m, ref);
      return (await tarSplitStream(this.root, this.drv, l)) ?? this.drv.diff(l.cacheID, l.parent ? m.layers[l.parent]!.cacheID : null);
    });
  }

  async layerChanges(ref: string): Promise<Change[]> {
    return this.internals.read(async (m) => {
      const l = resolveLayer(m, ref);
      return this.drv.changes(l.cacheID, l.parent ? m.layers[l.parent]!.cacheID : null);
    });
  }

  /** Removes a layer nothing uses (no image, container or layer on it, no import in progress pinning it). */
  removeLayer(ref: string): Promise<Digest> {
    return layerOps.removeLayer(this.internals, ref);
  }

  // ---- images ----

  async images(): Promise<ImageRecord[]> {
    return this.internals.read((m) => Object.values(m.images).sort((a, b) => b.created.localeCompare(a.created)));
  }

  async image(ref: string): Promise<ImageRecord> {
    return this.internals.read((m) => resolveImage(m, ref));
  }

  async imageConfig(ref: string): Promise<ImageConfig> {
    return parseImageConfig(await this.imageConfigBytes(ref));
  }

  async imageConfigBytes(ref: string): Promise<Buffer> {
    const img = await this.image(ref);
    return readBlob(this.root, img.id);
  }

  /**
   * Records an image from its config bytes (its ID is their digest); every layer its
   * rootfs.diff_ids name must already be in the store (createLayer, LayerImport). Tags move to this image.
   */
  async addImage(config: Uint8Array, tags: string[] = []): Promise<ImageRecord> {
    const cfg = parseImageConfig(Buffer.from(config));
    const names = tags.map(normalizeImageName);
    const chain = chainIDs(cfg.rootfs.diff_ids);
    return this.internals.write(async (m) => {
      for (const [i, c] of chain.entries()) {
        if (!m.layers[c]) throw fsError('ENOENT', 'image', c, undefined, `layer ${i + 1} of the image (diffID ${cfg.rootfs.diff_ids[i]}) is not in the store; create it first`);
      }
      // The image's layers are finished imports now (the same metadata write records the image).
      for (const c of chain) delete m.layers[c]!.importing;
      const id = await writeBlob(this.root, config);
      crashPoint('config-written');
      return this.recordImage(m, id, chain, names);
    });
  }

  /** Adds (or retags) an image record in `m`; tags move from any other image. */
  recordImage(m: StoreMeta, id: Digest, layers: Digest[], names: string[]): ImageRecord {
    for (const img of Object.values(m.images)) img.tags = img.tags.filter((t) => !names.includes(t));
    const img = m.images[id] ?? { id, layers, tags: [], created: new Date().toISOString() };
    for (const n of names) if (!img.tags.includes(n)) img.tags.push(n);
    m.images[id] = img;
    return img;
  }

  /** An image of existing layers (bottom first; each must stand on the one before). */
  async createImage(name: string, layerRefs: string[], opts: { config?: ImageConfig['config']; createdBy?: string } = {}): Promise<ImageRecord> {
    const n = normalizeImageName(name);
    const diffIDs = await this.internals.read((m) => {
      const ls = layerRefs.map((r) => resolveLayer(m, r));
      ls.forEach((l, i) => {
        const want = i === 0 ? null : ls[i - 1]!.chainID;
        if (l.parent !== want) {
          throw fsError('EINVAL', 'image', layerRefs[i], undefined,
            `layer ${layerRefs[i]} stands on ${l.parent ?? 'nothing'}, not on ${want ?? 'nothing'}: create it with 'ufs layer create --parent ${want ?? ''}'`);
        }
      });
      return ls.map((l) => l.diffID);
    });
    const cfg = newImageConfig(diffIDs, { ...(opts.config ? { config: opts.config } : {}), history: diffIDs.map(() => ({ created: new Date().toISOString(), created_by: opts.createdBy ?? 'ufs image create' })) });
    return this.addImage(jsonBytes(cfg), [n]);
  }

  async tag(ref: string, name: string): Promise<ImageRecord> {
    const n = normalizeImageName(name);
    return this.internals.write((m) => {
      const img = resolveImage(m, ref);
      return this.recordImage(m, img.id, img.layers, [n]);
    });
  }

  /**
   * Removes a tag, or the image: a name with other names left only untags; the image goes with
   * its last name (or by ID, `force` for several names). Refused while a container uses it.
   */
  async removeImage(ref: string, opts: { force?: boolean } = {}): Promise<RemoveImageResult> {
    return this.internals.write(async (m) => {
      const img = resolveImage(m, ref);
      let name: string | null = null;
      try {
        name = normalizeImageName(ref);
      } catch {
        name = null;
      }
      if (name && img.tags.includes(name) && img.tags.length > 1) {
        img.tags = img.tags.filter((t) => t !== name);
        return { untagged: [name], deleted: null, layersRemoved: [] };
      }
      const users = Object.values(m.containers).filter((c) => c.image === img.id);
      if (users.length) {
        throw fsError('EBUSY', 'remove', ref, undefined, `image ${ref} is used by container ${users[0]!.name}; remove the container first ('ufs container rm ${users[0]!.name}')`);
      }
      if (img.tags.length > 1 && !(name && img.tags.includes(name)) && !opts.force) {
        throw fsError('EBUSY', 'remove', ref, undefined, `image ${ref} has several names (${img.tags.join(', ')}); remove them one by one or use --force`);
      }
      delete m.images[img.id];
      const layersRemoved = await layerOps.collect(this.internals, m, img.layers[img.layers.length - 1] ?? null);
      // After the metadata: a crash before this leaves an unused blob, which check removes.
      await removeBlob(this.root, img.id);
      return { untagged: img.tags, deleted: img.id, layersRemoved };
    });
  }

  /** A read-only view of an image (release it with releaseImage). */
  async mountImage(ref: string): Promise<View> {
    const top = await this.internals.read((m) => {
      const img = resolveImage(m, ref);
      const t = img.layers[img.layers.length - 1];
      if (!t) throw fsError('EINVAL', 'mount', ref, undefined, `image ${ref} has no layers`);
      return m.layers[t]!.cacheID;
    });
    const v = await this.drv.get(top);
    this.views.set(top, (this.views.get(top) ?? 0) + 1);
    return v;
  }

  async releaseImage(ref: string): Promise<void> {
    const top = await this.internals.read((m) => {
      const img = resolveImage(m, ref);
      return m.layers[img.layers[img.layers.length - 1]!]!.cacheID;
    });
    await this.release(top);
  }

  private async release(id: string): Promise<void> {
    const n = this.views.get(id) ?? 0;
    if (n <= 0) throw fsError('EINVAL', 'unmount', id, undefined, 'nothing of it is mounted by this process');
    await this.drv.put(id);
    if (n === 1) this.views.delete(id);
    else this.views.set(id, n - 1);
  }

  // ---- containers ----

  async containers(): Promise<ContainerRecord[]> {
    return this.internals.read((m) => Object.values(m.containers).sort((a, b) => b.created.localeCompare(a.created)));
  }

  async container(ref: string): Promise<ContainerRecord> {
    return this.internals.read((m) => resolveContainer(m, ref));
  }

  createContainer(image: string, opts: CreateContainerOptions = {}): Promise<ContainerRecord> {
    return containers.createContainer(this.internals, image, opts);
  }

  removeContainer(ref: string): Promise<ContainerRecord> {
    return containers.removeContainer(this.internals, ref, (id) => (this.views.get(id) ?? 0) > 0);
  }

  containerChanges(ref: string): Promise<Change[]> {
    return containers.containerChanges(this.internals, ref);
  }

  /** The container's changes as a layer tar (volumes excluded). */
  containerDiff(ref: string): Promise<Readable> {
    return containers.containerDiff(this.internals, ref);
  }

  /** Commits the container's changes into a new layer and an image named `name`. */
  commit(ref: string, name: string, opts: { comment?: string } = {}): Promise<ImageRecord> {
    return containers.commit(this.internals, this, ref, name, opts);
  }

  /** The container's read-write view (with its volumes); release it with unmountContainer. */
  async mountContainer(ref: string): Promise<View> {
    const c = await this.container(ref);
    const v = await this.drv.get(c.rwLayer, c.volumes.length ? { volumes: c.volumes } : {});
    this.views.set(c.rwLayer, (this.views.get(c.rwLayer) ?? 0) + 1);
    return v;
  }

  async unmountContainer(ref: string): Promise<void> {
    const c = await this.container(ref);
    await this.release(c.rwLayer);
  }

  // ---- whole store ----

  /** Finds (and with `repair`, removes) debris of interrupted work and reports broken references. */
  check(opts: { repair?: boolean } = {}): Promise<CheckReport> {
    return checkStore(this.internals, opts.repair === true);
  }

  /** Moves every layer and container to driver `to` through diff/apply-diff, keeping every digest. */
  migrate(to: string, opts: MigrateOptions = {}): Promise<MigrateReport> {
    return migrateStore(this.internals, to, opts);
  }

  /** Sizes: per image (shared and unique), per container, and on disk. */
  df(): Promise<DiskFree> {
    return diskFree(this.internals);
  }

  /** Facts for `ufs info`. */
  async info(): Promise<{ root: string; driver: string; status: [string, string][]; layers: number; images: number; containers: number }> {
    const counts = await this.internals.read((m) => ({ layers: Object.keys(m.layers).length, images: Object.keys(m.images).length, containers: Object.keys(m.containers).length }));
    return { root: this.root, driver: this.drv.name, status: await this.drv.status(), ...counts };
  }

  /** Releases every view this process holds. */
  async close(): Promise<void> {
    this.views.clear();
    await this.drv.cleanup();
  }
}

export { layerChain };
