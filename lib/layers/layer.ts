// The layer interface: what the union engine asks of one layer (a directory on disk or a tree in
// memory). Paths are relative to the layer root, '' is the root, components joined with '/'.
import type { Stats, StatsFs } from 'node:fs';

/** One directory entry as a layer lists it. */
export interface LayerDirent {
  name: string;
  /** One of the fs.constants S_IF* type bits (S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, ...). */
  type: number;
}

/** An open file in one layer. `fd` is set for layers on disk, so readers can go straight to it. */
export interface LayerHandle {
  readonly fd: number | null;
  read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  write(buf: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  stat(): Promise<Stats>;
  truncate(len: number): Promise<void>;
  sync(): Promise<void>;
  datasync(): Promise<void>;
  chmod(mode: number): Promise<void>;
  chown(uid: number, gid: number): Promise<void>;
  utimes(atime: number | Date, mtime: number | Date): Promise<void>;
  close(): Promise<void>;
}

/**
 * A layer. Lower layers are only read; the upper layer is also written. Every method rejects with
 * a Node-shaped error (its `path` may be the real path on disk: the union relabels it).
 */
export interface Layer {
  /** A stable identity for inode numbering and caches (the real path, or a memory layer's id). */
  readonly id: string;
  /** The directory on disk, or null for a memory layer. */
  readonly root: string | null;
  /** Whether xattrs (and so the overlay whiteout format) can be stored in this layer. */
  supportsXattrs(): Promise<boolean>;
  /** Whether this process can create 0/0 character devices here (the overlay whiteout). */
  canMknodWhiteout(): Promise<boolean>;

  lstat(rel: string): Promise<Stats>;
  readdir(rel: string): Promise<LayerDirent[]>;
  readlink(rel: string): Promise<string>;
  open(rel: string, flags: number, mode?: number): Promise<LayerHandle>;
  statfs(rel: string): Promise<StatsFs>;
  getxattr(rel: string, name: string): Promise<Buffer | null>;
  listxattr(rel: string): Promise<string[]>;

  mkdir(rel: string, mode: number): Promise<void>;
  rmdir(rel: string): Promise<void>;
  unlink(rel: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  link(existing: string, rel: string): Promise<void>;
  symlink(target: string, rel: string): Promise<void>;
  mknod(rel: string, mode: number, dev: number): Promise<void>;
  chmod(rel: string, mode: number): Promise<void>;
  lchown(rel: string, uid: number, gid: number): Promise<void>;
  lutimes(rel: string, atime: number | Date, mtime: number | Date): Promise<void>;
  truncate(rel: string, len: number): Promise<void>;
  setxattr(rel: string, name: string, value: Buffer, flags?: number): Promise<void>;
  removexattr(rel: string, name: string): Promise<void>;
  /**
   * Copies a regular file's data from `src` (a path in layer `from`) to `rel` in this layer,
   * creating or replacing it; reflinks when both are on disk and the filesystem can.
   */
  copyFileFrom(from: Layer, src: string, rel: string): Promise<void>;
}
