#!/usr/bin/env node
// Builds the optional native addon (native/ -> native/build/Release/ufs_native.node) with npm's own
// node-gyp and explicit --nodedir; never fails the install unless UFS_REQUIRE_NATIVE=1.
//
// Usage: node scripts/build-native.mjs [--force]
//   --force                 rebuild even when the .node file is newer than the sources
//   UFS_REQUIRE_NATIVE=1    exit 1 (instead of 0) when the addon cannot be built
//   UFS_NODEDIR=<dir>       the directory holding include/node/node_api.h (default: from node's path)
//   UFS_NODE_GYP=<file>     node-gyp's bin/node-gyp.js (default: the one bundled with npm)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = path.join(root, 'native');
const buildDir = path.join(nativeDir, 'build');
const output = path.join(buildDir, 'Release', 'ufs_native.node');
const logFile = path.join(buildDir, 'build-native.log');
const rel = (p) => path.relative(process.cwd(), p) || '.';

/** Says why there is no addon in one line; exit 0 (ufs works without it) unless it is required. */
function giveUp(reason) {
  console.warn(`ufs: native addon not built (${reason}): the aufs whiteout format still works`);
  process.exit(process.env.UFS_REQUIRE_NATIVE === '1' ? 1 : 0);
}

/** npm's bundled node-gyp: the one that matches this node and npm, and needs no network. */
function findNodeGyp() {
  const tried = [];
  const fromNpmDir = (npmDir) => path.join(npmDir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (process.env.UFS_NODE_GYP) tried.push(process.env.UFS_NODE_GYP);
  // npm tells its scripts where its node-gyp is.
  if (process.env.npm_config_node_gyp) tried.push(process.env.npm_config_node_gyp);
  // Under `npm run`/`npm ci`, npm_execpath is npm's own bin/npm-cli.js.
  const execpath = process.env.npm_execpath;
  if (execpath && /npm-cli\.js$/.test(execpath)) tried.push(fromNpmDir(path.resolve(path.dirname(execpath), '..')));
  // npm installed beside this node: <prefix>/bin/node -> <prefix>/lib/node_modules/npm.
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  tried.push(fromNpmDir(path.join(prefix, 'lib', 'node_modules', 'npm')));
  tried.push(fromNpmDir(path.join(prefix, 'node_modules', 'npm'))); // Windows-style layout
  for (const file of tried) if (existsSync(file)) return file;
  // Last resort: ask npm where its global modules are, or follow the npm on PATH.
  const npmRoot = spawnSync('npm', ['root', '-g'], { encoding: 'utf8' });
  if (npmRoot.status === 0) {
    const file = fromNpmDir(path.join(npmRoot.stdout.trim(), 'npm'));
    if (existsSync(file)) return file;
  }
  const which = spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim()) {
    try {
      const cli = realpathSync(which.stdout.trim()); // .../npm/bin/npm-cli.js
      const file = fromNpmDir(path.resolve(path.dirname(cli), '..'));
      if (existsSync(file)) return file;
    } catch {
      // fall through
    }
  }
  return undefined;
}

/** The directory holding include/node/node_api.h for the running node (/usr for /usr/bin/node). */
function findNodeDir() {
  const candidates = [];
  if (process.env.UFS_NODEDIR) candidates.push(process.env.UFS_NODEDIR);
  let exec = process.execPath;
  try {
    exec = realpathSync(exec);
  } catch {
    // keep execPath
  }
  for (const e of new Set([process.execPath, exec])) candidates.push(path.resolve(path.dirname(e), '..'));
  for (const dir of candidates) {
    if (existsSync(path.join(dir, 'include', 'node', 'node_api.h'))) return dir;
  }
  return undefined;
}

/** Newest modification time among the files the addon is built from. */
function newestSource() {
  let newest = statSync(path.join(nativeDir, 'binding.gyp')).mtimeMs;
  const src = path.join(nativeDir, 'src');
  for (const name of readdirSync(src)) newest = Math.max(newest, statSync(path.join(src, name)).mtimeMs);
  return newest;
}

/** Loads the built file in a child node, so a broken build is caught here and not at run time. */
function loads(file) {
  const check = spawnSync(
    process.execPath,
    ['-e', 'const a = require(process.argv[1]); if (typeof a.renameat2Sync !== "function") process.exit(3);', file],
    { encoding: 'utf8' },
  );
  return check.status === 0 ? undefined : (check.stderr.trim().split('\n')[0] ?? `exit ${check.status}`);
}

function main() {
  const force = process.argv.includes('--force');
  if (process.platform !== 'linux') giveUp(`${process.platform} is not Linux`);
  if (process.env.UFS_NO_NATIVE === '1' && process.env.UFS_REQUIRE_NATIVE !== '1') {
    giveUp('UFS_NO_NATIVE=1');
  }
  if (!force && existsSync(output) && statSync(output).mtimeMs > newestSource()) {
    const problem = loads(output);
    if (problem === undefined) {
      console.log(`ufs: native addon up to date (${rel(output)})`);
      return;
    }
  }
  const nodeGyp = findNodeGyp();
  if (!nodeGyp) giveUp("npm's bundled node-gyp not found; set UFS_NODE_GYP");
  const nodeDir = findNodeDir();
  if (!nodeDir) giveUp(`no include/node/node_api.h beside ${process.execPath}; set UFS_NODEDIR`);
  try {
    createRequire(path.join(root, 'package.json')).resolve('node-addon-api');
  } catch {
    giveUp('node-addon-api is not installed (npm ci installs it)');
  }

  const args = [nodeGyp, 'rebuild', `--nodedir=${nodeDir}`, `--directory=${nativeDir}`, '--jobs=max'];
  // Our --nodedir wins over any npm_config_nodedir; the rest of the environment passes through,
  // with this node first on PATH for binding.gyp's `<!(node -p ...)`.
  const env = { ...process.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}` };
  delete env.npm_config_nodedir;
  const run = spawnSync(process.execPath, args, { cwd: nativeDir, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  const log = `$ ${process.execPath} ${args.join(' ')}\n${run.stdout ?? ''}${run.stderr ?? ''}${run.error ? String(run.error) : ''}`;
  mkdirSync(buildDir, { recursive: true });
  writeFileSync(logFile, log);
  if (run.status !== 0) {
    const lines = log.split('\n');
    const firstError = (lines.find((l) => /\berror:/.test(l)) ?? lines.find((l) => /gyp ERR!/.test(l)))
      ?.trim()
      .slice(0, 160);
    giveUp(`node-gyp failed${firstError ? `: ${firstError}` : ''}; full log in ${rel(logFile)}`);
  }
  if (!existsSync(output)) giveUp(`node-gyp did not produce ${rel(output)}; log in ${rel(logFile)}`);
  const problem = loads(output);
  if (problem !== undefined) giveUp(`built but cannot load: ${problem}`);
  console.log(`ufs: native addon built (${rel(output)})`);
}

main();
