// The storage-driver interface (shaped like Docker's graphdriver and containers/storage): how a
// store keeps layers on disk (or in memory) and hands out merged views of a layer stack.
import type { Readable } from 'node:stream';
import type { UnionFs } from '../union.js';
import type { VolumeSpec } from '../options.js';

/** One change of a layer against its parent, as `docker diff` prints it. */
export interface Change {
  /** Absolute union path ('/etc/passwd'). */
  path: string;
  /** A: added, C: changed (content or metadata), D: deleted. */
  kind: 'A' | 'C' | 'D';
}

/** What a driver can do beyond the required core. */
export interface DriverCapabilities {
  /** Whiteout format of the layer directories on disk ('none' for vfs: deletions are real). */
  whiteout: 'overlay' | 'aufs' | 'none';
  /** Whether diff/changes come from the layer itself (true) or from the generic tree walk (false). */
  nativeDiff: boolean;
  /** Whether views are directories on disk (`View.path` is set). */
  pathViews: boolean;
  /** Whether the driver can hand out a kernel overlay mount instead of a ufs view. */
  kernelMount: boolean;
  /** Whether layers survive the process (false for memory). */
  persistent: boolean;
  /** Whether copies between layers are reflinked (vfs on a filesystem that supports it). */
  reflink: boolean;
  /**
   * Whether `create` copies the parent's files (vfs): a layer can then be created only once its parent
   * is applied. Otherwise a layer's files do not depend on its parent's and layers of one chain can be
   * applied at the same time once each one's parent is created.
   */
  createCopiesParent?: boolean;
}

/** Options of create / createReadWrite. */
export interface CreateOpts {
  /** Driver-specific key=value options (Docker's --storage-opt); unknown keys are refused. */
  storageOpt?: Record<string, string>;
}

/** Options of get. */
export interface GetOpts {
  /** Host directories mapped into the view (only for read-write layers' union views). */
  volumes?: VolumeSpec[];
}

/**
 * A merged view of a layer and its parents: `fs` (a UnionFs) and/or `path` (a directory on disk:
 * vfs, a kernel overlay mount), never neither. Release it with `driver.put(id)`.
 */
export interface View {
  id: string;
  readonly: boolean;
  /** The view as a UnionFs; null for a kernel overlay mount (use `path`). */
  fs: UnionFs | null;
  /** Where the view is a directory on disk; null for ufs-only views. */
  path: string | null;
}

/** A driver fact for `ufs info` / `status()`: [key, value] pairs like Docker's DriverStatus. */
export type StatusPair = [string, string];

export interface Driver {
  /** The registered name ('overlay', 'aufs', 'vfs', 'memory'). */
  readonly name: string;
  /** The driver's home directory (inside the store root). */
  readonly home: string;

  capabilities(): DriverCapabilities;

  /** Creates a read-only layer `id` on `parent` (null: a base layer), empty until applyDiff. */
  create(id: string, parent: string | null, opts?: CreateOpts): Promise<void>;
  /** Creates a read-write (container) layer `id` on `parent`. */
  createReadWrite(id: string, parent: string | null, opts?: CreateOpts): Promise<void>;
  /** Removes a layer; EBUSY while it has views out, ENOENT when it does not exist. */
  remove(id: string): Promise<void>;
  /** Hands out a merged view of `id` and its parents (reference counted, one per id). */
  get(id: string, opts?: GetOpts): Promise<View>;
  /** Releases one reference to the view of `id`; the last one closes (or unmounts) it. */
  put(id: string): Promise<void>;
  exists(id: string): Promise<boolean>;
  /** Every layer id this driver holds (for check/repair). */
  list(): Promise<string[]>;
  /** Debris of interrupted work (temp directories, stale mounts) that repair may remove. */
  leftovers(): Promise<string[]>;
  /** Removes the leftovers `leftovers()` reported (unmounting what is mounted). */
  removeLeftovers(): Promise<string[]>;
  /** Facts about the driver and its backing filesystem. */
  status(): Promise<StatusPair[]>;
  /** Per-layer facts (directories, parent, read-write...). */
  metadata(id: string): Promise<Record<string, string>>;
  /** The parent the layer was created on, as recorded by the driver. */
  parent(id: string): Promise<string | null>;

  /** The layer's changes against `parent` as an uncompressed tar with `.wh.` whiteouts (deterministic). */
  diff(id: string, parent: string | null): Promise<Readable>;
  changes(id: string, parent: string | null): Promise<Change[]>;
  /** Applies an uncompressed layer tar to the (fresh, read-only) layer `id`; returns the bytes it adds. */
  applyDiff(id: string, parent: string | null, tar: Readable): Promise<ApplyResult>;
  /** The bytes the layer's changes take (what `diff` would carry in file data). */
  diffSize(id: string, parent: string | null): Promise<number>;
  /** Releases every view this process holds and forgets process state. */
  cleanup(): Promise<void>;
}

export interface ApplyResult {
  /** sha256 of the tar stream as read. */
  diffID: string;
  /** Bytes of file data the layer adds (its diff size). */
  size: number;
}

/** Options every driver factory takes. */
export interface DriverOptions {
  /** overlay: hand out kernel overlay mounts (as root) instead of ufs views. */
  kernelMount?: boolean;
  /** Any other driver option, as strings (from `--storage-opt k=v`). */
  [key: string]: unknown;
}
