// The overlay driver: layers in the kernel overlayfs format (0/0 character-device whiteouts,
// overlay.opaque xattrs); views from the ufs engine, or (kernelMount, as root) real kernel overlay mounts.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { DriverCapabilities, DriverOptions, GetOpts, StatusPair, View } from './driver.js';
import type { LayerMeta } from './disk-base.js';
import { LayeredDriver } from './layered.js';
import { nearestExisting, registerDriver } from './registry.js';
import { randomId, removeTree, run } from './tree-ops.js';
import { DirLayer } from '../layers/dir-layer.js';
import { overlayFormat, overlayXattrPrefix } from '../layers/whiteout-overlay.js';
import { native, nativeLoadError } from '../native.js';
import { isErrno } from '../errors.js';

const LINK_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** A 26-character name for the short link to a layer (keeps kernel mount options short, as overlay2 does). */
function linkName(): string {
  const hex = randomId(26);
  let out = '';
  for (let i = 0; i < 26; i++) out += LINK_CHARS[parseInt(hex.slice(i * 2, i * 2 + 2), 16) % 32];
  return out;
}

function kernelHasOverlay(): boolean {
  try {
    return /\toverlay\n/.test(fs.readFileSync('/proc/filesystems', 'utf8'));
  } catch {
    return false;
  }
}

/** Whether `dir` is a mount point (per /proc/self/mountinfo). */
export function isMountPoint(dir: string): boolean {
  try {
    const text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
    const want = path.resolve(dir).replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
    return text.split('\n').some((l) => l.split(' ')[4] === want);
  } catch {
    return false;
  }
}

export class OverlayDriver extends LayeredDriver {
  readonly name = 'overlay';
  readonly format = overlayFormat;
  readonly kernelMount: boolean;
  private readonly bindMounts = new Map<string, string[]>();

  constructor(home: string, options: DriverOptions = {}) {
    super(home);
    this.kernelMount = options.kernelMount === true;
  }

  override async init(): Promise<this> {
    await super.init();
    await fsp.mkdir(path.join(this.home, 'l'), { recursive: true, mode: 0o700 });
    return this;
  }

  override capabilities(): DriverCapabilities {
    return { ...super.capabilities(), kernelMount: this.kernelMount, pathViews: this.kernelMount };
  }

  protected override async populate(dir: string, id: string, parent: string | null, rw: boolean, meta: LayerMeta): Promise<void> {
    await super.populate(dir, id, parent, rw, meta);
    const link = linkName();
    meta.link = link;
    await fsp.symlink(`../layers/${id}/diff`, path.join(this.home, 'l', link));
  }

  private mergedDir(id: string): string {
    return path.join(this.layerDir(id), 'merged');
  }

  protected override async openView(id: string, meta: LayerMeta, opts: GetOpts): Promise<View> {
    if (!this.kernelMount) return super.openView(id, meta, opts);
    const chain = await this.chain(id);
    const links: string[] = [];
    for (const c of meta.rw ? chain.slice(1) : chain) links.push(`./l/${String((await this.readMeta(c)).link)}`);
    // The kernel wants two lower layers when there is no upper one, and one at least with it.
    if (links.length < (meta.rw ? 1 : 2)) links.push('./empty');
    let options = `lowerdir=${links.join(':')}`;
    if (meta.rw) options += `,upperdir=./layers/${id}/diff,workdir=./layers/${id}/work`;
    const target = this.mergedDir(id);
    await fsp.mkdir(target, { recursive: true, mode: 0o755 });
    if (isMountPoint(target)) await run('umount', ['-l', target]);
    await run('mount', ['-t', 'overlay', 'overlay', '-o', options, target], { cwd: this.home });
    const binds: string[] = [];
    try {
      for (const v of opts.volumes ?? []) {
        const at = path.join(target, path.resolve('/', v.path));
        await fsp.mkdir(at, { recursive: true });
        await run('mount', ['--bind', v.hostdir, at]);
        binds.push(at);
        if (v.readonly) await run('mount', ['-o', 'remount,bind,ro', at]);
      }
    } catch (e) {
      for (const b of binds.reverse()) await run('umount', [b]).catch(() => undefined);
      await run('umount', [target]).catch(() => undefined);
      throw e;
    }
    this.bindMounts.set(id, binds);
    return { id, readonly: !meta.rw, fs: null, path: target };
  }

  protected override async closeView(view: View): Promise<void> {
    if (!this.kernelMount) return super.closeView(view);
    for (const b of (this.bindMounts.get(view.id) ?? []).reverse()) await run('umount', [b]);
    this.bindMounts.delete(view.id);
    if (view.path) await run('umount', [view.path]);
  }

  protected override async beforeRemove(id: string): Promise<void> {
    const merged = this.mergedDir(id);
    if (isMountPoint(merged)) await run('umount', ['-l', merged]);
    try {
      const meta = await this.readMeta(id);
      if (typeof meta.link === 'string') await fsp.rm(path.join(this.home, 'l', meta.link), { force: true });
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw e;
    }
  }

  /** Short links whose layer is gone (left by an interrupted create or remove). */
  private async danglingLinks(): Promise<string[]> {
    const dir = path.join(this.home, 'l');
    const out: string[] = [];
    let names: string[];
    try {
      names = await fsp.readdir(dir);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return [];
      throw e;
    }
    for (const n of names) {
      try {
        await fsp.stat(path.join(dir, n));
      } catch {
        out.push(path.join(dir, n));
      }
    }
    return out;
  }

  override async leftovers(): Promise<string[]> {
    return [...(await super.leftovers()), ...(await this.danglingLinks())].sort();
  }

  override async removeLeftovers(): Promise<string[]> {
    const all = await this.leftovers();
    for (const p of all) await removeTree(p);
    return all;
  }

  override async status(): Promise<StatusPair[]> {
    return [...(await super.status()), ['Kernel Mount', String(this.kernelMount)], ['Xattr Namespace', overlayXattrPrefix().slice(0, -1)]];
  }
}

registerDriver({
  name: 'overlay',
  description: 'layers in the kernel overlayfs format (0/0 whiteouts, opaque xattrs); ufs views or, as root, kernel mounts',
  priority: 10,
  persistent: true,
  async available(home, options) {
    if (!native()) return `the native addon is missing (${nativeLoadError()})`;
    const at = await nearestExisting(home);
    const probe = path.join(at, `.ufs-probe-${process.pid}-${randomId(4)}`);
    try {
      await fsp.mkdir(probe);
    } catch (e) {
      return `cannot write to ${at} (${(e as Error).message})`;
    }
    try {
      const layer = new DirLayer(probe);
      try {
        await layer.setxattr('', `${overlayXattrPrefix()}probe`, Buffer.from('y'));
      } catch (e) {
        return `the filesystem at ${at} does not take ${overlayXattrPrefix()}* xattrs (${(e as Error).message})`;
      }
      if (!(await layer.canMknodWhiteout())) return 'cannot create 0/0 character-device whiteouts here (needs root)';
    } finally {
      await removeTree(probe);
    }
    if (options?.kernelMount === true) {
      if (process.getuid?.() !== 0) return 'kernel mounts need root';
      if (!kernelHasOverlay()) return 'the kernel has no overlay filesystem';
    }
    return null;
  },
  async open(home, options) {
    return new OverlayDriver(home, options).init();
  },
});
