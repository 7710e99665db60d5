// `ufs check`: finds debris of interrupted work (temp files, scratch directories, driver layers, blobs and
// tar-split records nothing references, a half-migrated driver home, staging sessions and unfinished
// imports of dead processes) and broken references; repair removes the debris, sparing live staging.
import { SCRATCH_DIR, scratchInUse } from './scratch.js';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { driverNames } from '../drivers/registry.js';
import { MemoryDriver } from '../drivers/memory.js';
import { removeTree } from '../drivers/tree-ops.js';
import type { Digest } from '../layers/digest.js';
import { isErrno } from '../errors.js';
import { TEMP_PREFIX } from './atomic.js';
import { blobDebris, hasBlob, listBlobs, removeBlob } from './blobs.js';
import type { StoreMeta } from './meta.js';
import type { StoreInternals } from './store.js';
import { listTarSplits, removeTarSplit } from './tar-split-files.js';
import { scanStaging, type StagingScan } from './staging.js';
import { layerUsers } from './resolve.js';

export interface Leftover {
  kind: 'temp-file' | 'scratch' | 'driver-debris' | 'orphan-layer' | 'orphan-blob' | 'orphan-tar-split' | 'stale-driver-home' | 'stale-staging' | 'unfinished-import';
  /** A path on disk, a driver layer id for orphan layers, a chainID for unfinished imports. */
  path: string;
  detail: string;
}

export interface CheckReport {
  /** True when nothing is left over and nothing is broken (after repair, when repairing). */
  ok: boolean;
  leftovers: Leftover[];
  /** Broken references (data lost outside ufs); repair only drops containers that lost their layer. */
  problems: string[];
  /** What repair removed or fixed. */
  repaired: string[];
}

async function names(dir: string): Promise<string[]> {
  try {
    return await fsp.readdir(dir);
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR')) return [];
    throw e;
  }
}

/** Whether a driver leftover belongs to a layer a live session is staging (its scratch, its overlay short link). */
async function ofLiveStaging(p: string, staged: Set<string>): Promise<boolean> {
  if (!staged.size) return false;
  const name = path.basename(p);
  const target = await fsp.readlink(p).catch(() => '');
  for (const id of staged) if (name.includes(id) || target.includes(id)) return true;
  return false;
}

async function findLeftovers(s: StoreInternals, m: StoreMeta, scan: StagingScan): Promise<Leftover[]> {
  const out: Leftover[] = [];
  for (const p of scan.stale) out.push({ kind: 'stale-staging', path: p, detail: 'file of a staging session whose process is gone' });
  for (const l of Object.values(m.layers)) {
    if (l.importing !== undefined && !scan.ids.has(l.importing) && !scan.pins.has(l.chainID)) {
      out.push({ kind: 'unfinished-import', path: l.chainID, detail: `layer ${l.chainID} of an image import that never recorded its image (its process is gone)` });
    }
  }
  for (const n of await names(s.root)) {
    if (n.startsWith(TEMP_PREFIX)) out.push({ kind: 'temp-file', path: path.join(s.root, n), detail: 'temp file of an interrupted metadata write' });
  }
  for (const n of await names(path.join(s.root, SCRATCH_DIR))) {
    const p = path.join(s.root, SCRATCH_DIR, n);
    if (!(await scratchInUse(p))) out.push({ kind: 'scratch', path: p, detail: 'scratch of interrupted work (a pull or push whose process is gone)' });
  }
  for (const p of await s.driver.leftovers()) {
    if (!(await ofLiveStaging(p, scan.staged))) out.push({ kind: 'driver-debris', path: p, detail: `debris of interrupted ${s.driver.name} driver work` });
  }
  const used = new Set<string>([...Object.values(m.layers).map((l) => l.cacheID), ...Object.values(m.containers).map((c) => c.rwLayer)]);
  for (const id of await s.driver.list()) {
    if (!used.has(id) && !scan.staged.has(id)) out.push({ kind: 'orphan-layer', path: id, detail: `driver layer ${id} that no layer or container record uses (an interrupted create, commit or remove)` });
  }
  const configs = new Set<string>(Object.keys(m.images));
  for (const d of await listBlobs(s.root)) {
    if (!configs.has(d)) out.push({ kind: 'orphan-blob', path: d, detail: `blob ${d} that no image uses` });
  }
  for (const p of await blobDebris(s.root)) out.push({ kind: 'temp-file', path: p, detail: 'temp file of an interrupted blob write' });
  const splits = await listTarSplits(s.root);
  for (const c of splits.chainIDs) {
    if (!m.layers[c]) out.push({ kind: 'orphan-tar-split', path: c, detail: `tar-split record of layer ${c}, which is not in the store (an interrupted import or remove)` });
  }
  for (const p of splits.debris) out.push({ kind: 'temp-file', path: p, detail: 'temp file of an interrupted tar-split record write' });
  for (const name of driverNames()) {
    if (name === m.driver || name === 'memory') continue;
    const home = path.join(s.root, name);
    if ((await names(home)).length || (await fsp.stat(home).catch(() => null))) {
      out.push({ kind: 'stale-driver-home', path: home, detail: `home of the ${name} driver, which the store does not use (an interrupted migration)` });
    }
  }
  return out;
}

async function findProblems(s: StoreInternals, m: StoreMeta): Promise<{ problems: string[]; deadContainers: string[] }> {
  const problems: string[] = [];
  const deadContainers: string[] = [];
  const have = new Set(await s.driver.list());
  for (const l of Object.values(m.layers)) {
    if (!have.has(l.cacheID)) problems.push(`layer ${l.chainID} has lost its data (driver layer ${l.cacheID} is missing)${s.driver.name === 'memory' ? ': memory stores do not outlive their process' : ''}`);
    if (l.parent && !m.layers[l.parent]) problems.push(`layer ${l.chainID} stands on ${l.parent}, which is missing`);
  }
  for (const img of Object.values(m.images)) {
    if (!(await hasBlob(s.root, img.id))) problems.push(`image ${img.id} (${img.tags.join(', ') || 'untagged'}) has lost its config blob`);
    for (const c of img.layers) if (!m.layers[c]) problems.push(`image ${img.id} (${img.tags.join(', ') || 'untagged'}) lists layer ${c}, which is missing`);
  }
  for (const c of Object.values(m.containers)) {
    if (!m.images[c.image]) problems.push(`container ${c.name} was made from image ${c.image}, which is missing`);
    if (c.parent && !m.layers[c.parent]) problems.push(`container ${c.name} stands on layer ${c.parent}, which is missing`);
    if (!have.has(c.rwLayer)) {
      problems.push(`container ${c.name} has lost its read-write layer ${c.rwLayer}`);
      deadContainers.push(c.id);
    }
  }
  return { problems, deadContainers };
}

/**
 * Removes layers of dead imports, top down, while nothing else uses them; one used by an image or
 * container (recorded by another import that reused it) just loses its mark.
 */
async function removeUnfinished(s: StoreInternals, m: StoreMeta, leftovers: Leftover[]): Promise<string[]> {
  const todo = new Set(leftovers.filter((l) => l.kind === 'unfinished-import').map((l) => l.path));
  if (!todo.size) return [];
  const gone: { chainID: string; cacheID: string }[] = [];
  for (let more = true; more; ) {
    more = false;
    for (const c of todo) {
      const u = layerUsers(m, c);
      if (u.images.length || u.containers.length || u.children.length) continue;
      gone.push({ chainID: c, cacheID: m.layers[c]!.cacheID });
      delete m.layers[c];
      todo.delete(c);
      more = true;
    }
  }
  for (const c of todo) delete m.layers[c]!.importing;
  await s.save(m);
  const out: string[] = [];
  for (const l of gone) {
    await s.driver.remove(l.cacheID).catch((e: unknown) => {
      if (!isErrno(e, 'ENOENT')) throw e;
    });
    await removeTarSplit(s.root, l.chainID as Digest);
    out.push(`removed unfinished-import ${l.chainID}`);
  }
  for (const c of todo) out.push(`kept layer ${c} of an unfinished import (another image uses it)`);
  return out;
}

export async function checkStore(s: StoreInternals, repair: boolean): Promise<CheckReport> {
  return s.exclusive(async (m) => {
    const scan = await scanStaging(s.root);
    const leftovers = await findLeftovers(s, m, scan);
    let { problems, deadContainers } = await findProblems(s, m);
    const repaired: string[] = [];
    if (!repair) return { ok: leftovers.length === 0 && problems.length === 0, leftovers, problems, repaired };

    if (deadContainers.length) {
      for (const id of deadContainers) {
        repaired.push(`dropped container ${m.containers[id]!.name} (its read-write layer was gone)`);
        delete m.containers[id];
      }
      await s.save(m);
    }
    repaired.push(...(await removeUnfinished(s, m, leftovers)));
    for (const l of leftovers) {
      switch (l.kind) {
        case 'orphan-layer':
          await s.driver.remove(l.path).catch((e: unknown) => {
            if (!isErrno(e, 'ENOENT')) throw e;
          });
          break;
        case 'orphan-blob':
          await removeBlob(s.root, l.path as Digest);
          break;
        case 'orphan-tar-split':
          await removeTarSplit(s.root, l.path as Digest);
          break;
        case 'unfinished-import':
          continue; // above
        case 'driver-debris':
          // By the driver below (it knows how to unmount what it mounted), unless live staging is under way.
          if (scan.staged.size) await removeTree(l.path);
          break;
        default:
          await removeTree(l.path);
          if (l.kind === 'stale-driver-home') MemoryDriver.forget(l.path);
      }
      repaired.push(`removed ${l.kind} ${l.path}`);
    }
    if (!scan.staged.size) await s.driver.removeLeftovers();
    ({ problems } = await findProblems(s, m));
    const after = await findLeftovers(s, m, await scanStaging(s.root));
    return { ok: after.length === 0 && problems.length === 0, leftovers, problems, repaired };
  });
}
