// The low-level binding's session loop (lib/fuse/native/ufs_ll_loop.c): one thread reads requests
// while they are quick; a READ served in C that blocks (its lower layer is another ufsmount whose
// server is stopped) must not stop the others: the watcher hands the reading on to another thread,
// and a read of an upper file completes meanwhile. Liveness only (no timing asserted), from child
// processes; the stuck read is let go at the end.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import fsp from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import { binding, canMount, cleanupAll, makeLayers, mountOverLowerMount, run, type Layers, type StoppableLower } from './helpers.js';

afterAll(cleanupAll);

describe.skipIf(!canMount || binding !== 'ufs-ll')('the session loop (ufs-ll binding; needs root, /dev/fuse)', () => {
  let L: Layers;
  let lower: StoppableLower | undefined;
  let lowerServer: number | undefined;
  let reader: ChildProcess | undefined;

  beforeAll(async () => {
    L = await makeLayers();
    await fsp.writeFile(path.join(L.upper, 'quick'), 'from the upper layer\n');
    lower = await mountOverLowerMount(L, (d) => fsp.writeFile(path.join(d, 'slow'), 'x'.repeat(1 << 20)));
    lowerServer = lower.lowerServer;
  });
  afterAll(async () => {
    reader?.kill('SIGKILL');
    await lower?.release();
  });

  it('serves other requests while a READ served in C waits on a stopped layer', async () => {
    // The slow file is opened (and the root listed) while its layer still answers; then its layer
    // stops, and the reader reads: its READ reaches the server and waits in pread.
    reader = spawn('bash', ['-c', 'exec 3< "$1"; ls "$2" > /dev/null; echo opened; read go; cat <&3 | wc -c', 'x', L.mnt + '/slow', L.mnt], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = readline.createInterface({ input: reader.stdout! });
    const next = (): Promise<string> => new Promise((r) => lines.once('line', r));
    expect(await next()).toBe('opened');
    process.kill(lowerServer!, 'SIGSTOP');
    reader.stdin!.write('go\n');
    await new Promise((r) => setTimeout(r, 300));
    expect(reader.exitCode).toBeNull();                     // stuck: its layer does not answer
    // never read through the mount before: not in the page cache, its READ reaches the server
    const quick = await run('cat', [`${L.mnt}/quick`], { timeout: 20_000 });
    expect(quick.stderr).toBe('');
    expect(quick.stdout).toBe('from the upper layer\n');
    expect(reader.exitCode).toBeNull();
    const done = next();
    process.kill(lowerServer!, 'SIGCONT');
    expect((await done).trim()).toBe(String(1 << 20));      // and it completes once the layer answers
  });
});
