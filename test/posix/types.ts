// The shape a target must have to run the shared POSIX suite: the subset of node:fs/promises the
// suite calls (node:fs/promises itself fits), optional mknod/xattr calls, and the target description.

/** What `stat`, `lstat` and `FileHandle.stat` return (node's `Stats` fits). */
export interface PosixStats {
  dev: number;
  ino: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  size: number;
  blksize: number;
  blocks: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
  atime: Date;
  mtime: Date;
  ctime: Date;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
  isFIFO(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isSocket(): boolean;
}

/** What `readdir(path, { withFileTypes: true })` returns (node's `Dirent` fits). */
export interface PosixDirent {
  name: string;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
  isFIFO(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isSocket(): boolean;
}

/** What `statfs` returns (node's `StatFs` fits). */
export interface PosixStatFs {
  type: number;
  bsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
}

/** The FileHandle methods the suite uses (node's `FileHandle` fits). */
export interface PosixFileHandle {
  read(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number | null,
  ): Promise<{ bytesRead: number; buffer: Buffer }>;
  write(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number | null,
  ): Promise<{ bytesWritten: number; buffer: Buffer }>;
  truncate(len?: number): Promise<void>;
  stat(): Promise<PosixStats>;
  sync(): Promise<void>;
  datasync(): Promise<void>;
  chmod(mode: number): Promise<void>;
  chown(uid: number, gid: number): Promise<void>;
  utimes(atime: number | Date, mtime: number | Date): Promise<void>;
  close(): Promise<void>;
}

/** The node:fs/promises subset the suite calls, with node's names, arguments, results and errors. */
export interface PosixFsCore {
  stat(path: string): Promise<PosixStats>;
  lstat(path: string): Promise<PosixStats>;
  access(path: string, mode?: number): Promise<void>;
  readdir(path: string): Promise<string[]>;
  readdir(path: string, options: { withFileTypes: true }): Promise<PosixDirent[]>;
  readFile(path: string): Promise<Buffer>;
  readFile(path: string, encoding: 'utf8'): Promise<string>;
  writeFile(path: string, data: string | Uint8Array, options?: { flag?: string; mode?: number }): Promise<void>;
  appendFile(path: string, data: string | Uint8Array): Promise<void>;
  open(path: string, flags?: string | number, mode?: number): Promise<PosixFileHandle>;
  mkdir(path: string, options?: { recursive?: boolean; mode?: number }): Promise<string | undefined>;
  rmdir(path: string): Promise<void>;
  rm(path: string, options?: { recursive?: boolean; force?: boolean }): Promise<void>;
  unlink(path: string): Promise<void>;
  rename(oldPath: string, newPath: string): Promise<void>;
  link(existingPath: string, newPath: string): Promise<void>;
  symlink(target: string, path: string): Promise<void>;
  readlink(path: string): Promise<string>;
  realpath(path: string): Promise<string>;
  chmod(path: string, mode: number): Promise<void>;
  chown(path: string, uid: number, gid: number): Promise<void>;
  lchown(path: string, uid: number, gid: number): Promise<void>;
  utimes(path: string, atime: number | Date, mtime: number | Date): Promise<void>;
  lutimes(path: string, atime: number | Date, mtime: number | Date): Promise<void>;
  truncate(path: string, len?: number): Promise<void>;
  copyFile(src: string, dest: string, mode?: number): Promise<void>;
  statfs(path: string): Promise<PosixStatFs>;
}

/** Calls node:fs lacks; a target without one of them skips the cases that need it. */
export interface PosixFsExtras {
  /** mknod(2): `mode` carries the type bits (S_IFCHR, S_IFBLK, S_IFIFO), `dev` is glibc's makedev(). */
  mknod?(path: string, mode: number, dev: number): Promise<void>;
  mkfifo?(path: string, mode: number): Promise<void>;
  /** The l* variants (symlinks are not followed); a missing attribute is ENODATA. */
  getxattr?(path: string, name: string): Promise<Buffer>;
  setxattr?(path: string, name: string, value: Buffer | string): Promise<void>;
  listxattr?(path: string): Promise<string[]>;
  removexattr?(path: string, name: string): Promise<void>;
}

export type PosixFs = PosixFsCore & PosixFsExtras;

export interface PosixCaps {
  /** The process acts as root (may chown to anyone, read mode-0 files, create device nodes). */
  root: boolean;
  /** user.* extended attributes work (and the fs has the xattr calls). */
  xattr: boolean;
  /** Character and block device nodes can be created (root, and the fs has mknod). */
  mknodDevices: boolean;
  /** Hard links work. */
  hardlinks: boolean;
}

export interface PosixTarget {
  fs: PosixFs;
  /**
   * Maps a relative path ('a/b') to the path handed to fs ('/tmp/x/a/b', or '/a/b' for a union).
   * It must not normalise: 'a/../b', 'a/.' and a trailing '/' are passed through as written.
   */
  p(rel: string): string;
  /** A real directory other processes can look at, or null (an in-process union). */
  root: string | null;
  caps: PosixCaps;
  cleanup(): Promise<void>;
}
