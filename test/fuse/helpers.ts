// Test helpers for ufsmount: run the real command in child processes (never serving a mount from
// the test process), make layer directories, find and wait for mounts, and clean up after a test.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { addonCandidates, loadUfsBinding } from '../../lib/fuse/ufs-binding.js';
import { loadUfsLlBinding } from '../../lib/fuse/ufs-ll-binding.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = path.join(ROOT, 'lib', 'cli', 'ufsmount.ts');
/** How a child process runs the TypeScript sources (tsx's loader by absolute URL: any cwd works). */
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
export const NODE_ARGS = ['--import', TSX, CLI];

export const isRoot = process.getuid?.() === 0;
export const hasDevFuse = fs.existsSync('/dev/fuse');
const LIBFUSE_PATHS = ['/lib/x86_64-linux-gnu/libfuse.so.2', '/usr/lib/x86_64-linux-gnu/libfuse.so.2', '/usr/lib/libfuse.so.2', '/lib/aarch64-linux-gnu/libfuse.so.2'];
export const libfusePath = LIBFUSE_PATHS.find((p) => fs.existsSync(p));
export const hasLibfuse = libfusePath !== undefined;
// ufs's bindings are what ufsmount uses wherever they can be built: build them for the tests when the
// install has not (the build script says why it cannot and exits 0; then fuse-native serves). The
// low-level one (ufs_fuse_ll.c) is the default; UFS_FUSE_BINDING=ufs runs the tests over the
// high-level one (ufs_fuse.c), UFS_FUSE_BINDING=fuse-native over fuse-native.
const forced = process.env.UFS_FUSE_BINDING;
const built = (f: string): boolean => fs.existsSync(forced === 'ufs' ? f : f.replace(/ufs_fuse\.node$/, 'ufs_fuse_ll.node'));
if (forced !== 'fuse-native' && !addonCandidates().some(built)) {
  spawnSync(process.execPath, [path.join(ROOT, 'lib', 'fuse', 'native', 'build.mjs')], { stdio: 'ignore', timeout: 120_000 });
}

/** The binding mounts made by ufsmount use (as lib/fuse/binding.ts chooses it). */
export const binding: 'ufs' | 'ufs-ll' | 'fuse-native' =
  forced === 'fuse-native' ? 'fuse-native'
    : forced !== 'ufs' && loadUfsLlBinding() !== null ? 'ufs-ll'
      : forced !== 'ufs-ll' && loadUfsBinding() !== null ? 'ufs' : 'fuse-native';
/** ufs's bindings: caller credentials, both times in ns, open flags on create. */
export const fullBinding = binding !== 'fuse-native';

/** Whether mounts can be made here at all (root, /dev/fuse, libfuse2). */
export const canMount = isRoot && hasDevFuse && hasLibfuse;

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs any command; resolves with its exit code and output (never rejects on a non-zero exit). */
export function run(cmd: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; timeout?: number } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args as string[], { env: opts.env ?? process.env, timeout: opts.timeout ?? 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** Runs `ufsmount ARGS` (the TypeScript sources through tsx) and waits for it to exit. */
export function ufsmount(args: readonly string[], env?: NodeJS.ProcessEnv): Promise<RunResult> {
  return run(process.execPath, [...NODE_ARGS, ...args], env ? { env } : {});
}

/** Starts `ufsmount -f ARGS` (foreground) as a child; the test owns that process. */
export function ufsmountForeground(args: readonly string[]): ChildProcess & { output: () => string } {
  const child = spawn(process.execPath, [...NODE_ARGS, '-f', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return Object.assign(child, { output: () => out });
}

export interface Layers {
  base: string;
  l1: string;
  l2: string;
  upper: string;
  work: string;
  mnt: string;
  /** `lowerdir=l1:l2,upperdir=upper,workdir=work` */
  opts: string;
}

const bases: string[] = [];

/** Two lower layers (l1 on top of l2), an upper and a work dir, an empty mountpoint. */
export async function makeLayers(): Promise<Layers> {
  const base = await fsp.mkdtemp(path.join(os.tmpdir(), 'ufs-fuse-'));
  bases.push(base);
  const d = (n: string): string => path.join(base, n);
  for (const n of ['l1', 'l2', 'upper', 'work', 'mnt']) await fsp.mkdir(d(n));
  await fsp.writeFile(d('l2/lower.txt'), 'from l2\n');
  await fsp.writeFile(d('l2/shadowed.txt'), 'l2 version\n');
  await fsp.writeFile(d('l1/shadowed.txt'), 'l1 version\n');
  await fsp.mkdir(d('l2/dir/sub'), { recursive: true });
  await fsp.writeFile(d('l2/dir/a'), 'a\n');
  await fsp.writeFile(d('l2/dir/sub/b'), 'b\n');
  await fsp.mkdir(d('l1/dir'));
  await fsp.writeFile(d('l1/dir/c'), 'c\n');
  await fsp.symlink('lower.txt', d('l2/link'));
  return {
    base, l1: d('l1'), l2: d('l2'), upper: d('upper'), work: d('work'), mnt: d('mnt'),
    opts: `lowerdir=${d('l1')}:${d('l2')},upperdir=${d('upper')},workdir=${d('work')}`,
  };
}

/** A union over a lower layer served by another ufsmount (see mountOverLowerMount). */
export interface StoppableLower {
  /** The lower ufsmount's mountpoint and its server's pid (SIGSTOP it to make the layer hang). */
  lowerMnt: string;
  lowerServer: number | undefined;
  /** Lets the lower server go on and unmounts both (for afterAll). */
  release(): Promise<void>;
}

/**
 * Mounts L.mnt as a union whose only lower layer is `d` inside another ufsmount of L.l1 (`prepare`
 * fills L.l1/d first): stopping that server makes every request of the union that reaches the
 * layer wait, in JavaScript or in C.
 */
export async function mountOverLowerMount(L: Layers, prepare: (dir: string) => Promise<void>): Promise<StoppableLower> {
  const lowerMnt = path.join(L.base, 'lower-mnt');
  await fsp.mkdir(lowerMnt);
  await fsp.mkdir(path.join(L.l1, 'd'));
  await prepare(path.join(L.l1, 'd'));
  let r = await ufsmount(['-o', `lowerdir=${L.l1}`, lowerMnt]);
  if (r.code !== 0) throw new Error(r.stderr);
  const lowerServer = serverPids(lowerMnt)[0];
  r = await ufsmount(['-o', `lowerdir=${path.join(lowerMnt, 'd')},upperdir=${L.upper},workdir=${L.work}`, L.mnt]);
  if (r.code !== 0) throw new Error(r.stderr);
  return {
    lowerMnt,
    lowerServer,
    async release() {
      if (lowerServer !== undefined) process.kill(lowerServer, 'SIGCONT');
      if (mountedType(L.mnt)) await ufsmount(['-u', L.mnt]);
      if (mountedType(lowerMnt)) await ufsmount(['-u', lowerMnt]);
    },
  };
}

/** The kernel forgets its unused dentries and inodes: the next stat of each name is a LOOKUP again. */
export function forgetDentries(): void {
  fs.writeFileSync('/proc/sys/vm/drop_caches', '2');
}

/** What a mount with UFS_FUSE_STATS=file wrote at its end (lib/fuse/ufs-ll-binding.ts writeStats). */
export interface BindingCounters {
  /** Per operation: [answered in C, handed to JavaScript]. */
  ops: Record<string, [number, number]>;
  /** Listings read from the layers in C. */
  listingsC: number;
  /** Entries handed out with their attributes by READDIRPLUS. */
  plusEntries: number;
}

export async function bindingCounters(file: string): Promise<BindingCounters> {
  await waitFor(() => fs.existsSync(file), 20_000, 'the stats file');
  return JSON.parse(await fsp.readFile(file, 'utf8')) as BindingCounters;
}

/** The per-operation counters a mount with UFS_FUSE_STATS=file wrote at its end: [in C, in JavaScript]. */
export async function bindingStats(file: string): Promise<Record<string, [number, number]>> {
  return (await bindingCounters(file)).ops;
}

/** A writable mount of fresh layers for one describe block (mountLayersForSuite). */
export interface SuiteMount {
  /** The layers (set once the suite's beforeAll ran). */
  readonly L: Layers;
  /** A path inside the mount. */
  m(rel: string): string;
}

/**
 * Makes fresh layers and mounts them with `ufsmount` in the calling describe block's beforeAll
 * (after `prepare`, with `extra` -o options and `env`), and unmounts them in its afterAll.
 */
export function mountLayersForSuite(o: { extra?: string; env?: NodeJS.ProcessEnv; prepare?: (L: Layers) => Promise<void> } = {}): SuiteMount {
  let layers: Layers | undefined;
  const get = (): Layers => {
    if (!layers) throw new Error('the suite mount is made in beforeAll');
    return layers;
  };
  beforeAll(async () => {
    const L = await makeLayers();
    layers = L;
    await o.prepare?.(L);
    const r = await ufsmount(['-o', o.extra ? `${L.opts},${o.extra}` : L.opts, L.mnt], o.env);
    if (r.code !== 0) throw new Error(r.stderr);
  });
  afterAll(async () => {
    if (layers && mountedType(layers.mnt)) await ufsmount(['-u', layers.mnt]);
  });
  return {
    get L() {
      return get();
    },
    m: (rel) => path.join(get().mnt, rel),
  };
}

/** The mount at `mp` as /proc/self/mountinfo lists it (fstype), or undefined. */
export function mountedType(mp: string): string | undefined {
  let found: string | undefined;
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[4] === mp) {
      const sep = f.indexOf('-', 6);
      found = f[sep + 1];
    }
  }
  return found;
}

export async function waitFor(cond: () => boolean | Promise<boolean>, ms = 20_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The pids of ufsmount servers whose command line names `mp` (there should be at most one). */
export function serverPids(mp: string): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const args = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
      if (args.includes(CLI) && args.includes(mp)) out.push(Number(e));
    } catch { /* gone */ }
  }
  return out;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Undoes whatever a test left: unmounts (lazily) every mount under our temp dirs, kills their servers, removes the dirs. */
export async function cleanupAll(): Promise<void> {
  for (const base of bases.splice(0)) {
    const mp = path.join(base, 'mnt');
    for (const pid of serverPids(mp)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch { /* gone */ }
    }
    for (let i = 0; i < 5 && mountedType(mp) !== undefined; i++) await run('umount', ['-l', mp]);
    await fsp.rm(base, { recursive: true, force: true }).catch(() => undefined);
  }
}
