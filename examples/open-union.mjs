// Opens a read-only union over the two example layers and reads through it.
// Run: node examples/open-union.mjs   (after `npm run build`)
import { UnionFs } from 'ufs';
import { fileURLToPath } from 'node:url';

const layers = fileURLToPath(new URL('./layers/', import.meta.url));
// lowerdir is ordered like overlayfs': the topmost layer first.
const u = await UnionFs.open({ lowerdir: [`${layers}app`, `${layers}base`] });
console.log('whiteout format:', u.whiteout);
console.log('/ holds:', (await u.readdir('/')).sort().join(' '));
console.log('/etc holds:', (await u.readdir('/etc')).sort().join(' '));
console.log('/etc/hostname (from base):', (await u.readFile('/etc/hostname', 'utf8')).trim());
console.log('/srv/index.html (from app):', (await u.readFile('/srv/index.html', 'utf8')).trim());
try {
  await u.stat('/var/cache');
} catch (e) {
  console.log('/var/cache is whited out by the app layer:', e.code);
}
await u.close();
