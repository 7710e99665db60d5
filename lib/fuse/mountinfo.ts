// What the kernel says about mounts, read from /proc/self/mountinfo (never by touching a mount),
// and the two ways to end one: a clean unmount and a lazy one for stale mounts of dead servers.
import { execFile } from 'node:child_process';
import fs from 'node:fs';

export interface MountEntry {
  id: number;
  mountpoint: string;
  fstype: string;
  source: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo octal. */
function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (sep < 0 || f.length < sep + 3) continue;
    out.push({
      id: Number(f[0]),
      mountpoint: unescapeOctal(f[4]!),
      fstype: f[sep + 1]!,
      source: unescapeOctal(f[sep + 2]!),
    });
  }
  return out;
}

export async function readMounts(): Promise<MountEntry[]> {
  return parseMountinfo(await fs.promises.readFile('/proc/self/mountinfo', 'utf8'));
}

/** The topmost mount at `mountpoint` (an absolute, symlink-free path), if any. */
export async function mountAt(mountpoint: string): Promise<MountEntry | undefined> {
  const all = await readMounts();
  let found: MountEntry | undefined;
  for (const m of all) if (m.mountpoint === mountpoint) found = m;
  return found;
}

export function isFuse(m: MountEntry): boolean {
  return m.fstype === 'fuse' || m.fstype.startsWith('fuse.') || m.fstype === 'fuseblk';
}

function run(cmd: string, args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 30_000 }, (err, _stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 127) : 0;
      resolve({ code, stderr: String(stderr).trim() });
    });
  });
}

/**
 * Unmounts a FUSE mount: umount(8) as root, fusermount otherwise; `lazy` detaches it even when
 * busy (the only way to clear the stale mount of a killed server). Resolves with an error line or
 * undefined on success.
 */
export async function unmount(mountpoint: string, lazy: boolean): Promise<string | undefined> {
  const root = process.getuid?.() === 0;
  const attempts: Array<[string, string[]]> = root
    ? [['umount', lazy ? ['-l', mountpoint] : [mountpoint]], ['fusermount', [lazy ? '-uz' : '-u', mountpoint]]]
    : [['fusermount', [lazy ? '-uz' : '-u', mountpoint]], ['fusermount3', [lazy ? '-uz' : '-u', mountpoint]]];
  let last = '';
  for (const [cmd, args] of attempts) {
    const r = await run(cmd, args);
    if (r.code === 0) return undefined;
    last = r.stderr.split('\n').pop() || `${cmd} exited with ${r.code}`;
  }
  return last;
}

/** Whether `mountpoint` is the stale mount of a dead FUSE server (stat fails with ENOTCONN). */
export async function isStale(mountpoint: string): Promise<boolean> {
  try {
    await fs.promises.stat(mountpoint);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOTCONN';
  }
}
