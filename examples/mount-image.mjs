// The main job end to end with the command-line tools: builds an image from the example layers
// in a fresh store, creates a container on it, mounts the container with `ufsmount`, writes through
// the mount from other processes (a shell), shows the change in the container layer and nowhere else,
// and unmounts. Needs /dev/fuse and libfuse (root, or a user allowed to mount FUSE filesystems).
// Run: node examples/mount-image.mjs   (after `npm run build`)
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));
const bin = (name) => path.join(repo, 'dist', 'lib', 'cli', `${name}.js`);
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'ufs-demo-'));
const root = path.join(scratch, 'store');
const mnt = path.join(scratch, 'mnt');
fs.mkdirSync(mnt);

/** Runs a command, echoing it like a shell session, and returns its stdout. */
function run(cmd, args, opts = {}) {
  const shown = [cmd === process.execPath ? path.basename(args[0], '.js') : cmd, ...args.slice(cmd === process.execPath ? 1 : 0)]
    .map((a) => (/[\s'"$;&|>]/.test(a) ? `'${a}'` : a));
  console.log(`$ ${shown.join(' ').replaceAll(scratch, '$DEMO').replaceAll(repo, '')}`);
  const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], ...opts });
  if (out.trim() && !opts.quiet) console.log(out.trimEnd().replaceAll(scratch, '$DEMO'));
  return out.trim();
}
const ufs = (...args) => run(process.execPath, [bin('ufs'), '--root', root, ...args]);
const ufsmount = (...args) => run(process.execPath, [bin('ufsmount'), ...args]);

if (!fs.existsSync('/dev/fuse')) {
  console.log('skipped: no /dev/fuse here, so nothing can be mounted (the library examples above ran without it)');
  process.exit(0);
}

let mounted = false;
try {
  console.log(`a fresh store in $DEMO/store, driver aufs (needs no privileges); $DEMO is ${scratch}`);
  const base = JSON.parse(run(process.execPath, [bin('ufs'), '--root', root, '--driver', 'aufs', 'layer', 'create', '--from', path.join(repo, 'examples/layers/base'), '--json'], { quiet: true }));
  const app = JSON.parse(run(process.execPath, [bin('ufs'), '--root', root, 'layer', 'create', '--from', path.join(repo, 'examples/layers/app'), '--parent', base.chainID, '--json'], { quiet: true }));
  ufs('image', 'create', 'demo/app:1', base.chainID, app.chainID);
  ufs('image', 'ls');
  ufs('container', 'create', 'demo/app:1', '--name', 'web');

  ufsmount('--root', root, 'web', mnt);
  mounted = true;
  run('sh', ['-c', `echo "hostname: $(cat ${mnt}/etc/hostname)"; echo "/var holds: [$(ls -A ${mnt}/var)] (the app layer deleted /var/cache with a whiteout)"`]);
  run('sh', ['-c', `echo "hello from the container" > ${mnt}/srv/hello.txt && echo web-1 > ${mnt}/etc/hostname && rm ${mnt}/etc/passwd`]);
  run('ls', ['-l', `${mnt}/srv`, `${mnt}/etc`]);
  console.log('\nthe changes are in the container layer only:');
  ufs('container', 'diff', 'web');
  run('find', [root, '-name', 'hello.txt']);
  const lower = fs.readFileSync(path.join(repo, 'examples/layers/base/etc/hostname'), 'utf8').trim();
  console.log(`the image layer still says hostname=${lower}; the example directories were copied into the store, not touched`);

  ufsmount('-u', mnt);
  mounted = false;
  const left = fs.readdirSync(mnt);
  console.log(`unmounted; the mountpoint is empty again (${left.length} entries)`);
  const img = ufs('container', 'commit', 'web', 'demo/app:2', '--message', 'demo write');
  console.log(`committed as demo/app:2 (${img.slice(0, 19)}...), a new image layer with the write and a whiteout for /etc/passwd`);
} finally {
  if (mounted) spawnSync(process.execPath, [bin('ufsmount'), '-u', mnt], { stdio: 'inherit' });
  fs.rmSync(scratch, { recursive: true, force: true });
}
