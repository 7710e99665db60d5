// Interop with a real registry (Debian's docker-registry on 127.0.0.1, no auth) and skopeo/umoci:
// what skopeo pushes ufs pulls with identical digests, what ufs pushes skopeo pulls into the same tree.
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addToIndex, blobPath, initLayout, pull, push, readIndex, REF_NAME, RegistryClient, writeBlob,
  type ImageIndex, type ImageManifest, type ProgressEvent,
} from '../../lib/registry/index.js';
import {
  buildImage, haveRegistry, haveSkopeo, haveUmoci, listFiles, recordingProxy, sh, snapshot, startRegistry, tempDir, type RunningRegistry,
} from './helpers.js';

const missing = !haveRegistry || !haveSkopeo || !haveUmoci;

async function manifestOf(layout: string, tag: string): Promise<{ digest: string; manifest: ImageManifest }> {
  const index = await readIndex(layout);
  const d = index.manifests.find((m) => m.annotations?.[REF_NAME] === tag);
  if (!d) throw new Error(`no ${tag} in ${layout}`);
  return { digest: d.digest, manifest: JSON.parse(await readFile(blobPath(layout, d.digest), 'utf8')) as ImageManifest };
}

describe.skipIf(missing)('registry interop (docker-registry, skopeo, umoci; skipped when one is missing)', () => {
  let reg: RunningRegistry;
  let work: string;
  let image: { layout: string; bundle: string };
  const opts = { retries: 1, retryDelayMs: 10 };

  beforeAll(async () => {
    work = await tempDir();
    [reg, image] = await Promise.all([startRegistry(), buildImage(work)]);
    await sh('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${image.layout}:v2`, `docker://${reg.host}/skopeo/img:v2`]);
  });
  afterAll(async () => {
    await reg?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('pulls what skopeo pushed with identical manifest, config and layer digests and a whiteout-carrying tree', async () => {
    const out = join(work, 'pulled');
    const events: ProgressEvent[] = [];
    const res = await pull(`${reg.host}/skopeo/img:v2`, out, { ...opts, onProgress: (e) => events.push(e) });
    const src = await manifestOf(image.layout, 'v2');
    const got = await manifestOf(out, 'v2');
    expect(got.digest).toBe(src.digest);
    expect(res.descriptor.digest).toBe(src.digest);
    expect(got.manifest.config.digest).toBe(src.manifest.config.digest);
    expect(got.manifest.layers.map((l) => l.digest)).toEqual(src.manifest.layers.map((l) => l.digest));
    expect(got.manifest.layers).toHaveLength(2);
    for (const d of [got.manifest.config, ...got.manifest.layers]) {
      const bytes = await readFile(blobPath(out, d.digest));
      expect(bytes.equals(await readFile(blobPath(image.layout, d.digest)))).toBe(true);
    }
    expect(JSON.parse(await readFile(join(out, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    expect((await listFiles(out)).some((f) => f.includes('partial'))).toBe(false);
    // Progress: every layer reached 'done' with all its bytes.
    for (const l of got.manifest.layers) {
      const last = events.filter((e) => e.digest === l.digest).at(-1);
      expect(last).toMatchObject({ state: 'done', done: l.size, total: l.size, kind: 'layer' });
    }
    // The pulled layout unpacks (umoci reads it) into the same tree as the original image.
    await sh('umoci', ['unpack', '--rootless', '--image', `${out}:v2`, join(work, 'pulled-bundle')]);
    await sh('umoci', ['unpack', '--rootless', '--image', `${image.layout}:v2`, join(work, 'orig-bundle')]);
    const tree = await snapshot(join(work, 'pulled-bundle', 'rootfs'));
    expect(tree).toEqual(await snapshot(join(work, 'orig-bundle', 'rootfs')));
    expect(tree['dir/sub/gone']).toBeUndefined();
    expect(tree['gone-dir']).toBeUndefined();
    expect(tree['etc/link']).toBe('link -> hello');
  });

  it('skips blobs the layout already has on a second pull', async () => {
    const out = join(work, 'pulled-twice');
    const first = await pull(`${reg.host}/skopeo/img:v2`, out, opts);
    expect(first.downloaded).toHaveLength(3);
    const second = await pull(`${reg.host}/skopeo/img:v2`, out, { ...opts, refName: 'again' });
    expect(second.downloaded).toEqual([]);
    expect(second.existing).toHaveLength(3);
    const names = (await readIndex(out)).manifests.map((m) => m.annotations?.[REF_NAME]);
    expect(names.sort()).toEqual(['again', 'v2']);
  });

  it('pushes a layout that skopeo pulls back and umoci unpacks into the original tree', async () => {
    const res = await push(image.layout, `${reg.host}/ufs/pushed:v2`, opts);
    expect(res.blobs.map((b) => b.outcome)).toEqual(['uploaded', 'uploaded', 'uploaded']);
    const back = join(work, 'skopeo-back');
    await sh('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${reg.host}/ufs/pushed:v2`, `oci:${back}:v2`]);
    const src = await manifestOf(image.layout, 'v2');
    expect((await manifestOf(back, 'v2')).digest).toBe(src.digest);
    await sh('umoci', ['unpack', '--rootless', '--image', `${back}:v2`, join(work, 'back-bundle')]);
    await sh('umoci', ['unpack', '--rootless', '--image', `${image.layout}:v2`, join(work, 'orig-bundle-2')]);
    expect(await snapshot(join(work, 'back-bundle', 'rootfs'))).toEqual(await snapshot(join(work, 'orig-bundle-2', 'rootfs')));
    // Pushing again finds every blob in place.
    const again = await push(image.layout, `${reg.host}/ufs/pushed:v2`, opts);
    expect(again.blobs.every((b) => b.outcome === 'exists')).toBe(true);
  });

  it('uploads big blobs in chunks (PATCH with Content-Range) and the registry serves them intact', async () => {
    const proxy = await recordingProxy(reg.port);
    try {
      const res = await push(image.layout, `${proxy.host}/ufs/chunked:v1`, { ...opts, chunkedThreshold: 100_000, chunkSize: 256 * 1024 });
      expect(res.blobs.filter((b) => b.outcome === 'uploaded')).toHaveLength(2);
      const big = (await manifestOf(image.layout, 'v1')).manifest.layers[0]!;
      expect(big.size).toBeGreaterThan(100_000);
      const patches = proxy.requests.filter((r) => r.method === 'PATCH');
      expect(patches.map((r) => r.headers['content-range'])).toEqual(
        Array.from({ length: Math.ceil(big.size / 262144) }, (_, i) => `${i * 262144}-${Math.min(big.size, (i + 1) * 262144) - 1}`));
      // The small config blob went up in one PUT with its body; the big one's PUT closed the session.
      const puts = proxy.requests.filter((r) => r.method === 'PUT' && r.url.includes('/blobs/uploads/'));
      expect(puts.map((r) => Number(r.headers['content-length'])).sort((a, b) => a - b)).toEqual([0, (await manifestOf(image.layout, 'v1')).manifest.config.size]);
    } finally {
      await proxy.close();
    }
    const out = join(work, 'chunked-pull');
    const pulled = await pull(`${reg.host}/ufs/chunked:v1`, out, opts);
    expect(pulled.descriptor.digest).toBe((await manifestOf(image.layout, 'v1')).digest);
    const big = pulled.manifest.layers.find((l) => l.size > 100_000);
    expect(big).toBeDefined();
  });

  it('mounts blobs from another repository instead of uploading them', async () => {
    const res = await push(image.layout, `${reg.host}/ufs/mounted:v2`, { ...opts, from: 'skopeo/img' });
    expect(res.blobs.map((b) => b.outcome)).toEqual(['mounted', 'mounted', 'mounted']);
    const c = new RegistryClient(reg.host, 'ufs/mounted', opts);
    try {
      const src = await manifestOf(image.layout, 'v2');
      expect(await c.blobSize(src.manifest.layers[1]!.digest)).toBe(src.manifest.layers[1]!.size);
      expect((await c.getManifest('v2')).digest).toBe(src.digest);
    } finally {
      c.close();
    }
  });

  it('pushes an index and pulls the manifest of the asked platform (and of this machine by default)', async () => {
    // Two "platforms" of the same image: the same layers with configs that differ in architecture.
    const multi = join(work, 'multi');
    await initLayout(multi);
    const src = await manifestOf(image.layout, 'v1');
    const config = JSON.parse(await readFile(blobPath(image.layout, src.manifest.config.digest), 'utf8')) as Record<string, unknown>;
    for (const l of src.manifest.layers) await writeBlob(multi, await readFile(blobPath(image.layout, l.digest)), l.digest);
    const platforms = [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' }];
    const index: ImageIndex = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] };
    for (const p of platforms) {
      const cfg = Buffer.from(JSON.stringify({ ...config, ...p }));
      const cfgDigest = await writeBlob(multi, cfg);
      const m = Buffer.from(JSON.stringify({ ...src.manifest, config: { ...src.manifest.config, digest: cfgDigest, size: cfg.length } }));
      index.manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: await writeBlob(multi, m), size: m.length, platform: p });
    }
    const ib = Buffer.from(JSON.stringify(index));
    await addToIndex(multi, { mediaType: index.mediaType!, digest: await writeBlob(multi, ib), size: ib.length }, 'multi');
    const pushed = await push(multi, `${reg.host}/ufs/multi:multi`, opts);
    expect(pushed.mediaType).toBe('application/vnd.oci.image.index.v1+json');

    const arm = await pull(`${reg.host}/ufs/multi:multi`, join(work, 'arm'), { ...opts, platform: 'linux/arm64/v8' });
    expect(arm.indexDigest).toBe(pushed.digest);
    expect(arm.descriptor.digest).toBe(index.manifests[1]!.digest);
    expect(arm.descriptor.platform).toMatchObject({ architecture: 'arm64' });
    const amd = await pull(`${reg.host}/ufs/multi:multi`, join(work, 'amd'), { ...opts, platform: 'linux/amd64' });
    expect(amd.descriptor.digest).toBe(index.manifests[0]!.digest);
    if (process.arch === 'x64' || process.arch === 'arm64') {
      const mine = await pull(`${reg.host}/ufs/multi:multi`, join(work, 'mine'), opts);
      expect(mine.descriptor.digest).toBe(index.manifests[process.arch === 'x64' ? 0 : 1]!.digest);
    }
    await expect(pull(`${reg.host}/ufs/multi:multi`, join(work, 's390x'), { ...opts, platform: 'linux/s390x' }))
      .rejects.toMatchObject({ code: 'ENOENT', message: expect.stringContaining('linux/amd64, linux/arm64/v8') });
    // By digest, with skopeo agreeing on the arm64 manifest.
    const byDigest = await pull(`${reg.host}/ufs/multi@${index.manifests[1]!.digest}`, join(work, 'bydigest'), opts);
    expect(byDigest.descriptor.digest).toBe(index.manifests[1]!.digest);
    expect(byDigest.descriptor.annotations).toBeUndefined();
    const sk = join(work, 'skopeo-arm');
    await sh('skopeo', ['copy', '--quiet', '--src-tls-verify=false', '--override-arch', 'arm64', `docker://${reg.host}/ufs/multi:multi`, `oci:${sk}:x`]);
    expect((await manifestOf(sk, 'x')).digest).toBe(index.manifests[1]!.digest);
  });

  it("names the registry, repository, HTTP status and the registry's own error for a missing tag", async () => {
    const err = await pull(`${reg.host}/skopeo/img:nope`, join(work, 'nope'), opts).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EREGISTRY', status: 404, syscall: 'getManifest', path: `${reg.host}/skopeo/img` });
    const msg = (err as Error).message;
    expect(msg).toContain(`registry ${reg.host}`);
    expect(msg).toContain('repository skopeo/img');
    expect(msg).toContain('HTTP 404');
    expect(msg).toContain('MANIFEST_UNKNOWN');
    // Nothing was written for the failed pull.
    expect(await listFiles(join(work, 'nope'))).toEqual([]);
  });

  it('refuses to push a tag the layout does not have, naming the tags it has', async () => {
    await expect(push(image.layout, `${reg.host}/ufs/x:nope`, opts)).rejects.toMatchObject({
      code: 'ENOENT', message: expect.stringContaining('base, v1, v2'),
    });
    await expect(push(join(work, 'nowhere'), `${reg.host}/ufs/x:v1`, opts)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
