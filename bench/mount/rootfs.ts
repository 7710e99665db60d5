// A realistic root filesystem in three layers, reproducible on any Debian machine: the files of the
// installed packages of Priority "required" (the same set on every Debian of one release), dealt
// round-robin by package name into a bottom, middle and top layer, plus top-layer changes: modified
// files, whiteouts (0/0 character devices) and an opaque directory, in the overlay format.
import { createHash } from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { must, shq } from './proc.js';
import type { MountStack } from './data.js';

export interface RootfsInfo {
  packages: string[];
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  whiteouts: number;
  modified: number;
  /** sha256 of the sorted "path type size mode" lines of the merged view: equal on two machines means the same data. */
  manifest: string;
}

type Kind = 'file' | 'dir' | 'symlink';
interface Entry {
  rel: string;
  kind: Kind;
  mode: number;
  src: string;
  size: number;
  target?: string;
}

/** The installed packages of Priority required, "name=version", sorted by name. */
async function requiredPackages(): Promise<string[]> {
  let out: string;
  try {
    out = await must("dpkg-query -W -f='${Package}\\t${Version}\\t${Priority}\\t${db:Status-Abbrev}\\n'");
  } catch (e) {
    throw new Error(`the root filesystem data set needs a Debian system (dpkg-query): ${(e as Error).message}`);
  }
  return out
    .split('\n')
    .map((l) => l.split('\t'))
    .filter((f) => f[2] === 'required' && f[3]?.startsWith('ii'))
    .map((f) => `${f[0]}=${f[1]}`)
    .sort();
}

/** The entries a package installed, on their canonical paths (a usrmerge /bin/cat is /usr/bin/cat). */
async function packageEntries(pkg: string, seen: Set<string>): Promise<Entry[]> {
  const list = await must(`dpkg-query -L ${pkg.split('=')[0]!}`);
  const out: Entry[] = [];
  for (const line of list.split('\n')) {
    if (!line.startsWith('/') || line === '/.') continue;
    let real: string;
    try {
      real = path.join(await fsp.realpath(path.dirname(line)), path.basename(line));
    } catch {
      continue;
    }
    if (seen.has(real) || /^\/(proc|sys|dev|run|tmp)(\/|$)/.test(real)) continue;
    let st;
    try {
      st = await fsp.lstat(real);
    } catch {
      continue; // listed but removed (a conffile deleted by the admin, a diversion)
    }
    const kind: Kind | null = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : null;
    if (!kind) continue;
    seen.add(real);
    const e: Entry = { rel: real.slice(1), kind, mode: st.mode & 0o7777, src: real, size: kind === 'file' ? st.size : 0 };
    if (kind === 'symlink') e.target = await fsp.readlink(real);
    out.push(e);
  }
  return out;
}

/** Makes every directory of `rel` inside `root` (modes from the host's directories). */
async function ensureParents(root: string, rel: string): Promise<void> {
  const parts = rel.split('/').slice(0, -1);
  let cur = '';
  for (const p of parts) {
    cur = cur ? `${cur}/${p}` : p;
    try {
      await fsp.mkdir(path.join(root, cur));
      const st = await fsp.stat(`/${cur}`).catch(() => null);
      await fsp.chmod(path.join(root, cur), st ? st.mode & 0o7777 : 0o755);
    } catch (e) {
      if ((e as { code?: string }).code !== 'EEXIST') throw e;
    }
  }
}

async function place(root: string, e: Entry): Promise<void> {
  await ensureParents(root, e.rel);
  const to = path.join(root, e.rel);
  if (e.kind === 'dir') {
    await fsp.mkdir(to, { recursive: true });
    await fsp.chmod(to, e.mode);
  } else if (e.kind === 'symlink') {
    await fsp.rm(to, { force: true, recursive: true });
    await fsp.symlink(e.target!, to);
  } else {
    await fsp.rm(to, { force: true, recursive: true });
    await fsp.copyFile(e.src, to);
    await fsp.chmod(to, e.mode);
  }
}

/** Builds the three layers (L0 top, L2 bottom) and the flat merged copy under `base`. */
export async function buildRootfs(base: string): Promise<{ stack: MountStack; info: RootfsInfo }> {
  const packages = await requiredPackages();
  const layers = [0, 1, 2].map((i) => path.join(base, `L${i}`));
  const flat = path.join(base, 'flat');
  for (const d of [...layers, flat]) await fsp.mkdir(d, { recursive: true });
  const seen = new Set<string>();
  const perLayer: Entry[][] = [[], [], []];
  // Package i goes to layer 2 - (i % 3): the bottom layer gets the first package, and so on.
  for (const [i, pkg] of packages.entries()) perLayer[2 - (i % 3)]!.push(...(await packageEntries(pkg, seen)));
  for (const l of perLayer) l.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  // Bottom first, into each layer and into the flat copy.
  for (const i of [2, 1, 0]) {
    for (const e of perLayer[i]!) {
      await place(layers[i]!, e);
      await place(flat, e);
    }
  }
  // Top-layer changes: one bottom-layer doc directory made opaque, every 10th bottom-layer file
  // under etc/ or usr/share/doc/ modified, every 25th middle-layer file deleted (whiteout).
  const top = layers[0]!;
  const opaque = perLayer[2]!.find((e) => e.kind === 'dir' && /^usr\/share\/doc\/[^/]+$/.test(e.rel));
  const inOpaque = (rel: string): boolean => opaque !== undefined && rel.startsWith(`${opaque.rel}/`);
  if (opaque) {
    const d = path.join(top, opaque.rel);
    await ensureParents(top, opaque.rel);
    await fsp.mkdir(d, { recursive: true, mode: opaque.mode });
    await must(`setfattr -n trusted.overlay.opaque -v y ${shq(d)}`);
    await fsp.writeFile(path.join(d, 'README.top'), 'this directory is opaque in the top layer\n');
    // The merged view shows only the top layer's part of an opaque directory.
    await fsp.rm(path.join(flat, opaque.rel), { recursive: true, force: true });
    await must(`cp -a ${shq(d)} ${shq(path.join(flat, opaque.rel))}`);
  }
  let modified = 0;
  let whiteouts = 0;
  const bottomFiles = perLayer[2]!.filter((e) => e.kind === 'file' && /^(etc|usr\/share\/doc)\//.test(e.rel) && !inOpaque(e.rel));
  for (const [k, e] of bottomFiles.entries()) {
    if (k % 10 !== 0) continue;
    const data = Buffer.concat([await fsp.readFile(e.src), Buffer.from('# changed in the top layer\n')]);
    for (const root of [top, flat]) {
      await ensureParents(root, e.rel);
      await fsp.rm(path.join(root, e.rel), { force: true });
      await fsp.writeFile(path.join(root, e.rel), data, { mode: e.mode });
    }
    modified++;
  }
  const middleFiles = perLayer[1]!.filter((e) => e.kind === 'file' && !inOpaque(e.rel));
  for (const [k, e] of middleFiles.entries()) {
    if (k % 25 !== 0) continue;
    await ensureParents(top, e.rel);
    await fsp.rm(path.join(top, e.rel), { force: true });
    await must(`mknod ${shq(path.join(top, e.rel))} c 0 0`);
    await fsp.rm(path.join(flat, e.rel), { force: true });
    whiteouts++;
  }
  const manifest = await must(`cd ${shq(flat)} && find . -mindepth 1 -printf '%P %y %s %m\\n' | LC_ALL=C sort | sed 's/ d [0-9]* / d /'`);
  const lines = manifest.split('\n').filter(Boolean);
  const info: RootfsInfo = {
    packages,
    files: lines.filter((l) => / f \d+ \d+$/.test(l)).length,
    dirs: lines.filter((l) => / d \d+$/.test(l)).length,
    symlinks: lines.filter((l) => / l \d+ \d+$/.test(l)).length,
    bytes: lines.reduce((a, l) => a + Number(/ f (\d+) \d+$/.exec(l)?.[1] ?? 0), 0),
    whiteouts,
    modified,
    manifest: createHash('sha256').update(manifest).digest('hex'),
  };
  return { stack: { name: 'rootfs', layers, flat }, info };
}
