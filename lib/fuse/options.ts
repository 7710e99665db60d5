// ufsmount's command line: flags, positionals and the FUSE/mount(8) part of `-o` (the union's own
// options are lib/options.ts's); the result is a MountConfig, every mistake a one-line UsageError.
import path from 'node:path';
import { parseMountOptions, type ParsedMountOptions, type UnionOptions } from '../options.js';

/** A user mistake on the command line: `message` is the one line to print. */
export class UsageError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 2) {
    super(message);
    this.name = 'UsageError';
    this.exitCode = exitCode;
  }
}

/** Everything ufsmount needs to mount one union. Paths are absolute. */
export interface MountConfig {
  /** The union's options (lib/options.ts), lowerdir topmost first, paths made absolute (empty for a store mount). */
  union: UnionOptions;
  /** Mount an image (read-only) or a container of a store instead of directories given as options. */
  store?: { ref: string; root?: string };
  mountpoint: string;
  /** The mount's source name (first positional of a mount helper call, or `fsname=`). */
  source: string;
  /** No upper layer, or `ro`: the mount is read-only and the kernel may cache everything for long. */
  readOnly: boolean;
  allowOther: boolean;
  allowRoot: boolean;
  defaultPermissions: boolean;
  foreground: boolean;
  debug: boolean;
  /** `big_writes` (default on) and `max_write`: how large a write request libfuse accepts. */
  bigWrites: boolean;
  maxWrite: number;
  /** Kernel cache timeouts in seconds; undefined means "choose from whether the union can change". */
  entryTimeout?: number;
  attrTimeout?: number;
  negativeTimeout?: number;
  /** Generic mount flags handed to libfuse as they are (nosuid, nodev, noexec, noatime...). */
  mountFlags: string[];
  /** Parts of the union change behind ufs (volumes: host directories): no attribute cache in the binding. */
  volatile?: boolean;
  /** Options accepted for overlayfs compatibility that change nothing here (index=, xino=...). */
  ignored: string[];
}

/** What one ufsmount invocation asks for. */
export type Command =
  | { kind: 'mount'; config: MountConfig }
  | { kind: 'unmount'; mountpoint: string; lazy: boolean }
  | { kind: 'help' }
  | { kind: 'version' };

// Mount flags libfuse 2's fuse_mount() understands and that mount(8) / mount.fuse3 pass along.
const PASS_FLAGS = new Set([
  'nosuid', 'suid', 'nodev', 'dev', 'noexec', 'exec', 'async', 'sync', 'dirsync', 'atime', 'noatime',
]);
// Accepted and dropped: mount(8) bookkeeping and options libfuse 2 does not take.
const DROP_FLAGS = new Set([
  'rw', 'defaults', 'auto', 'noauto', 'user', 'nouser', 'users', '_netdev', 'nofail', 'relatime',
  'norelatime', 'strictatime', 'lazytime', 'nolazytime', 'nodiratime', 'diratime', 'nonempty', 'silent',
  'loud', 'x-systemd.automount',
]);
// overlayfs options that describe kernel features ufs always has (or has no equivalent of).
const OVERLAY_COMPAT = new Set([
  'index', 'redirect_dir', 'metacopy', 'xino', 'nfs_export', 'uuid', 'volatile', 'userxattr', 'verity',
]);

function seconds(name: string, value: string): number {
  const n = Number(value);
  if (value === '' || !Number.isFinite(n) || n < 0) throw new UsageError(`ufsmount: bad value for ${name}: '${value}'`);
  return n;
}

interface FuseAcc {
  fsname?: string;
  /** undefined: allow_other when the server runs as root (like a kernel filesystem). */
  allowOther?: boolean;
  allowRoot: boolean;
  defaultPermissions: boolean;
  debug: boolean;
  bigWrites: boolean;
  maxWrite: number;
  entryTimeout?: number;
  attrTimeout?: number;
  negativeTimeout?: number;
  mountFlags: string[];
  ignored: string[];
}

/** Applies the options that are not the union's (lib/options.ts parsed those) to `acc`. */
function applyFuseOptions(acc: FuseAcc, options: readonly string[]): void {
  for (const raw of options) {
    const eq = raw.indexOf('=');
    const key = eq < 0 ? raw : raw.slice(0, eq);
    const value = eq < 0 ? undefined : raw.slice(eq + 1);
    const need = (): string => {
      if (value === undefined || value === '') throw new UsageError(`ufsmount: option ${key} needs a value`);
      return value;
    };
    switch (key) {
      case 'fsname': acc.fsname = need(); break;
      case 'allow_other': acc.allowOther = true; break;
      case 'noallow_other': acc.allowOther = false; break;
      case 'allow_root': acc.allowRoot = true; break;
      case 'default_permissions': acc.defaultPermissions = true; break;
      case 'debug': acc.debug = true; break;
      case 'big_writes': acc.bigWrites = true; break;
      case 'nobig_writes': acc.bigWrites = false; break;
      case 'max_write': {
        const n = Number(need());
        if (!Number.isInteger(n) || n < 4096 || n > 1 << 20) throw new UsageError(`ufsmount: bad value for max_write: '${value}' (4096..1048576)`);
        acc.maxWrite = n;
        break;
      }
      case 'timeout': acc.entryTimeout = acc.attrTimeout = seconds(key, need()); break;
      case 'entry_timeout': acc.entryTimeout = seconds(key, need()); break;
      case 'attr_timeout': acc.attrTimeout = seconds(key, need()); break;
      case 'negative_timeout': acc.negativeTimeout = seconds(key, need()); break;
      default:
        if (value === undefined && PASS_FLAGS.has(key)) acc.mountFlags.push(key);
        else if (value === undefined && DROP_FLAGS.has(key)) { /* mount(8) bookkeeping */ }
        else if (OVERLAY_COMPAT.has(key)) acc.ignored.push(raw);
        else throw new UsageError(`ufsmount: unknown option '${raw}'`);
    }
  }
}

/** The one-line text of an option error from lib/options.ts (a Node-shaped EINVAL). */
function optionError(e: unknown): UsageError {
  const msg = e instanceof Error ? e.message : String(e);
  return new UsageError(`ufsmount: ${msg.replace(/^EINVAL: /, '').replace(/, mount$/, '')}`);
}

export const USAGE = `usage: ufsmount -o lowerdir=L1[:L2...][,upperdir=U,workdir=W][,OPTIONS] [SOURCE] MOUNTPOINT
       ufsmount [--root DIR] [-o OPTIONS] IMAGE|CONTAINER MOUNTPOINT
       ufsmount -u MOUNTPOINT
options: ro, allow_other (the default as root), noallow_other, allow_root, default_permissions,
         whiteout=overlay|aufs, volume=HOSTDIR:/path, fsname=NAME, big_writes|nobig_writes,
         max_write=N, timeout=S, entry_timeout=S, attr_timeout=S, negative_timeout=S, debug,
         and the mount flags nosuid, nodev, noexec, noatime...
flags:   -f foreground, -d debug (implies -f), -u unmount, -z lazy unmount (with -u), -h help, -V version`;

/** Parses ufsmount's arguments (without node and the script). `cwd` resolves relative paths. */
export function parseArgs(argv: readonly string[], cwd = process.cwd()): Command {
  const acc: FuseAcc = {
    allowRoot: false, defaultPermissions: false, debug: false,
    bigWrites: true, maxWrite: 131072, mountFlags: [], ignored: [],
  };
  const optionStrings: string[] = [];
  const positional: string[] = [];
  let foreground = false;
  let root: string | undefined;
  let unmount = false;
  let lazy = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-o') {
      const v = argv[++i];
      if (v === undefined) throw new UsageError('ufsmount: -o needs an option string');
      optionStrings.push(v);
    } else if (a.startsWith('-o') && a.length > 2) optionStrings.push(a.slice(2));
    else if (a === '-f' || a === '--foreground') foreground = true;
    else if (a === '--root') {
      root = argv[++i];
      if (root === undefined) throw new UsageError('ufsmount: --root needs a directory');
    } else if (a.startsWith('--root=')) root = a.slice('--root='.length);
    else if (a === '-d' || a === '--debug') { acc.debug = true; foreground = true; }
    else if (a === '-u' || a === '--unmount') unmount = true;
    else if (a === '-z' || a === '--lazy') lazy = true;
    else if (a === '-s' || a === '-n' || a === '-v' || a === '-w') { /* libfuse / mount(8) flags with nothing to do here */ }
    else if (a === '-h' || a === '--help') return { kind: 'help' };
    else if (a === '-V' || a === '--version') return { kind: 'version' };
    else if (a === '--') { positional.push(...argv.slice(i + 1)); break; }
    else if (a.startsWith('-') && a !== '-') throw new UsageError(`ufsmount: unknown flag '${a}'`);
    else positional.push(a);
  }
  const abs = (p: string): string => path.resolve(cwd, p);

  if (unmount) {
    if (positional.length !== 1) throw new UsageError('ufsmount: -u needs exactly one MOUNTPOINT');
    return { kind: 'unmount', mountpoint: abs(positional[0]!), lazy };
  }
  if (positional.length === 0) throw new UsageError(optionStrings.length ? 'ufsmount: missing MOUNTPOINT' : USAGE);
  if (positional.length > 2) throw new UsageError(`ufsmount: too many arguments: ${positional.slice(2).join(' ')}`);
  const mountpoint = abs(positional[positional.length - 1]!);
  const sourceArg = positional.length === 2 ? positional[0]! : undefined;

  const hasLower = optionStrings.some((o) => o.split(',').some((x) => x.startsWith('lowerdir=')));
  // SOURCE MOUNTPOINT without lowerdir=: SOURCE is an image or a container of a store.
  const store = !hasLower && sourceArg !== undefined ? { ref: sourceArg, ...(root !== undefined ? { root: abs(root) } : {}) } : undefined;
  if (!store && root !== undefined) throw new UsageError('ufsmount: --root is for mounting an IMAGE or CONTAINER of a store');
  if (store && optionStrings.some((o) => /(^|,)(upperdir|workdir|whiteout|volume)=/.test(o))) {
    throw new UsageError('ufsmount: upperdir=, workdir=, whiteout= and volume= come from the store when mounting an IMAGE or CONTAINER');
  }
  let parsed: ParsedMountOptions;
  try {
    parsed = parseMountOptions(store ? [...optionStrings, 'lowerdir=/'] : optionStrings);
  } catch (e) {
    throw optionError(e);
  }
  if (store) parsed.union.lowerdir = [];
  applyFuseOptions(acc, parsed.other);

  const union: UnionOptions = { ...parsed.union, lowerdir: (parsed.union.lowerdir as string[]).map(abs) };
  if (typeof parsed.union.upperdir === 'string') union.upperdir = abs(parsed.union.upperdir);
  if (parsed.union.workdir !== undefined) union.workdir = abs(parsed.union.workdir);
  if (union.volumes) union.volumes = union.volumes.map((v) => ({ ...v, hostdir: abs(v.hostdir) }));
  const upperdir = union.upperdir as string | undefined;
  const workdir = union.workdir;
  if (upperdir !== undefined && workdir !== undefined) {
    if (upperdir === workdir) throw new UsageError('ufsmount: upperdir and workdir must be different directories');
    if (isInside(workdir, upperdir) || isInside(upperdir, workdir)) {
      throw new UsageError('ufsmount: workdir and upperdir must not contain one another');
    }
  }
  for (const d of [...(union.lowerdir as string[]), upperdir, workdir, ...(union.volumes ?? []).map((v) => v.hostdir)]) {
    if (d !== undefined && (d === mountpoint || isInside(d, mountpoint))) {
      throw new UsageError(`ufsmount: layer directory ${d} lies inside the mountpoint ${mountpoint}`);
    }
  }
  const config: MountConfig = {
    union,
    ...(store ? { store } : {}),
    mountpoint,
    source: acc.fsname ?? sourceArg ?? 'ufs',
    readOnly: parsed.readonly || upperdir === undefined,
    // As root, the mount serves every user, with the kernel checking permissions (as overlayfs
    // does); `noallow_other` keeps it to root.
    allowOther: acc.allowOther ?? (process.getuid?.() === 0 && !acc.allowRoot),
    allowRoot: acc.allowRoot,
    defaultPermissions: acc.defaultPermissions,
    foreground,
    debug: acc.debug,
    bigWrites: acc.bigWrites,
    maxWrite: acc.maxWrite,
    mountFlags: acc.mountFlags,
    ignored: acc.ignored,
  };
  if (acc.entryTimeout !== undefined) config.entryTimeout = acc.entryTimeout;
  if (acc.attrTimeout !== undefined) config.attrTimeout = acc.attrTimeout;
  if (acc.negativeTimeout !== undefined) config.negativeTimeout = acc.negativeTimeout;
  return { kind: 'mount', config };
}

/** True when `p` lies strictly inside directory `dir` (both absolute and normalised). */
export function isInside(p: string, dir: string): boolean {
  const rel = path.relative(dir, p);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}
