// Writes through a union and shows where the changes land: in the upper (container) layer,
// with a whiteout for the delete, while the image layers stay untouched.
// Run: node examples/write-through.mjs   (after `npm run build`)
import { UnionFs } from 'ufs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const layers = fileURLToPath(new URL('./layers/', import.meta.url));
const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'ufs-example-'));
const upperdir = path.join(scratch, 'upper');
const workdir = path.join(scratch, 'work');
await fs.mkdir(upperdir);
await fs.mkdir(workdir);

const u = await UnionFs.open({ lowerdir: [`${layers}app`, `${layers}base`], upperdir, workdir, whiteout: 'aufs' });
await u.writeFile('/etc/hostname', 'container-1\n'); // copy-up of a lower file, then the write
await u.unlink('/etc/passwd'); // leaves a whiteout, since a lower layer has the name
await u.mkdir('/tmp/work', { recursive: true }); // new directories live only in the upper layer
console.log('through the union, /etc/hostname:', (await u.readFile('/etc/hostname', 'utf8')).trim());
console.log('through the union, /etc holds:', (await u.readdir('/etc')).sort().join(' '));
await u.close();

console.log('the base layer still says:', (await fs.readFile(`${layers}base/etc/hostname`, 'utf8')).trim());
const listing = [];
for (const name of (await fs.readdir(upperdir, { recursive: true })).sort()) listing.push(name);
console.log('the upper layer holds:', listing.join(' '));
await fs.rm(scratch, { recursive: true, force: true });
