// Measurement aid (not a test): serves a plain directory through the FUSE adapter with node:fs
// handles, to separate the adapter's cost from the union's. Usage: tsx passthrough-bench.ts SRC MNT
import '../../lib/fuse/threadpool.js';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { serve } from '../../lib/fuse/server.js';
import { parseArgs } from '../../lib/fuse/options.js';
import type { FuseTarget } from '../../lib/fuse/target.js';

const [src, mnt] = process.argv.slice(2) as [string, string];
const r = (p: string): string => path.join(src, p);
const target: FuseTarget = {
  lstat: (p) => fsp.lstat(r(p)),
  access: (p, m) => fsp.access(r(p), m),
  readdirPlus: async (p) => Promise.all((await fsp.readdir(r(p))).map(async (name) => ({ name, stats: await fsp.lstat(r(`${p}/${name}`)) }))),
  open: (p, f, m) => fsp.open(r(p), f, m),
  mkdir: (p, o) => fsp.mkdir(r(p), o),
  rmdir: (p) => fsp.rmdir(r(p)),
  unlink: (p) => fsp.unlink(r(p)),
  rename: (a, b) => fsp.rename(r(a), r(b)),
  link: (a, b) => fsp.link(r(a), r(b)),
  symlink: (t, p) => fsp.symlink(t, r(p)),
  readlink: (p) => fsp.readlink(r(p)),
  chmod: (p, m) => fsp.chmod(r(p), m),
  lchown: (p, u, g) => fsp.lchown(r(p), u, g),
  lutimes: (p, a, m) => fsp.lutimes(r(p), a, m),
  truncate: (p, l) => fsp.truncate(r(p), l),
  mknod: async () => { throw Object.assign(new Error('ENOSYS'), { code: 'ENOSYS' }); },
  statfs: (p) => fsp.statfs(r(p)),
  getxattr: async () => { throw Object.assign(new Error('ENODATA'), { code: 'ENODATA' }); },
  setxattr: async () => { throw Object.assign(new Error('ENOTSUP'), { code: 'ENOTSUP' }); },
  listxattr: async () => [],
  removexattr: async () => { throw Object.assign(new Error('ENODATA'), { code: 'ENODATA' }); },
  close: async () => undefined,
};
const cmd = parseArgs(['-o', `lowerdir=/,upperdir=/tmp,workdir=/var/tmp${process.env.EXTRA ?? ''}`, mnt]);
if (cmd.kind !== 'mount') throw new Error('bad args');
const server = await serve(cmd.config, path.resolve(mnt), target);
process.stderr.write('ready\n');
await server.ended;
process.exit(0);
