// Which libfuse binding serves a mount: ufs's low-level one (ufs-ll: lib/fuse/native/ufs_fuse_ll.c)
// when built, else ufs's high-level one (ufs: ufs_fuse.c), else fuse-native;
// UFS_FUSE_BINDING=ufs-ll|ufs|fuse-native forces one.
import type { FuseAdapter } from './adapter.js';
import { FuseUnavailable, loadFuseNative, mountWithFuseNative } from './fuse-native.js';
import { loadUfsBinding, mountWithUfsBinding, ufsBindingError } from './ufs-binding.js';
import { loadUfsLlBinding, mountWithUfsLlBinding, ufsLlBindingError } from './ufs-ll-binding.js';

export { FuseUnavailable } from './fuse-native.js';

export type BindingName = 'ufs' | 'ufs-ll' | 'fuse-native';

/** The binding a mount made now would use; throws FuseUnavailable when none can be loaded. */
export function chooseBinding(): BindingName {
  const forced = process.env.UFS_FUSE_BINDING;
  if (forced === 'ufs-ll') {
    if (!loadUfsLlBinding()) throw new FuseUnavailable(`ufs_fuse_ll: ${ufsLlBindingError()}`);
    return 'ufs-ll';
  }
  if (forced === 'ufs') {
    if (!loadUfsBinding()) throw new FuseUnavailable(`ufs_fuse: ${ufsBindingError()}`);
    return 'ufs';
  }
  if (forced !== 'fuse-native' && loadUfsLlBinding()) return 'ufs-ll';
  if (forced !== 'fuse-native' && loadUfsBinding()) return 'ufs';
  loadFuseNative();
  return 'fuse-native';
}

export interface Mounted {
  binding: BindingName;
  /** Resolves when libfuse's loop has ended (ufs bindings only; fuse-native never says). */
  exited?: Promise<void>;
}

/** Mounts `adapter` at `mountpoint` with the chosen binding; resolves once the mount is live. */
export async function mountAdapter(mountpoint: string, adapter: FuseAdapter, libfuseOptions: (b: BindingName) => string[]): Promise<Mounted> {
  const binding = chooseBinding();
  if (binding === 'ufs-ll') {
    const { exited } = await mountWithUfsLlBinding(mountpoint, adapter, libfuseOptions(binding));
    return { binding, exited };
  }
  if (binding === 'ufs') {
    const { exited } = await mountWithUfsBinding(mountpoint, adapter, libfuseOptions(binding));
    return { binding, exited };
  }
  await mountWithFuseNative(mountpoint, adapter, libfuseOptions(binding));
  return { binding };
}
