// What the FUSE adapter needs of a filesystem: the fs/promises-shaped part of UnionFs it calls.
// UnionFs satisfies it structurally; so does any other object shaped like it.
import type fs from 'node:fs';

/** An open file of the target: positional I/O on the file wherever it lives (it survives copy-up). */
export interface TargetHandle {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  write(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  stat(): Promise<fs.Stats>;
  truncate(len: number): Promise<void>;
  sync(): Promise<void>;
  datasync(): Promise<void>;
  close(): Promise<void>;
}

/** The filesystem the adapter serves, addressed by union paths ('/a/b'). Errors are Node-shaped. */
export interface FuseTarget {
  lstat(path: string): Promise<fs.Stats>;
  access(path: string, mode?: number): Promise<void>;
  readdirPlus(path: string, opts?: { xattrs?: boolean }): Promise<Array<{ name: string; stats: fs.Stats; xattrs?: string[] }>>;
  open(path: string, flags: number, mode?: number): Promise<TargetHandle>;
  mkdir(path: string, options: { mode: number }): Promise<unknown>;
  rmdir(path: string): Promise<void>;
  unlink(path: string): Promise<void>;
  rename(oldPath: string, newPath: string): Promise<void>;
  link(existingPath: string, newPath: string): Promise<void>;
  symlink(target: string, path: string): Promise<void>;
  readlink(path: string): Promise<string>;
  chmod(path: string, mode: number): Promise<void>;
  lchown(path: string, uid: number, gid: number): Promise<void>;
  lutimes(path: string, atime: number | Date, mtime: number | Date): Promise<void>;
  truncate(path: string, len: number): Promise<void>;
  mknod(path: string, mode: number, dev: number): Promise<void>;
  statfs(path: string): Promise<fs.StatsFs>;
  getxattr(path: string, name: string): Promise<Buffer>;
  setxattr(path: string, name: string, value: Buffer, flags?: number): Promise<void>;
  listxattr(path: string): Promise<string[]>;
  removexattr(path: string, name: string): Promise<void>;
  close(): Promise<void>;
  /** Reports each copy-up as it happens (UnionFs.onCopyUp): lets the server follow changes node by node. */
  onCopyUp?(listener: (path: string) => void): () => void;
  /** Where the layers are on disk (UnionFs.layerDirs): lets the server read some listings itself. */
  layerDirs?(): { upper: string | null; lowers: string[]; whiteouts: 'overlay' | 'aufs'; metacopy?: boolean } | null;
  /** Longest union path accepted, when the target limits it: the server lifts the limit (see runServer). */
  pathMax?: number;
}
