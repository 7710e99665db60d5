// The store's layers: a tar is applied into a staged driver layer outside the store lock (a staging
// session answers for it) and recorded by chainID under the exclusive lock, briefly; the layers of one
// image are applied several at a time; removal and garbage collection spare what live sessions pin.
import type { Readable } from 'node:stream';
import { randomId } from '../drivers/tree-ops.js';
import { sha256, type Digest } from '../layers/digest.js';
import type { TarSplitRecorder } from '../layers/tar-split.js';
import { fsError, isErrno } from '../errors.js';
import type { LayerRecord, StoreMeta } from './meta.js';
import type { StoreInternals } from './store.js';
import { layerUsers, resolveLayer } from './resolve.js';
import { crashPoint } from './crash.js';
import { hasTarSplit, keepTarSplit, recordTar, removeTarSplit } from './tar-split-files.js';
import { scanStaging, StagingSession } from './staging.js';

/** One layer of an image to import: its chainID (from the config's diffIDs) and its verified tar. */
export interface LayerSource {
  chainID: Digest;
  /** The layer's uncompressed (or gzip/zstd) tar; called when its turn comes, and again if it must be staged again. */
  open(): Promise<Readable>;
}

export interface CreateLayersOptions {
  /** How many layers are applied at the same time (default 3). */
  concurrency?: number;
  /** Layer `index` (0-based) was already in the store and is not read. */
  onReused?: (index: number) => void;
}

export interface CreateLayersResult {
  /** The records of every layer, bottom first. */
  records: LayerRecord[];
  imported: number;
  reused: number;
}

/** A layer applied in staging, waiting to be recorded. */
interface Staged {
  cacheID: string;
  parentCacheID: string | null;
  diffID: Digest;
  size: number;
  recorder: TarSplitRecorder | null;
}

export function openSession(s: StoreInternals): Promise<StagingSession> {
  return StagingSession.open(s.root, (fn) => s.read(() => fn()));
}

/** Creates an empty driver layer on `parent`, announced in the session first (check spares it). */
async function reserveLayer(s: StoreInternals, session: StagingSession, parent: string | null): Promise<string> {
  const id = randomId(16);
  await s.read(() => session.stage(id, parent));
  try {
    await s.driver.create(id, parent);
  } catch (e) {
    await session.unstage(id).catch(() => undefined);
    throw e;
  }
  crashPoint('layer-created');
  return id;
}

async function applyLayer(s: StoreInternals, id: string, parent: string | null, tar: Readable, tarSplit: boolean): Promise<Staged> {
  let input = tar;
  let recorder: TarSplitRecorder | null = null;
  if (tarSplit) ({ stream: input, recorder } = await recordTar(tar));
  const applied = await s.driver.applyDiff(id, parent, input);
  crashPoint('layer-applied');
  return { cacheID: id, parentCacheID: parent, diffID: applied.diffID as Digest, size: applied.size, recorder };
}

/** Removes a staged driver layer that will not be recorded. */
async function discardLayer(s: StoreInternals, session: StagingSession, id: string): Promise<void> {
  await s.driver.remove(id).catch((e: unknown) => {
    if (!isErrno(e, 'ENOENT')) throw e;
  });
  await session.unstage(id);
}

type Recorded = { rec: LayerRecord; created: boolean } | 'restage';

/**
 * Records a staged layer on `parent` under the exclusive lock: the one already there with its chainID
 * if another process was first (the staged copy is then the caller's to discard), 'restage' when the
 * parent's recorded driver layer is not the one it was staged on, ENOENT when the parent went.
 */
async function recordLayer(s: StoreInternals, session: StagingSession, st: Staged, parent: LayerRecord | null, opts: { importing?: boolean; expect?: Digest }): Promise<Recorded> {
  crashPoint('layer-staged');
  const r = await s.write(async (m): Promise<Recorded> => {
    const chainID = parent ? sha256(`${parent.chainID} ${st.diffID}`) : st.diffID;
    if (opts.expect !== undefined && chainID !== opts.expect) {
      st.recorder?.discard();
      throw fsError('EINTEGRITY', 'import', undefined, undefined, `a layer became ${chainID}, expected chainID ${opts.expect}`);
    }
    const existing = m.layers[chainID];
    if (existing) {
      // Same chainID, same bytes and files: a layer of an older store gains the record it lacked.
      if (st.recorder && !(await hasTarSplit(s.root, chainID))) await keepTarSplit(s.root, st.recorder, chainID, st.diffID);
      else st.recorder?.discard();
      return { rec: existing, created: false };
    }
    if (parent) {
      const p = m.layers[parent.chainID];
      if (!p) {
        st.recorder?.discard();
        throw fsError('ENOENT', 'create', parent.chainID, undefined, `parent layer ${parent.chainID} was removed while a layer was being made on it`);
      }
      if (p.cacheID !== st.parentCacheID) {
        st.recorder?.discard();
        return 'restage';
      }
    }
    if (st.recorder) await keepTarSplit(s.root, st.recorder, chainID, st.diffID);
    crashPoint('layer-recording');
    const rec: LayerRecord = {
      chainID, diffID: st.diffID, parent: parent?.chainID ?? null, cacheID: st.cacheID, size: st.size, created: new Date().toISOString(),
      ...(opts.importing ? { importing: session.id } : {}),
    };
    m.layers[chainID] = rec;
    return { rec, created: true };
  });
  if (r !== 'restage' && r.created) {
    crashPoint('layer-recorded');
    await session.unstage(st.cacheID);
  }
  return r;
}

/** One layer on `parent` (a layer ref or null), staged outside the lock and recorded by chainID. */
export async function createLayer(s: StoreInternals, parentRef: string | null, tar: Readable, opts: { tarSplit?: boolean } = {}): Promise<LayerRecord> {
  const session = await openSession(s);
  try {
    const parent = await s.read(async (m) => {
      if (parentRef === null) return null;
      const p = resolveLayer(m, parentRef);
      await session.pin([p.chainID]);
      return p;
    });
    const id = await reserveLayer(s, session, parent?.cacheID ?? null);
    let r: Recorded;
    try {
      r = await recordLayer(s, session, await applyLayer(s, id, parent?.cacheID ?? null, tar, opts.tarSplit === true), parent, {});
    } catch (e) {
      await discardLayer(s, session, id).catch(() => undefined);
      throw e;
    }
    if (r === 'restage' || !r.created) await discardLayer(s, session, id);
    // The parent is pinned, so it cannot have been replaced; say so plainly if it was.
    if (r === 'restage') throw fsError('EAGAIN', 'create', parentRef ?? undefined, undefined, `parent layer ${parentRef} was replaced while a layer was being made on it; try again`);
    return r.rec;
  } finally {
    await session.close();
  }
}

/** Runs at most `n` functions at a time, in the order they were queued. */
function pool(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let running = 0;
  const queue: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (running >= n) await new Promise<void>((r) => queue.push(r));
    running++;
    try {
      return await fn();
    } finally {
      running--;
      queue.shift()?.();
    }
  };
}

/**
 * An image import's layers: staged in a session of their own, recorded with `importing` set until the
 * import records its image (Store.addImage clears it); abort removes what it created.
 */
export class LayerImport {
  private readonly created: Digest[] = [];

  constructor(private readonly s: StoreInternals, readonly session: StagingSession) {}

  /**
   * Makes the layers of a chain, bottom first. Every chainID is pinned first; layers already there are
   * reused. The others are created on their parents' driver layers in order and applied `concurrency`
   * at a time (one after the other for a driver whose create copies the parent, vfs), then recorded in
   * order. A layer whose parent another process recorded first is staged again on that one.
   */
  async createLayers(sources: LayerSource[], opts: CreateLayersOptions = {}): Promise<CreateLayersResult> {
    const s = this.s;
    const session = this.session;
    const n = sources.length;
    const chains = sources.map((x) => x.chainID);
    const have = await s.read(async (m) => {
      await session.pin(chains);
      return chains.map((c) => m.layers[c] ?? null);
    });
    const records: LayerRecord[] = [];
    while (records.length < n && have[records.length]) {
      opts.onReused?.(records.length);
      records.push(have[records.length]!);
    }
    const k = records.length;
    let reused = k;
    if (k === n) return { records, imported: 0, reused };

    const copies = s.driver.capabilities().createCopiesParent === true;
    const limit = pool(Math.max(1, opts.concurrency ?? 3));
    const mine: string[] = [];
    let stopped = false;
    const go = (): void => {
      if (stopped) throw fsError('ECANCELED', 'import', undefined, undefined, 'another layer of the import failed');
    };
    const reserve = async (parent: string | null): Promise<string> => {
      go();
      const id = await reserveLayer(s, session, parent);
      mine.push(id);
      return id;
    };
    const apply = (i: number, id: string, parent: string | null): Promise<Staged> =>
      limit(async () => {
        go();
        return applyLayer(s, id, parent, await sources[i]!.open(), true);
      });

    const reserved: Promise<{ id: string; parent: string | null }>[] = [];
    const applied: Promise<Staged>[] = [];
    for (let i = k; i < n; i++) {
      const j = i - k;
      const parentReady: Promise<string | null> =
        j === 0 ? Promise.resolve(records[k - 1]?.cacheID ?? null) : copies ? applied[j - 1]!.then((st) => st.cacheID) : reserved[j - 1]!.then((r) => r.id);
      const r = parentReady.then(async (parent) => ({ id: await reserve(parent), parent }));
      const a = r.then(({ id, parent }) => apply(i, id, parent));
      r.catch(() => undefined);
      a.catch(() => undefined);
      reserved.push(r);
      applied.push(a);
    }

    let imported = 0;
    try {
      for (let i = k; i < n; i++) {
        let st = await applied[i - k]!;
        for (;;) {
          const parent = records[i - 1] ?? null;
          const r = await recordLayer(s, session, st, parent, { importing: true, expect: chains[i]! });
          if (r === 'restage') {
            st = await apply(i, await reserve(parent!.cacheID), parent!.cacheID);
            continue;
          }
          if (r.created) {
            this.created.push(r.rec.chainID);
            imported++;
          } else {
            // Another process recorded it first: its copy is used, this one discarded below.
            reused++;
            opts.onReused?.(i);
          }
          records.push(r.rec);
          break;
        }
      }
    } finally {
      stopped = true;
      await Promise.allSettled([...reserved, ...applied]);
      // Staged driver layers that were not recorded (failed, or another process was first): children first.
      const kept = new Set(records.map((r) => r.cacheID));
      for (const id of [...mine].reverse()) if (!kept.has(id)) await discardLayer(s, session, id).catch(() => undefined);
    }
    return { records, imported, reused };
  }

  /**
   * Removes the layers this import recorded, top down, unless something else uses them or another
   * live session pins them (those keep `importing`; check removes them once nobody needs them).
   */
  async abort(): Promise<Digest[]> {
    const gone: LayerRecord[] = [];
    await this.s.write(async (m) => {
      const scan = await scanStaging(this.s.root, this.session.id);
      for (const c of [...this.created].reverse()) {
        const l = m.layers[c];
        if (!l || scan.pins.has(c) || scan.staged.has(l.cacheID)) continue;
        const u = layerUsers(m, c);
        if (u.images.length || u.containers.length || u.children.length) continue;
        delete m.layers[c];
        gone.push(l);
      }
    });
    for (const l of gone) {
      await this.s.driver.remove(l.cacheID).catch(() => undefined);
      await removeTarSplit(this.s.root, l.chainID);
    }
    this.created.length = 0;
    return gone.map((l) => l.chainID);
  }

  close(): Promise<void> {
    return this.session.close();
  }
}

/**
 * Applies `tar` as a new layer on `parent` under the caller's exclusive lock and adds its record to
 * `m` (the caller saves): for commit, whose layer and image are one metadata write.
 */
export async function putLayer(s: StoreInternals, m: StoreMeta, parent: LayerRecord | null, tar: Readable): Promise<LayerRecord> {
  const cacheID = randomId(16);
  const parentID = parent?.cacheID ?? null;
  await s.driver.create(cacheID, parentID);
  let applied;
  try {
    crashPoint('layer-created');
    applied = await s.driver.applyDiff(cacheID, parentID, tar);
    crashPoint('layer-applied');
  } catch (e) {
    await s.driver.remove(cacheID).catch(() => undefined);
    throw e;
  }
  const diffID = applied.diffID as Digest;
  const chainID = parent ? sha256(`${parent.chainID} ${diffID}`) : diffID;
  const existing = m.layers[chainID];
  if (existing) {
    await s.driver.remove(cacheID);
    return existing;
  }
  const rec: LayerRecord = { chainID, diffID, parent: parent?.chainID ?? null, cacheID, size: applied.size, created: new Date().toISOString() };
  m.layers[chainID] = rec;
  return rec;
}

function pinnedBy(scan: Awaited<ReturnType<typeof scanStaging>>, l: LayerRecord): boolean {
  return scan.pins.has(l.chainID) || scan.staged.has(l.cacheID);
}

/** Removes a layer nothing uses (no image, container, layer on it, or live import pinning it). */
export async function removeLayer(s: StoreInternals, ref: string): Promise<Digest> {
  return s.write(async (m) => {
    const l = resolveLayer(m, ref);
    const u = layerUsers(m, l.chainID);
    if (u.images.length) throw fsError('EBUSY', 'remove', ref, undefined, `layer ${ref} is used by image ${u.images[0]!.tags[0] ?? u.images[0]!.id}; remove the image first`);
    if (u.containers.length) throw fsError('EBUSY', 'remove', ref, undefined, `layer ${ref} is used by container ${u.containers[0]!.name}; remove the container first`);
    if (u.children.length) throw fsError('EBUSY', 'remove', ref, undefined, `layer ${ref} has ${u.children.length} layer(s) on it (${u.children[0]!.chainID}); remove those first`);
    if (pinnedBy(await scanStaging(s.root), l)) throw fsError('EBUSY', 'remove', ref, undefined, `layer ${ref} is being used by an import or layer creation in progress; try again when it is done`);
    delete m.layers[l.chainID];
    await s.save(m);
    await s.driver.remove(l.cacheID);
    await removeTarSplit(s.root, l.chainID);
    return l.chainID;
  });
}

/** Layer GC after an image or container went: removes unreferenced, unpinned layers from `top` down. */
export async function collect(s: StoreInternals, m: StoreMeta, top: Digest | null): Promise<Digest[]> {
  const removed: Digest[] = [];
  const gone: LayerRecord[] = [];
  const scan = top === null ? null : await scanStaging(s.root);
  for (let cur = top; cur !== null; ) {
    const l: LayerRecord | undefined = m.layers[cur];
    if (!l || (scan && pinnedBy(scan, l))) break;
    const u = layerUsers(m, cur);
    if (u.images.length || u.containers.length || u.children.length) break;
    delete m.layers[cur];
    removed.push(cur);
    gone.push(l);
    cur = l.parent;
  }
  // Metadata first: a crash afterwards leaves only unreferenced driver layers, which check removes.
  await s.save(m);
  for (const l of gone) {
    await s.driver.remove(l.cacheID);
    await removeTarSplit(s.root, l.chainID);
  }
  return removed;
}
