// `make demo`: the main job on the bundled example layers. Opens a union over them, reads
// through every layer, writes (the change lands in the container layer) and deletes (a whiteout),
// then builds an image in a store and mounts a container of it with ufsmount (when /dev/fuse exists).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const step = (title, file) => {
  console.log(`\n== ${title}`);
  const r = spawnSync(process.execPath, [file], { stdio: 'inherit', cwd: here });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
step('A read-only union over the example layers (examples/layers/app over examples/layers/base)', `${here}open-union.mjs`);
step('Writing through a union: copy-up, whiteouts, the layers untouched', `${here}write-through.mjs`);
step('An image in a store, a container on it, mounted with ufsmount, written to from a shell', `${here}mount-image.mjs`);
