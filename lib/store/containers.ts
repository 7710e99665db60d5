// Containers of the store: a read-write layer on an image's top layer, with volumes recorded;
// changes, diff and commit into a new layer plus an image.
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Change } from '../drivers/driver.js';
import { randomId } from '../drivers/tree-ops.js';
import { jsonBytes, parseImageConfig } from '../layers/image-config.js';
import type { VolumeSpec } from '../options.js';
import { fsError, isErrno } from '../errors.js';
import type { ContainerRecord, ImageRecord, StoreMeta } from './meta.js';
import type { CreateContainerOptions, StoreInternals } from './store.js';
import { readBlob, writeBlob } from './blobs.js';
import { normalizeImageName } from './refs.js';
import { resolveContainer, resolveImage } from './resolve.js';
import { crashPoint } from './crash.js';
import { putLayer } from './layers.js';

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

/** Checks volumes: an existing host directory each, at an absolute path other than '/'. */
export async function checkVolumes(volumes: VolumeSpec[]): Promise<VolumeSpec[]> {
  const out: VolumeSpec[] = [];
  for (const v of volumes) {
    const hostdir = path.resolve(v.hostdir);
    const st = await fsp.stat(hostdir).catch(() => null);
    if (!st?.isDirectory()) throw fsError('ENOENT', 'volume', v.hostdir, undefined, `volume host directory ${v.hostdir} does not exist (create it first)`);
    if (!v.path.startsWith('/')) throw fsError('EINVAL', 'volume', v.path, undefined, `volume path ${v.path} must be absolute`);
    const p = path.posix.normalize(v.path).replace(/\/+$/, '');
    if (p === '' || p === '/') throw fsError('EINVAL', 'volume', v.path, undefined, 'a volume cannot be mounted at /');
    if (out.some((o) => o.path === p)) throw fsError('EINVAL', 'volume', v.path, undefined, `two volumes at ${p}`);
    out.push({ hostdir, path: p, ...(v.readonly ? { readonly: true } : {}) });
  }
  return out;
}

/** Parses `HOSTDIR:/path[:ro]` (the --volume syntax). */
export function parseVolume(spec: string): VolumeSpec {
  let s = spec;
  let readonly = false;
  if (s.endsWith(':ro')) {
    readonly = true;
    s = s.slice(0, -3);
  } else if (s.endsWith(':rw')) s = s.slice(0, -3);
  const i = s.lastIndexOf(':/');
  if (i <= 0) throw fsError('EINVAL', 'volume', spec, undefined, `volume must be HOSTDIR:/path[:ro], not '${spec}'`);
  return { hostdir: s.slice(0, i), path: s.slice(i + 1), ...(readonly ? { readonly } : {}) };
}

function parentCache(m: StoreMeta, c: ContainerRecord): string | null {
  return c.parent ? m.layers[c.parent]?.cacheID ?? null : null;
}

export async function createContainer(s: StoreInternals, image: string, opts: CreateContainerOptions): Promise<ContainerRecord> {
  const volumes = await checkVolumes(opts.volumes ?? []);
  if (opts.name !== undefined && !NAME_RE.test(opts.name)) {
    throw fsError('EINVAL', 'create', opts.name, undefined, `invalid container name '${opts.name}' (letters, digits, '_', '.', '-'; starting with a letter or digit)`);
  }
  return s.write(async (m) => {
    const img = resolveImage(m, image);
    const id = randomId(32);
    const name = opts.name ?? `ufs_${id.slice(0, 12)}`;
    const taken = Object.values(m.containers).find((c) => c.name === name);
    if (taken) throw fsError('EEXIST', 'create', name, undefined, `container name '${name}' is already in use by ${taken.id.slice(0, 12)}; remove it or pick another --name`);
    const top = img.layers[img.layers.length - 1] ?? null;
    const rwLayer = randomId(16);
    await s.driver.createReadWrite(rwLayer, top ? m.layers[top]!.cacheID : null);
    crashPoint('container-created');
    const rec: ContainerRecord = { id, name, image: img.id, parent: top, rwLayer, volumes, created: new Date().toISOString() };
    m.containers[id] = rec;
    return rec;
  });
}

export async function removeContainer(s: StoreInternals, ref: string, mountedHere: (rw: string) => boolean): Promise<ContainerRecord> {
  return s.write(async (m) => {
    const c = resolveContainer(m, ref);
    if (mountedHere(c.rwLayer)) throw fsError('EBUSY', 'remove', ref, undefined, `container ${c.name} is mounted; unmount it first`);
    delete m.containers[c.id];
    // Metadata first: a crash afterwards leaves an unreferenced layer that 'ufs check --repair' removes.
    await s.save(m);
    crashPoint('container-unrecorded');
    try {
      await s.driver.remove(c.rwLayer);
    } catch (e) {
      if (isErrno(e, 'EBUSY')) {
        m.containers[c.id] = c;
        throw e;
      }
      if (!isErrno(e, 'ENOENT')) throw e;
    }
    return c;
  });
}

export async function containerChanges(s: StoreInternals, ref: string): Promise<Change[]> {
  return s.read(async (m) => {
    const c = resolveContainer(m, ref);
    return s.driver.changes(c.rwLayer, parentCache(m, c));
  });
}

export async function containerDiff(s: StoreInternals, ref: string): Promise<Readable> {
  return s.readStream(async (m) => {
    const c = resolveContainer(m, ref);
    return s.driver.diff(c.rwLayer, parentCache(m, c));
  });
}

/** What commit needs of the Store itself. */
interface Committer {
  recordImage(m: StoreMeta, id: ImageRecord['id'], layers: ImageRecord['layers'], names: string[]): ImageRecord;
}

export async function commit(s: StoreInternals, store: Committer, ref: string, name: string, opts: { comment?: string }): Promise<ImageRecord> {
  const n = normalizeImageName(name);
  return s.write(async (m) => {
    const c = resolveContainer(m, ref);
    const img = m.images[c.image];
    if (!img) throw fsError('ENOENT', 'commit', ref, undefined, `the image of container ${c.name} is gone; run 'ufs check'`);
    const parent = c.parent ? m.layers[c.parent]! : null;
    const tar = await s.driver.diff(c.rwLayer, parent?.cacheID ?? null);
    const layer = await putLayer(s, m, parent, tar);
    crashPoint('commit-layer');
    const base = parseImageConfig(await readBlob(s.root, img.id));
    const created = new Date().toISOString();
    const cfg = {
      ...base,
      created,
      rootfs: { type: 'layers' as const, diff_ids: [...base.rootfs.diff_ids, layer.diffID] },
      history: [...(base.history ?? []), { created, created_by: `ufs container commit ${c.name}`, ...(opts.comment ? { comment: opts.comment } : {}) }],
    };
    const id = await writeBlob(s.root, jsonBytes(cfg));
    crashPoint('commit-config');
    // One metadata write records the layer and the image together.
    return store.recordImage(m, id, [...img.layers, layer.chainID], [n]);
  });
}
