// The in-process targets: node:fs on the flat directory (the floor), the ufs engine over layer
// directories in both whiteout formats, the engine over memory layers, and every storage driver
// from the registry. Each says why it cannot run here instead of failing.
import fsp from 'node:fs/promises';
import fs from 'node:fs';
import path from 'node:path';
import type { Stack } from './data.js';
import { UnionFs } from '../../lib/union.js';
import { MemLayer } from '../../lib/layers/mem-layer.js';
import { DirLayer } from '../../lib/layers/dir-layer.js';
import { aufsFormat } from '../../lib/layers/whiteout-aufs.js';
import { native, nativeLoadError } from '../../lib/native.js';
import { driverFactory, driverNames, type Driver, type View } from '../../lib/drivers/index.js';
import { layerToTar } from '../../lib/drivers/tar-bridge.js';

export interface BenchHandle {
  read(buf: Buffer, off: number, len: number, pos: number): Promise<unknown>;
  write(buf: Buffer, off: number, len: number, pos: number): Promise<unknown>;
  close(): Promise<void>;
}

/** The few node:fs/promises-shaped operations the benchmarks use (UnionFs and node:fs both have them). */
export interface BenchFs {
  stat(p: string): Promise<unknown>;
  readdir(p: string): Promise<unknown[]>;
  open(p: string, flags: string, mode?: number): Promise<BenchHandle>;
  chmod(p: string, mode: number): Promise<void>;
  unlink(p: string): Promise<void>;
  rename(a: string, b: string): Promise<void>;
}

/** A writable view of one stack through one target. */
export interface MicroView {
  fs: BenchFs;
  /** The path `fs` takes for a path relative to the stack's root. */
  path(rel: string): string;
  close(): Promise<void>;
}

export interface MicroTarget {
  id: string;
  label: string;
  role: 'floor' | 'reference' | 'subject';
  /** null when the target can run with its files under `tmp`, or why not. */
  unavailable(tmp: string): Promise<string | null>;
  /** Opens `stack` writable; `scratch` is an empty directory the target may use. */
  open(stack: Stack, scratch: string): Promise<MicroView>;
  /** Why the quick mode leaves out this stack for this target (too slow to set up), or null. */
  quickSkip?(stack: Stack): string | null;
  /** Releases what the target holds (driver homes, memory). */
  dispose(): Promise<void>;
}

const nodeFs: BenchFs = fsp as unknown as BenchFs;

function unionView(u: UnionFs): MicroView {
  return { fs: u as unknown as BenchFs, path: (rel) => `/${rel}`, close: () => u.close() };
}

const isRoot = process.getuid?.() === 0;

/** node:fs on the flat copy of the merged view: what any union costs more than. */
export function nodeFsTarget(): MicroTarget {
  return {
    id: 'node-fs',
    label: 'node:fs (flat dir)',
    role: 'floor',
    unavailable: async () => null,
    async open(stack) {
      return { fs: nodeFs, path: (rel) => path.join(stack.flat, rel), close: async () => undefined };
    },
    dispose: async () => undefined,
  };
}

/** The ufs engine over the layer directories, in one whiteout format, with a fresh upper layer. */
export function engineTarget(format: 'overlay' | 'aufs'): MicroTarget {
  return {
    id: `ufs-${format}`,
    label: `ufs engine (${format})`,
    role: 'subject',
    async unavailable() {
      if (format === 'aufs') return null;
      if (!native()) return `the native addon is missing (${nativeLoadError()})`;
      if (!isRoot) return 'the overlay format needs root (0/0 character-device whiteouts)';
      return null;
    },
    async open(stack, scratch) {
      const upper = path.join(scratch, 'upper');
      const work = path.join(scratch, 'work');
      await fsp.mkdir(upper, { recursive: true });
      await fsp.mkdir(work, { recursive: true });
      return unionView(await UnionFs.open({ lowerdir: stack.layers, upperdir: upper, workdir: work, whiteout: format }));
    },
    dispose: async () => undefined,
  };
}

/** Copies a layer directory into a MemLayer (directories, files, symlinks, modes). */
export async function memLayerOf(dir: string, name: string): Promise<MemLayer> {
  const m = new MemLayer(name);
  const walk = async (rel: string): Promise<void> => {
    const entries = await fsp.readdir(path.join(dir, rel), { withFileTypes: true });
    // Read from disk many at a time (each read is a thread-pool round trip), then fill the layer.
    for (let i = 0; i < entries.length; i += 64) {
      const batch = await Promise.all(
        entries.slice(i, i + 64).map(async (e) => {
          const r = rel ? `${rel}/${e.name}` : e.name;
          const abs = path.join(dir, r);
          const st = await fsp.lstat(abs);
          const data = e.isFile() ? await fsp.readFile(abs) : null;
          const link = e.isSymbolicLink() ? await fsp.readlink(abs) : null;
          return { e, r, st, data, link };
        }),
      );
      for (const { e, r, st, data, link } of batch) {
        if (e.isDirectory()) {
          await m.mkdir(r, st.mode & 0o7777);
          await m.chmod(r, st.mode & 0o7777);
          await walk(r);
        } else if (link !== null) {
          await m.symlink(link, r);
        } else if (data) {
          const h = await m.open(r, fs.constants.O_CREAT | fs.constants.O_WRONLY, st.mode & 0o7777);
          await h.write(data, 0, data.length, 0);
          await h.close();
          await m.chmod(r, st.mode & 0o7777);
        }
      }
    }
  };
  await walk('');
  return m;
}

/** The ufs engine over memory layers (aufs format), upper layer in memory too. */
export function memTarget(): MicroTarget {
  const cache = new Map<string, MemLayer[]>();
  return {
    id: 'ufs-mem',
    label: 'ufs engine (memory layers)',
    role: 'subject',
    unavailable: async () => null,
    async open(stack) {
      let lowers = cache.get(stack.name);
      if (!lowers) {
        lowers = [];
        for (const [i, d] of stack.layers.entries()) lowers.push(await memLayerOf(d, `${stack.name}-${i}`));
        cache.set(stack.name, lowers);
      }
      return unionView(await UnionFs.open({ lowerdir: lowers, upperdir: new MemLayer(`${stack.name}-upper`), whiteout: 'aufs' }));
    },
    async dispose() {
      cache.clear();
    },
  };
}

/**
 * A storage driver from the registry: the stack's layers imported with applyDiff (as tar), a
 * read-write layer on top, and the driver's view of it (its UnionFs, or node:fs on its directory).
 */
export function driverTarget(name: string, options: { kernelMount?: boolean } = {}): MicroTarget {
  const id = `driver-${name}${options.kernelMount ? '-kernel' : ''}`;
  let driver: Driver | null = null;
  let home = '';
  const views: string[] = [];
  return {
    id,
    label: `driver ${name}${options.kernelMount ? ' (kernel mount)' : ''}`,
    role: 'subject',
    quickSkip(stack) {
      // Importing the work stack (hundreds of MiB) through tar takes about 20 s per driver, and vfs
      // copies every layer into the next (100 layers: about 20 s): the full mode does both.
      if (stack.name === 'work') return 'quick mode runs the drivers on the lookup stacks only';
      return name === 'vfs' && stack.layers.length > 20 ? `quick mode skips vfs on ${stack.layers.length} layers (each layer is a full copy)` : null;
    },
    async unavailable(tmp) {
      try {
        return await driverFactory(name).available(path.join(tmp, 'targets', id, 'driver-home'), options);
      } catch (e) {
        return (e as Error).message;
      }
    },
    async open(stack, scratch) {
      if (!driver) {
        home = path.join(scratch, '..', 'driver-home');
        driver = await driverFactory(name).open(home, options);
      }
      let parent: string | null = null;
      for (let i = stack.layers.length - 1; i >= 0; i--) {
        const lid = `${stack.name}-L${i}`;
        await driver.create(lid, parent);
        await driver.applyDiff(lid, parent, layerToTar(new DirLayer(stack.layers[i]!), aufsFormat));
        parent = lid;
      }
      const rw = `${stack.name}-rw`;
      await driver.createReadWrite(rw, parent);
      const view: View = await driver.get(rw);
      views.push(rw);
      const d = driver;
      const close = async (): Promise<void> => {
        await d.put(rw);
      };
      if (view.fs) return { ...unionView(view.fs), close };
      const root = view.path!;
      return { fs: nodeFs, path: (rel) => path.join(root, rel), close };
    },
    async dispose() {
      if (driver) await driver.cleanup().catch(() => undefined);
      driver = null;
      if (home) await fsp.rm(home, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}

/** Every in-process target, floor first. */
export function microTargets(): MicroTarget[] {
  const drivers = driverNames().flatMap((n) => (n === 'overlay' ? [driverTarget(n), driverTarget(n, { kernelMount: true })] : [driverTarget(n)]));
  return [nodeFsTarget(), engineTarget('overlay'), engineTarget('aufs'), memTarget(), ...drivers];
}
