#!/usr/bin/env node
// Builds ufs's libfuse bindings (ufs_fuse.c: high-level API; ufs_fuse_ll.c: low-level API ->
// build/<name>.node beside this file) with the C compiler, node's own N-API headers and pkg-config's
// libfuse flags; no node-gyp needed. Never fails the install: without ufs_fuse ufsmount falls back to
// fuse-native, without ufs_fuse_ll UFS_FUSE_BINDING=ufs-ll is refused (UFS_REQUIRE_FUSE=1: exit 1).
//
// Usage: node lib/fuse/native/build.mjs [--force]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, realpathSync, renameSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.join(here, 'build');
const TARGETS = ['ufs_fuse', 'ufs_fuse_ll'];
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
function build(name) {
  const source = path.join(here, `${name}.c`);
  const output = path.join(outDir, `${name}.node`);
  // Up to date when newer than its source and every header beside it (ufs_fuse_cache.h...).
  const inputs = [source, ...readdirSync(here).filter((f) => f.endsWith('.h')).map((f) => path.join(here, f))];
  if (!process.argv.includes('--force') && existsSync(output) && inputs.every((f) => statSync(output).mtimeMs > statSync(f).mtimeMs)) {
    console.log(`ufs: FUSE binding up to date (${path.relative(process.cwd(), output)})`);
    return;
  }
  const fail = (reason) => {
    failed = true;
    console.warn(`ufs: FUSE binding ${name} not built (${reason})${name === 'ufs_fuse' ? '; ufsmount will use fuse-native' : ''}`);
  };
  const tmp = path.join(outDir, `${name}.tmp-${process.pid}.node`);
  const args = ['-O2', '-Wall', '-Wextra', '-shared', '-fPIC', `-DNODE_GYP_MODULE_NAME=${name}`, `-I${include}`,
    ...flags.split(/\s+/).filter((f) => !f.startsWith('-l') && f !== '-pthread'), source, '-o', tmp,
    ...flags.split(/\s+/).filter((f) => f.startsWith('-l') || f === '-pthread')];
  const r = spawnSync(cc, args, { encoding: 'utf8' });
  if (r.status !== 0) return fail(`${cc} failed: ${(r.stderr || r.error?.message || '').trim().split('\n').slice(-3).join(' | ')}`);
  const check = spawnSync(process.execPath, ['-e', 'const a = require(process.argv[1]); if (typeof a.mount !== "function") process.exit(3)', tmp], { encoding: 'utf8' });
  if (check.status !== 0) return fail(`the build does not load: ${check.stderr.trim().split('\n')[0]}`);
  renameSync(tmp, output);
  console.log(`ufs: FUSE binding built (${path.relative(process.cwd(), output)})`);
}

for (const t of TARGETS) build(t);
if (failed && process.env.UFS_REQUIRE_FUSE === '1') process.exit(1);
