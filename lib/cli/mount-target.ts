// What ufsmount and `ufs mount` serve: a union of directories given as options, or an image
// (read-only) or a container (read-write) of a store, opened in the serving process.
import { UnionFs } from '../union.js';
import { Store } from '../store/store.js';
import { fsError, isErrno } from '../errors.js';
import type { MountConfig } from '../fuse/options.js';
import type { FuseTarget } from '../fuse/target.js';

/** `target` with close() replaced by `close` (the other methods stay bound to the original). */
function withClose(target: FuseTarget, close: () => Promise<void>): FuseTarget {
  return new Proxy(target, {
    get(t, prop) {
      if (prop === 'close') return close;
      const v = Reflect.get(t, prop, t) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}

/** Opens the store item `ref`: a container (tried first) or an image. Sets config.readOnly. */
async function openStoreItem(config: MountConfig, ref: string, root: string | undefined): Promise<FuseTarget> {
  const store = await Store.open({ ...(root !== undefined ? { root } : {}), create: false });
  try {
    let container = true;
    try {
      await store.container(ref);
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw e;
      container = false;
      await store.image(ref); // ENOENT when it is neither
    }
    const view = container ? await store.mountContainer(ref) : await store.mountImage(ref);
    const release = async (): Promise<void> => {
      await (container ? store.unmountContainer(ref) : store.releaseImage(ref)).catch(() => undefined);
      await store.close().catch(() => undefined);
    };
    if (!view.fs) {
      await release();
      throw fsError('EINVAL', 'mount', ref, undefined,
        `${ref} is already a kernel mount at ${view.path} (the store's driver mounts it itself); use that directory`);
    }
    config.readOnly = !container || view.readonly || config.union.readonly === true;
    if (container && (await store.container(ref)).volumes.length > 0) config.volatile = true;
    return withClose(view.fs, release);
  } catch (e) {
    await store.close().catch(() => undefined);
    if (isErrno(e, 'ENOENT') && !(e instanceof Error && /no ufs store/.test(e.message))) {
      throw new Error(`ufsmount: no image or container '${ref}' in the store`);
    }
    throw e;
  }
}

/** The filesystem a parsed ufsmount command line asks to serve. */
export async function openMountTarget(config: MountConfig): Promise<FuseTarget> {
  if (config.store) return openStoreItem(config, config.store.ref, config.store.root);
  return UnionFs.open(config.union);
}
