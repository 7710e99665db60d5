// One mounted union in the serving process: the libfuse options chosen for speed and correctness,
// the mount itself, and its end (unmounted from outside, SIGTERM/SIGINT/SIGHUP, or close()).
import { FuseAdapter } from './adapter.js';
import { mountAdapter, type BindingName } from './binding.js';
import { mountAt, readMounts, unmount } from './mountinfo.js';
import type { MountConfig } from './options.js';
import type { FuseTarget } from './target.js';
import { setSyncMetadata } from '../layers/dir-layer.js';

/** How long the kernel may trust what it learned from a union that can never change (seconds). */
export const IMMUTABLE_TIMEOUT = 86400;

/** How long the low-level binding lets the kernel trust a writable union (every change goes through it). */
export const LL_WRITABLE_TIMEOUT = 3600;

/**
 * The libfuse option list for a mount. libfuse 2's high-level API has one set of cache timeouts per
 * mount, so the choice is per mount: a read-only union (only immutable lower layers) lets the kernel
 * keep entries, attributes, negative lookups and page cache for a day; a writable union keeps
 * entries briefly (the kernel itself renames and drops them on changes it makes), attributes not at
 * all (a change through one hard link must show on the others, which libfuse names separately),
 * and page cache across opens only while size and mtime are unchanged (auto_cache). The low-level
 * binding (ufs-ll) gives hard links one kernel inode, so a writable union is cached for long too;
 * use_ino/readdir_ino/auto_cache/kernel_cache are high-level options it does not take.
 */
export function libfuseOptions(config: MountConfig, binding: BindingName = 'ufs'): string[] {
  const ro = config.readOnly;
  const o: string[] = [];
  const fsname = config.source.replace(/[\\,]/g, (c) => '\\' + c).slice(0, 200);
  o.push(`fsname=${fsname}`, 'subtype=ufsmount');
  if (config.debug) o.push('debug');
  if (config.allowOther) o.push('allow_other');
  if (config.allowRoot) o.push('allow_root');
  // Permission checks are the kernel's whenever other users can reach the mount.
  if (config.defaultPermissions || config.allowOther || config.allowRoot) o.push('default_permissions');
  if (ro) o.push('ro');
  o.push(...config.mountFlags);
  o.push('nonempty');
  if (binding !== 'ufs-ll') o.push('use_ino', 'readdir_ino');
  if (config.bigWrites) o.push('big_writes', `max_write=${config.maxWrite}`);
  o.push(`max_read=${Math.max(config.maxWrite, 131072)}`);
  if (binding === 'ufs-ll') {
    // One kernel inode per file and every change made through this mount: the kernel may keep
    // entries, attributes and negative lookups for long unless parts of the union change behind ufs.
    const volatile = config.volatile === true || (config.union.volumes?.length ?? 0) > 0;
    const long = ro ? IMMUTABLE_TIMEOUT : volatile ? undefined : LL_WRITABLE_TIMEOUT;
    o.push(`entry_timeout=${config.entryTimeout ?? long ?? 1}`);
    o.push(`negative_timeout=${config.negativeTimeout ?? long ?? 0}`);
    o.push(`attr_timeout=${config.attrTimeout ?? long ?? 0}`);
    return o;
  }
  o.push(`entry_timeout=${config.entryTimeout ?? (ro ? IMMUTABLE_TIMEOUT : 1)}`);
  o.push(`negative_timeout=${config.negativeTimeout ?? (ro ? IMMUTABLE_TIMEOUT : 0)}`);
  o.push(`attr_timeout=${config.attrTimeout ?? (ro ? IMMUTABLE_TIMEOUT : 0)}`);
  o.push(ro ? 'kernel_cache' : 'auto_cache');
  return o;
}

export interface Server {
  readonly mountpoint: string;
  readonly binding: BindingName;
  /** Resolves once the mount is gone and the union closed (with the reason). */
  readonly ended: Promise<string>;
  /** Unmounts (if still mounted), closes every handle and the union. */
  close(reason?: string): Promise<void>;
}

let guarded = false;

/**
 * A server must not die of one request's bug: the kernel would keep a dead mount. Unexpected
 * errors are logged on stderr and the mount goes on serving.
 */
function guardProcess(): void {
  if (guarded) return;
  guarded = true;
  const log = (e: unknown): void => {
    process.stderr.write(`ufsmount: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  };
  process.on('uncaughtException', log);
  process.on('unhandledRejection', log);
}

/**
 * Mounts `target` at `mountpoint` (already checked by preflight) and resolves once the kernel has
 * sent INIT, i.e. the mount is live. The process must not touch the mount itself.
 */
export async function serve(config: MountConfig, mountpoint: string, target: FuseTarget): Promise<Server> {
  guardProcess();
  process.umask(0); // the kernel already applied the caller's umask to every mode we receive
  // Layer metadata read synchronously (see setSyncMetadata); UFS_FUSE_ASYNC_METADATA=1 keeps libuv's pool.
  setSyncMetadata(process.env.UFS_FUSE_ASYNC_METADATA !== '1');
  // Errors are answers here (ENOENT, ENODATA... by the thousand): no stack traces to capture for
  // them, except when debugging (-d).
  if (!config.debug) Error.stackTraceLimit = 0;
  try {
    process.chdir('/'); // never keep a working directory inside anything we might mount over
  } catch { /* ignore */ }

  const adapter = new FuseAdapter(target, { readOnly: config.readOnly, attrCache: config.volatile !== true && (config.union.volumes?.length ?? 0) === 0 });
  const handles = adapter.handles;
  const mounted = await mountAdapter(mountpoint, adapter, (b) => libfuseOptions(config, b));
  const ours = await mountAt(mountpoint);
  const mountId = ours?.id;

  let endResolve!: (reason: string) => void;
  const ended = new Promise<string>((r) => (endResolve = r));
  let closing: Promise<void> | undefined;

  const close = (reason = 'closed'): Promise<void> => {
    if (closing) return closing;
    closing = (async () => {
      clearInterval(watch);
      for (const s of SIGNALS) process.removeListener(s, onSignal);
      if (await stillMounted()) {
        let err = await unmount(mountpoint, false);
        if (err !== undefined) err = await unmount(mountpoint, true);
        if (err !== undefined) process.stderr.write(`ufsmount: unmounting ${mountpoint}: ${err}\n`);
      }
      await handles.closeAll();
      await target.close().catch(() => undefined);
      endResolve(reason);
    })();
    return closing;
  };

  async function stillMounted(): Promise<boolean> {
    if (mountId === undefined) return (await mountAt(mountpoint)) !== undefined;
    return (await readMounts()).some((m) => m.id === mountId);
  }

  // Unmounted from outside (umount, fusermount -u, ufsmount -u): ufs's binding says so; with
  // fuse-native libfuse's loop ends silently, so the mount table is watched (read from /proc, never
  // through the mount).
  mounted.exited?.then(() => void close('unmounted'));
  const watch = setInterval(() => {
    stillMounted().then((yes) => {
      if (!yes) void close('unmounted');
    }, () => undefined);
  }, 250);

  const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
  const onSignal = (sig: NodeJS.Signals): void => {
    void close(sig);
  };
  for (const s of SIGNALS) process.on(s, onSignal);

  if (mounted.exited) clearInterval(watch);
  return { mountpoint, binding: mounted.binding, ended, close };
}
