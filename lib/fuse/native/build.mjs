#!/usr/bin/env node
// Builds ufs's libfuse bindings (ufs_fuse: high-level API; ufs_fuse_ll: low-level API, the default ->
// build/<name>.node beside this file), each from its C sources (TARGETS) in one compiler call, with
// node's own N-API headers and pkg-config's libfuse flags; no node-gyp needed. Never fails the
// install: ufsmount uses whichever binding was built (ufs_fuse_ll, else ufs_fuse, else fuse-native;
// UFS_REQUIRE_FUSE=1: exit 1 when one fails).
//
// Usage: node lib/fuse/native/build.mjs [--force]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, realpathSync, renameSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.join(here, 'build');
// Each binding and its sources (ufs_fuse_napi.c: what both share); package.json "files" ships them.
const TARGETS = {
  ufs_fuse: ['ufs_fuse.c', 'ufs_fuse_napi.c'],
  ufs_fuse_ll: ['ufs_fuse_ll.c', 'ufs_ll_table.c', 'ufs_ll_keep.c', 'ufs_ll_ops.c', 'ufs_ll_reply.c', 'ufs_ll_fds.c', 'ufs_ll_chan.c', 'ufs_ll_layout.c', 'ufs_ll_scan.c', 'ufs_ll_open.c', 'ufs_ll_loop.c', 'ufs_fuse_napi.c'],
};
let failed = false;

function giveUp(reason) {
  console.warn(`ufs: FUSE bindings not built (${reason}); ufsmount will use fuse-native`);
  process.exit(process.env.UFS_REQUIRE_FUSE === '1' ? 1 : 0);
}

function nodeIncludeDir() {
  const dirs = [process.env.UFS_NODEDIR, path.resolve(path.dirname(process.execPath), '..')];
  try {
    dirs.push(path.resolve(path.dirname(realpathSync(process.execPath)), '..'));
  } catch { /* keep the others */ }
  for (const d of dirs) if (d && existsSync(path.join(d, 'include', 'node', 'node_api.h'))) return path.join(d, 'include', 'node');
  return undefined;
}

if (process.platform !== 'linux') giveUp(`${process.platform} is not Linux`);
const include = nodeIncludeDir();
if (!include) giveUp(`no node_api.h beside ${process.execPath}; set UFS_NODEDIR`);
// libfuse 2's flags from pkg-config, or Debian's defaults when pkg-config is not installed.
let flags;
const pc = spawnSync('pkg-config', ['--cflags', '--libs', 'fuse'], { encoding: 'utf8' });
if (pc.status === 0) flags = pc.stdout.trim();
else if (existsSync('/usr/include/fuse/fuse.h')) flags = '-I/usr/include/fuse -D_FILE_OFFSET_BITS=64 -lfuse -pthread';
else giveUp('no libfuse 2 headers (apt-get install libfuse-dev)');
const cc = process.env.CC || 'cc';
mkdirSync(outDir, { recursive: true });

/** Builds one binding; says why not (and remembers the failure) when it cannot. */
function build(name, files) {
  const sources = files.map((f) => path.join(here, f));
  const output = path.join(outDir, `${name}.node`);
  // Up to date when newer than its sources and every header beside them (ufs_fuse_ll.h...).
  const inputs = [...sources, ...readdirSync(here).filter((f) => f.endsWith('.h')).map((f) => path.join(here, f))];
  if (!process.argv.includes('--force') && existsSync(output) && inputs.every((f) => statSync(output).mtimeMs > statSync(f).mtimeMs)) {
    console.log(`ufs: FUSE binding up to date (${path.relative(process.cwd(), output)})`);
    return;
  }
  const fail = (reason) => {
    failed = true;
    console.warn(`ufs: FUSE binding ${name} not built (${reason})${name === 'ufs_fuse_ll' ? '; ufsmount will use ufs_fuse' : '; UFS_FUSE_BINDING=ufs is refused'}`);
  };
  const tmp = path.join(outDir, `${name}.tmp-${process.pid}.node`);
  // Hidden symbols: both bindings carry ufs_fuse_napi.c and may be loaded in one process.
  const args = ['-O2', '-Wall', '-Wextra', '-shared', '-fPIC', '-fvisibility=hidden', `-DNODE_GYP_MODULE_NAME=${name}`, `-I${include}`,
    ...flags.split(/\s+/).filter((f) => !f.startsWith('-l') && f !== '-pthread'), ...sources, '-o', tmp,
    ...flags.split(/\s+/).filter((f) => f.startsWith('-l') || f === '-pthread'), '-lm'];
  const r = spawnSync(cc, args, { encoding: 'utf8' });
  if (r.status !== 0) return fail(`${cc} failed: ${(r.stderr || r.error?.message || '').trim().split('\n').slice(-3).join(' | ')}`);
  const check = spawnSync(process.execPath, ['-e', 'const a = require(process.argv[1]); if (typeof a.mount !== "function") process.exit(3)', tmp], { encoding: 'utf8' });
  if (check.status !== 0) return fail(`the build does not load: ${check.stderr.trim().split('\n')[0]}`);
  renameSync(tmp, output);
  console.log(`ufs: FUSE binding built (${path.relative(process.cwd(), output)})`);
}

for (const [name, files] of Object.entries(TARGETS)) build(name, files);
if (failed && process.env.UFS_REQUIRE_FUSE === '1') process.exit(1);
