// The union engine over layers held in memory (MemLayer), in both whiteout formats: the same
// overlay semantics with no directory on disk at all.
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { UnionFs } from '../../lib/index.js';
import { MemLayer } from '../../lib/layers/mem-layer.js';
import { aufsFormat } from '../../lib/layers/whiteout-aufs.js';
import { overlayFormat } from '../../lib/layers/whiteout-overlay.js';
import type { Layer } from '../../lib/layers/layer.js';

async function put(l: Layer, rel: string, data: string): Promise<void> {
  const h = await l.open(rel, fs.constants.O_CREAT | fs.constants.O_WRONLY, 0o644);
  await h.write(Buffer.from(data), 0, Buffer.byteLength(data), 0);
  await h.close();
}

for (const format of [aufsFormat, overlayFormat]) {
  describe(`memory layers (${format.name} whiteouts)`, () => {
    async function make() {
      const base = new MemLayer('base');
      await base.mkdir('etc', 0o755);
      await put(base, 'etc/hostname', 'base');
      await put(base, 'etc/motd', 'hello');
      await base.mkdir('opt', 0o755);
      await put(base, 'opt/a', 'a');
      const top = new MemLayer('top');
      await top.mkdir('etc', 0o755);
      await format.makeWhiteout(top, 'etc', 'motd');
      await top.mkdir('opt', 0o755);
      await format.setOpaque(top, 'opt');
      await put(top, 'opt/b', 'b');
      const upper = new MemLayer('upper');
      return UnionFs.open({ lowerdir: [top, base], upperdir: upper, whiteout: format.name });
    }

    it('merges, hides whited-out names and opaque directories', async () => {
      const u = await make();
      expect((await u.readdir('/etc')).sort()).toEqual(['hostname']);
      expect(await u.readdir('/opt')).toEqual(['b']);
      expect(await u.readFile('/etc/hostname', 'utf8')).toBe('base');
    });

    it('copies up, deletes with whiteouts, renames lower directories', async () => {
      const u = await make();
      const ino = (await u.stat('/etc/hostname')).ino;
      await u.appendFile('/etc/hostname', '+');
      expect(await u.readFile('/etc/hostname', 'utf8')).toBe('base+');
      expect((await u.stat('/etc/hostname')).ino).toBe(ino);
      await u.unlink('/etc/hostname');
      expect(await u.readdir('/etc')).toEqual([]);
      await u.writeFile('/etc/new', 'n');
      await u.rename('/etc', '/etc2');
      expect(await u.readdir('/etc2')).toEqual(['new']);
      await expect(u.stat('/etc')).rejects.toMatchObject({ code: 'ENOENT' });
      await u.mkdir('/etc');
      expect(await u.readdir('/etc')).toEqual([]);
    });

    it('file handles read and write memory files', async () => {
      const u = await make();
      const h = await u.open('/opt/b', 'r+');
      await h.write(Buffer.from('XY'), 0, 2, 1);
      const b = Buffer.alloc(8);
      const { bytesRead } = await h.read(b, 0, 8, 0);
      expect(b.subarray(0, bytesRead).toString()).toBe('bXY');
      expect(h.fd).toBe(-1);
      await h.close();
    });
  });
}
