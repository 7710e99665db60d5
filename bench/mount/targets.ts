// The mount-level targets: the plain directory (the floor: the flat copy itself), the kernel's
// overlayfs, fuse-overlayfs and ufsmount, each mounted over the same lower layers with a fresh
// upper and work directory. Each finds out by a trial mount whether it can run here.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { bash, must, shq, sleep } from './proc.js';
import type { MountStack } from './data.js';

export interface Mounted {
  /** The directory the benchmark commands run against. */
  dir: string;
  unmount(): Promise<void>;
}

export interface MountTarget {
  id: string;
  label: string;
  role: 'floor' | 'reference' | 'subject';
  /** Changes land in the data set itself (the plain directory): write benchmarks put it back after each run. */
  inPlace: boolean;
  /** null when the target can mount here (tried under `probe`), or why not. */
  unavailable(probe: string): Promise<string | null>;
  /** Mounts `stack` with a fresh upper layer under `scratch`. */
  mount(stack: MountStack, scratch: string): Promise<Mounted>;
  /** Facts worth recording (versions, effective mount options), after a mount was made. */
  facts?(): string[];
}

const isRoot = process.getuid?.() === 0;
let serial = 0;

function lastLine(s: string): string {
  return s.trim().split('\n').filter(Boolean).pop() ?? '';
}

async function isMounted(dir: string): Promise<boolean> {
  const text = await fsp.readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  return text.split('\n').some((l) => l.split(' ')[4] === dir);
}

/** Unmounts `dir` (lazily when it is busy or its server is gone), then removes `rm` directories. */
async function unmountDir(dir: string, rm: string[]): Promise<void> {
  if (await isMounted(dir)) {
    const r = await bash(`umount ${shq(dir)}`);
    if (r.code !== 0) await bash(`umount -l ${shq(dir)}`);
  }
  for (const d of rm) await fsp.rm(d, { recursive: true, force: true }).catch(() => undefined);
}

interface OverlayLike {
  id: string;
  label: string;
  role: 'reference' | 'subject';
  /** The shell command that mounts; returns once the mount is live. */
  command(lower: string[], upper: string, work: string, mnt: string): string;
  /** A fast reason not to try (missing binary, no root...). */
  precheck(): Promise<string | null>;
  /** Wait after unmounting (a FUSE server ends on its own a moment later). */
  settleMs: number;
  facts?: (mnt: string) => Promise<string[]>;
}

function overlayTarget(spec: OverlayLike): MountTarget {
  let facts: string[] = [];
  let factsTaken = false;
  const mount = async (stack: MountStack, scratch: string): Promise<Mounted> => {
    const n = ++serial;
    const upper = path.join(scratch, `upper-${n}`);
    const work = path.join(scratch, `work-${n}`);
    const mnt = path.join(scratch, `mnt-${n}`);
    for (const d of [upper, work, mnt]) await fsp.mkdir(d, { recursive: true });
    const r = await bash(spec.command(stack.layers, upper, work, mnt), { timeoutMs: 60_000 });
    if (r.code !== 0 || !(await isMounted(mnt))) {
      await unmountDir(mnt, [upper, work, mnt]);
      throw new Error(`mount failed (exit ${r.code}): ${lastLine(r.stderr) || lastLine(r.stdout) || 'no mount appeared'}`);
    }
    if (!factsTaken && spec.facts) {
      factsTaken = true;
      facts = await spec.facts(mnt).catch(() => []);
    }
    return {
      dir: mnt,
      async unmount() {
        await unmountDir(mnt, []);
        if (spec.settleMs) await sleep(spec.settleMs);
        await unmountDir(mnt, [upper, work, mnt]);
      },
    };
  };
  return {
    id: spec.id,
    label: spec.label,
    role: spec.role,
    inPlace: false,
    mount,
    facts: () => facts,
    async unavailable(probe) {
      const pre = await spec.precheck();
      if (pre) return pre;
      // A trial mount of one small layer: the surest test that everything it needs is here.
      const base = path.join(probe, spec.id);
      const lower = path.join(base, 'lower');
      await fsp.mkdir(lower, { recursive: true });
      await fsp.writeFile(path.join(lower, 'probe'), 'probe\n');
      try {
        const m = await mount({ name: 'data', layers: [lower], flat: lower }, base);
        try {
          const got = await fsp.readFile(path.join(m.dir, 'probe'), 'utf8');
          if (got !== 'probe\n') return 'a trial mount showed the wrong contents';
        } finally {
          await m.unmount();
        }
        return null;
      } catch (e) {
        return (e as Error).message;
      } finally {
        await fsp.rm(base, { recursive: true, force: true }).catch(() => undefined);
      }
    },
  };
}

async function mountOptions(mnt: string): Promise<string> {
  return (await must(`findmnt -n -o FSTYPE,OPTIONS ${shq(mnt)}`)).trim().replace(/lowerdir=[^,]*,?|upperdir=[^,]*,?|workdir=[^,]*,?/g, '');
}

function hasBinary(name: string): Promise<boolean> {
  return bash(`command -v ${name}`).then((r) => r.code === 0);
}

export function plainTarget(): MountTarget {
  return {
    id: 'plain',
    label: 'plain dir',
    role: 'floor',
    inPlace: true,
    unavailable: async () => null,
    async mount(stack) {
      return { dir: stack.flat, unmount: async () => undefined };
    },
  };
}

export function kernelTarget(): MountTarget {
  return overlayTarget({
    id: 'kernel',
    label: 'kernel overlayfs',
    role: 'reference',
    settleMs: 0,
    async precheck() {
      if (!isRoot) return 'mount -t overlay needs root';
      const fsList = await fsp.readFile('/proc/filesystems', 'utf8').catch(() => '');
      if (!/\toverlay$/m.test(fsList)) return 'the kernel has no overlay filesystem';
      return null;
    },
    command: (lower, upper, work, mnt) => `mount -t overlay overlay -o ${shq(`lowerdir=${lower.join(':')},upperdir=${upper},workdir=${work}`)} ${shq(mnt)}`,
    facts: async (mnt) => [`kernel overlayfs mount options: ${await mountOptions(mnt)}`],
  });
}

export function fuseOverlayfsTarget(): MountTarget {
  return overlayTarget({
    id: 'fuse-overlayfs',
    label: 'fuse-overlayfs',
    role: 'reference',
    settleMs: 100,
    async precheck() {
      if (!(await hasBinary('fuse-overlayfs'))) return 'fuse-overlayfs is not installed (apt-get install fuse-overlayfs)';
      if (!fs.existsSync('/dev/fuse')) return 'no /dev/fuse';
      return null;
    },
    command: (lower, upper, work, mnt) => `fuse-overlayfs -o ${shq(`lowerdir=${lower.join(':')},upperdir=${upper},workdir=${work}`)} ${shq(mnt)}`,
    facts: async (mnt) => {
      const v = (await bash("fuse-overlayfs --version 2>&1 | grep -i '^fuse-overlayfs'")).stdout.trim();
      return [`fuse-overlayfs: ${v || 'version unknown'}; mount options: ${await mountOptions(mnt)}`];
    },
  });
}

/** How ufsmount is started: UFS_BENCH_UFSMOUNT, the build in dist/ when there is one, else the sources through tsx. */
export function ufsmountCommand(repo: string): string {
  const env = process.env.UFS_BENCH_UFSMOUNT;
  if (env) return env;
  const built = path.join(repo, 'dist', 'lib', 'cli', 'ufsmount.js');
  if (fs.existsSync(built)) return `${shq(process.execPath)} ${shq(built)}`;
  return `cd ${shq(repo)} && ${shq(process.execPath)} --import tsx ${shq(path.join(repo, 'lib', 'cli', 'ufsmount.ts'))}`;
}

/**
 * ufsmount as it mounts by default (the low-level binding, ufs-ll), or a variant: `env` before the
 * command (e.g. the high-level binding, UFS_FUSE_BINDING=ufs, whose writable mounts let the kernel
 * cache no attributes) and `extra` mount options (e.g. attr_timeout=1).
 */
export function ufsmountTarget(repo: string, variant: { id: string; label: string; extra?: string; env?: string } = { id: 'ufsmount', label: 'ufsmount' }): MountTarget {
  const cmd = `${variant.env ? `${variant.env} ` : ''}${ufsmountCommand(repo)}`;
  return overlayTarget({
    id: variant.id,
    label: variant.label,
    role: 'subject',
    settleMs: 400,
    async precheck() {
      if (!fs.existsSync('/dev/fuse')) return 'no /dev/fuse';
      if (!process.env.UFS_BENCH_UFSMOUNT && !fs.existsSync(path.join(repo, 'lib', 'cli', 'ufsmount.ts'))) return 'ufsmount is not built yet (lib/cli/ufsmount.ts is missing)';
      return null;
    },
    command: (lower, upper, work, mnt) => `${cmd} -o ${shq(`lowerdir=${lower.join(':')},upperdir=${upper},workdir=${work},whiteout=overlay${variant.extra ? `,${variant.extra}` : ''}`)} ${shq(mnt)}`,
    facts: async (mnt) => [`${variant.label} started as: ${cmd}${variant.extra ? ` -o ${variant.extra}` : ''}; mount options: ${await mountOptions(mnt)}`],
  });
}

export function mountTargets(repo: string): MountTarget[] {
  return [
    plainTarget(), kernelTarget(), fuseOverlayfsTarget(), ufsmountTarget(repo),
    ufsmountTarget(repo, { id: 'ufsmount-hl', label: 'ufsmount (high-level binding, UFS_FUSE_BINDING=ufs)', env: 'UFS_FUSE_BINDING=ufs' }),
  ];
}
