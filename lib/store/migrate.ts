// `ufs migrate --to DRIVER`: every layer and container moves to another driver through diff and
// apply-diff into the new driver's home; nothing changes unless every one round-trips to the same digest.
import path from 'node:path';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Driver, DriverOptions } from '../drivers/driver.js';
import { driverFactory, openDriver } from '../drivers/registry.js';
import { MemoryDriver } from '../drivers/memory.js';
import { removeTree } from '../drivers/tree-ops.js';
import { fsError } from '../errors.js';
import type { LayerRecord, StoreMeta } from './meta.js';
import type { StoreInternals } from './store.js';
import { crashPoint } from './crash.js';
import { scanStaging } from './staging.js';

export interface MigrateOptions {
  driverOptions?: DriverOptions;
  /** Told of each layer and container as it moves. */
  onProgress?: (message: string) => void;
}

export interface MigrateReport {
  from: string;
  to: string;
  /** For every layer (chainID) and container (name): the digest of its diff, the same before and after. */
  digests: { what: string; digest: string }[];
}

async function digestOf(r: Readable): Promise<string> {
  const h = createHash('sha256');
  for await (const c of r) h.update(c as Buffer);
  return `sha256:${h.digest('hex')}`;
}

/** Layers ordered so that each parent comes before its children. */
function parentsFirst(m: StoreMeta): LayerRecord[] {
  const depth = new Map<string, number>();
  const d = (l: LayerRecord): number => {
    const hit = depth.get(l.chainID);
    if (hit !== undefined) return hit;
    const v = l.parent && m.layers[l.parent] ? d(m.layers[l.parent]!) + 1 : 0;
    depth.set(l.chainID, v);
    return v;
  };
  return Object.values(m.layers).sort((a, b) => d(a) - d(b) || a.chainID.localeCompare(b.chainID));
}

/** Moves one layer: diff out of `from`, apply into `to`, and diff again to prove the round trip. */
async function move(from: Driver, to: Driver, id: string, parent: string | null, rw: boolean, what: string): Promise<string> {
  if (rw) await to.createReadWrite(id, parent);
  else await to.create(id, parent);
  const applied = await to.applyDiff(id, parent, await from.diff(id, parent));
  const back = await digestOf(await to.diff(id, parent));
  if (back !== applied.diffID) {
    throw fsError('EINVAL', 'migrate', what, undefined,
      `${what} does not round-trip through the ${to.name} driver (diff ${applied.diffID} before, ${back} after); nothing was changed`);
  }
  return back;
}

export async function migrateStore(s: StoreInternals, to: string, opts: MigrateOptions): Promise<MigrateReport> {
  driverFactory(to);
  return s.exclusive(async (m) => {
    const fromName = m.driver;
    if (to === fromName) throw fsError('EINVAL', 'migrate', to, undefined, `the store already uses the ${to} driver`);
    if (s.viewCount() > 0) throw fsError('EBUSY', 'migrate', s.root, undefined, 'this process has views of the store open; release them first');
    // Layers staged by a live import live in the old driver and would be lost.
    const busy = (await scanStaging(s.root)).live.filter((x) => Object.keys(x.staged ?? {}).length || x.pins?.length);
    if (busy.length) throw fsError('EBUSY', 'migrate', s.root, undefined, `an import or layer creation is in progress (process ${busy[0]!.pid}); migrate when it is done`);
    const home = path.join(s.root, to);
    // Debris of an earlier, interrupted migration to the same driver.
    await removeTree(home);
    MemoryDriver.forget(home);
    const from = s.driver;
    const neu = await openDriver(to, home, opts.driverOptions);
    const digests: { what: string; digest: string }[] = [];
    try {
      for (const l of parentsFirst(m)) {
        const parent = l.parent ? m.layers[l.parent]!.cacheID : null;
        const what = `layer ${l.chainID}`;
        digests.push({ what: l.chainID, digest: await move(from, neu, l.cacheID, parent, false, what) });
        opts.onProgress?.(`moved ${what}`);
        crashPoint('migrate-layer');
      }
      for (const c of Object.values(m.containers)) {
        const parent = c.parent ? m.layers[c.parent]!.cacheID : null;
        const what = `container ${c.name}`;
        digests.push({ what: c.name, digest: await move(from, neu, c.rwLayer, parent, true, what) });
        opts.onProgress?.(`moved ${what}`);
      }
      // Tar-split records (<root>/tar-split, by chainID) stay where they are: every layer's files are
      // the same under the new driver, so they reassemble the same bytes.
      // The switch: one atomic metadata write. Before it the old driver is the store's, after it the new one.
      m.driver = to;
      await s.save(m);
    } catch (e) {
      await neu.cleanup().catch(() => undefined);
      await removeTree(home);
      MemoryDriver.forget(home);
      throw e;
    }
    crashPoint('migrate-switched');
    s.driver = neu;
    await from.cleanup();
    await removeTree(from.home);
    MemoryDriver.forget(from.home);
    return { from: fromName, to, digests };
  });
}
