// Unit tests of the registry client's pure parts: Docker reference grammar, platforms and index
// selection, WWW-Authenticate, manifest parsing, Retry-After, the OCI layout helpers, progress rendering.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addToIndex, apiHost, blobPath, familiarReference, formatLine, formatReference, hasBlob, hostPlatform, initLayout, isLoopback,
  parseManifest, parsePlatform, parseReference, parseWwwAuthenticate, ProgressRenderer, readBlob, readIndex, resolveRef,
  selectPlatform, writeBlob, type ImageIndex,
} from '../../lib/registry/index.js';
import { retryAfterMs } from '../../lib/registry/http.js';
import { parseErrorBody } from '../../lib/registry/errors.js';
import { tempDir } from './helpers.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseReference', () => {
  const cases: [string, string][] = [
    ['ubuntu', 'docker.io/library/ubuntu:latest'],
    ['ubuntu:22.04', 'docker.io/library/ubuntu:22.04'],
    ['library/ubuntu', 'docker.io/library/ubuntu:latest'],
    ['docker.io/ubuntu', 'docker.io/library/ubuntu:latest'],
    ['index.docker.io/library/ubuntu', 'docker.io/library/ubuntu:latest'],
    ['user/app', 'docker.io/user/app:latest'],
    ['ghcr.io/org/team/app:v1.2-rc_3', 'ghcr.io/org/team/app:v1.2-rc_3'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000/app', 'localhost:5000/app:latest'],
    ['127.0.0.1:5000/a/b:t', '127.0.0.1:5000/a/b:t'],
    ['[::1]:5000/app:tag', '[::1]:5000/app:tag'],
    [`app@${D}`, `docker.io/library/app@${D}`],
    [`reg.io/app:v1@${D}`, `reg.io/app:v1@${D}`],
    ['my-reg.example.com/a__b/c.d/e-f', 'my-reg.example.com/a__b/c.d/e-f:latest'],
  ];
  for (const [input, want] of cases) {
    it(`${input} -> ${want}`, () => expect(formatReference(parseReference(input))).toBe(want));
  }

  it('splits the parts and keeps a tag absent for digest references', () => {
    expect(parseReference(`localhost:5000/x/y@${D}`)).toEqual({ registry: 'localhost:5000', repository: 'x/y', digest: D });
    expect(parseReference('a', { defaultTag: null })).toEqual({ registry: 'docker.io', repository: 'library/a' });
    expect(familiarReference(parseReference('ubuntu'))).toBe('ubuntu:latest');
    expect(familiarReference(parseReference('ghcr.io/a/b:1'))).toBe('ghcr.io/a/b:1');
  });

  const bad: [string, RegExp][] = [
    ['', /empty reference/],
    ['Ubuntu', /must be lowercase/],
    ['reg.io/App', /must be lowercase/],
    ['ubuntu:', /bad tag ''/],
    ['ubuntu:-x', /bad tag/],
    [`ubuntu:${'a'.repeat(129)}`, /bad tag/],
    ['a//b', /empty path component/],
    ['a/b/', /empty path component/],
    ['a-/b', /bad path component 'a-'/],
    ['ubuntu@sha256:abc', /lowercase hex of the right length/],
    ['ubuntu@md5:0123456789abcdef0123456789abcdef', /unsupported digest algorithm/],
    ['ubuntu@nodigest', /not a digest/],
    ['reg.io:99999/app', /out of range/],
    ['reg.io:port/app', /bad tag|bad port/],
    ['bad_host.io/app', /bad registry host/],
    ['a b', /whitespace/],
    [':tag', /missing repository/],
    ['a'.repeat(64).replace(/a/g, 'f'), /64-character hexadecimal/],
    [`reg.io/${'a'.repeat(260)}`, /longer than 255/],
  ];
  for (const [input, msg] of bad) {
    it(`rejects ${JSON.stringify(input.slice(0, 40))} with EINVAL`, () => {
      let err: unknown;
      try {
        parseReference(input);
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 'EINVAL', syscall: 'parseReference', message: expect.stringMatching(msg) });
    });
  }

  it('round-trips every well-formed reference through format and parse', () => {
    const comp = fc.stringMatching(/^[a-z0-9]{1,5}(?:[._-][a-z0-9]{1,4})?$/);
    const host = fc.option(fc.tuple(fc.stringMatching(/^[a-z][a-z0-9]{0,6}\.[a-z]{2,3}$/), fc.option(fc.integer({ min: 1, max: 65535 }))));
    fc.assert(fc.property(host, fc.array(comp, { minLength: 1, maxLength: 3 }), fc.option(fc.stringMatching(/^\w[\w.-]{0,10}$/)), (h, path, tag) => {
      // Without a host, a first component with a '.' would name a host (Docker's rule): not this case.
      fc.pre(h !== null || path.length === 1 || !path[0]!.includes('.'));
      const reg = h === null ? '' : `${h[0]}${h[1] === null ? '' : `:${h[1]}`}/`;
      const s = `${reg}${path.join('/')}${tag === null ? '' : `:${tag}`}`;
      const r = parseReference(s);
      expect(parseReference(formatReference(r))).toEqual(r);
      expect(r.tag).toBe(tag ?? 'latest');
      expect(r.repository.endsWith(path.join('/'))).toBe(true);
    }), { numRuns: 200 });
  });

  it('maps Docker Hub to its API host and knows loopback hosts', () => {
    expect(apiHost('docker.io')).toBe('registry-1.docker.io');
    expect(apiHost('ghcr.io')).toBe('ghcr.io');
    for (const h of ['localhost', 'localhost:5000', '127.0.0.1', '127.1.2.3:80', '[::1]:5000', '::1']) expect(isLoopback(h)).toBe(true);
    for (const h of ['128.0.0.1', 'example.com', '[::2]:5000', '127.0.0.256', 'localhost.example.com']) expect(isLoopback(h)).toBe(false);
  });
});

describe('platforms', () => {
  const index = (plats: { os: string; architecture: string; variant?: string }[]): ImageIndex => ({
    schemaVersion: 2,
    manifests: plats.map((p, i) => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${String(i).repeat(64)}`, size: 1, platform: p,
    })),
  });

  it('parses and normalises os/arch/variant', () => {
    expect(parsePlatform('linux/arm64')).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(parsePlatform('linux/aarch64/v8')).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(parsePlatform('linux/x86_64')).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(parsePlatform('linux/arm')).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(() => parsePlatform('linux')).toThrow(/expected os\/arch/);
    expect(() => parsePlatform('linux/arm64/v8/x')).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  it("derives this machine's platform from process.platform and process.arch", () => {
    const p = hostPlatform();
    expect(p.os).toBe(process.platform === 'win32' ? 'windows' : process.platform);
    if (process.arch === 'x64') expect(p).toEqual({ os: p.os, architecture: 'amd64' });
    if (process.arch === 'arm64') expect(p).toMatchObject({ architecture: 'arm64', variant: 'v8' });
  });

  it('selects from an index: exact variants, arm64 without variant, arm fallbacks; skips attestations', () => {
    const idx = index([{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }, { os: 'linux', architecture: 'arm', variant: 'v6' }]);
    idx.manifests.push({
      mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'9'.repeat(64)}`, size: 1,
      platform: { os: 'unknown', architecture: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
    });
    expect(selectPlatform(idx, parsePlatform('linux/amd64')).digest).toBe(idx.manifests[0]!.digest);
    expect(selectPlatform(idx, parsePlatform('linux/arm64/v8')).digest).toBe(idx.manifests[1]!.digest);
    expect(selectPlatform(idx, parsePlatform('linux/arm/v7')).digest).toBe(idx.manifests[2]!.digest);
    expect(() => selectPlatform(idx, parsePlatform('linux/arm/v5'))).toThrow(/linux\/amd64, linux\/arm64\/v8, linux\/arm\/v6/);
    expect(() => selectPlatform(idx, parsePlatform('windows/amd64'))).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    const both = index([{ os: 'linux', architecture: 'arm', variant: 'v6' }, { os: 'linux', architecture: 'arm', variant: 'v7' }]);
    expect(selectPlatform(both, parsePlatform('linux/arm/v7')).digest).toBe(both.manifests[1]!.digest);
  });
});

describe('protocol details', () => {
  it('parses WWW-Authenticate challenges', () => {
    expect(parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push"'))
      .toEqual([{ scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:samalba/my-app:pull,push' } }]);
    expect(parseWwwAuthenticate('Basic realm="a \\"q\\" b", charset=UTF-8, Bearer realm=http://x/t'))
      .toEqual([{ scheme: 'basic', params: { realm: 'a "q" b', charset: 'UTF-8' } }, { scheme: 'bearer', params: { realm: 'http://x/t' } }]);
    expect(parseWwwAuthenticate('')).toEqual([]);
  });

  it('parses registry error bodies, token-server bodies and short text', () => {
    expect(parseErrorBody(Buffer.from('{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry","detail":{"name":"x"}}]}')))
      .toEqual([{ code: 'NAME_UNKNOWN', message: 'repository name not known to registry', detail: { name: 'x' } }]);
    expect(parseErrorBody(Buffer.from('{"error":"invalid_grant","message":"nope"}'))).toEqual([{ code: 'invalid_grant', message: 'nope' }]);
    expect(parseErrorBody(Buffer.from('upstream timed out\n'))).toEqual([{ code: 'TEXT', message: 'upstream timed out' }]);
    expect(parseErrorBody(Buffer.from('<html>gateway</html>'))).toEqual([]);
  });

  it('reads Retry-After as seconds or as a date', () => {
    expect(retryAfterMs({ 'retry-after': '3' })).toBe(3000);
    expect(retryAfterMs({ 'retry-after': new Date(10_000).toUTCString() }, 4_000)).toBe(6000);
    expect(retryAfterMs({})).toBeUndefined();
  });

  it('parses the four manifest formats and rejects schema 1 and malformed ones', () => {
    const desc = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: D, size: 2 };
    const m = { schemaVersion: 2, config: desc, layers: [desc] };
    expect(parseManifest(Buffer.from(JSON.stringify(m))).kind).toBe('manifest');
    expect(parseManifest(Buffer.from(JSON.stringify(m)), 'application/vnd.docker.distribution.manifest.v2+json').mediaType)
      .toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [desc] }))).kind).toBe('index');
    expect(parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] })), 'application/vnd.docker.distribution.manifest.list.v2+json').kind).toBe('index');
    expect(() => parseManifest(Buffer.from('{"schemaVersion":1,"fsLayers":[]}'))).toThrow(expect.objectContaining({ code: 'ENOTSUP' }));
    expect(() => parseManifest(Buffer.from('nope'))).toThrow(/not JSON/);
    expect(() => parseManifest(Buffer.from(JSON.stringify({ ...m, layers: [{ ...desc, digest: 'sha256:zz' }] })))).toThrow(/layers\[0\]\.digest/);
    expect(() => parseManifest(Buffer.from(JSON.stringify({ ...m, mediaType: 'application/vnd.oci.image.index.v1+json' })), 'application/vnd.oci.image.manifest.v1+json'))
      .toThrow(/document says mediaType/);
  });
});

describe('OCI layout helpers', () => {
  it('writes oci-layout, blobs and a tagged index.json, replacing a tag on re-add', async () => {
    const dir = await tempDir();
    try {
      await initLayout(dir);
      const a = await writeBlob(dir, Buffer.from('{"a":1}'));
      const b = await writeBlob(dir, Buffer.from('{"b":2}'));
      expect(await hasBlob(dir, a, 7)).toBe(true);
      expect(await hasBlob(dir, a, 8)).toBe(false);
      expect((await readBlob(dir, a)).toString()).toBe('{"a":1}');
      const mt = 'application/vnd.oci.image.manifest.v1+json';
      await addToIndex(dir, { mediaType: mt, digest: a, size: 7 }, 'v1');
      await addToIndex(dir, { mediaType: mt, digest: b, size: 7 }, 'v1');
      await addToIndex(dir, { mediaType: mt, digest: a, size: 7 }, 'v0');
      const index = await readIndex(dir);
      expect(index.manifests.map((m) => [m.annotations?.['org.opencontainers.image.ref.name'], m.digest])).toEqual([['v1', b], ['v0', a]]);
      expect((await resolveRef(dir, { refName: 'v0' })).digest).toBe(a);
      await expect(resolveRef(dir, { refName: 'v9' })).rejects.toMatchObject({ code: 'ENOENT', message: expect.stringContaining('v1, v0') });
      await expect(writeBlob(dir, Buffer.from('x'), D)).rejects.toMatchObject({ code: 'EINTEGRITY' });
      await expect(readIndex(join(dir, 'blobs'))).rejects.toMatchObject({ code: 'ENOENT' });
      expect(() => blobPath(dir, 'sha256:../../etc/passwd')).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      expect(() => blobPath(dir, 'sha256:abc')).toThrow(/invalid digest/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('ProgressRenderer', () => {
  const sink = (tty: boolean): { stream: Writable & { isTTY?: boolean }; text: () => string } => {
    let out = '';
    const stream = new Writable({ write(c: Buffer, _e, cb) { out += c.toString(); cb(); } }) as Writable & { isTTY?: boolean };
    if (tty) stream.isTTY = true;
    return { stream, text: () => out };
  };
  const d1 = `sha256:${'1'.repeat(64)}`;

  it('writes nothing when the stream is not a terminal', () => {
    const s = sink(false);
    const r = new ProgressRenderer(s.stream);
    r.callback({ digest: d1, kind: 'layer', state: 'downloading', done: 5, total: 10 });
    r.finish();
    expect(s.text()).toBe('');
  });

  it('draws one line per layer on a terminal and redraws them in place', () => {
    const s = sink(true);
    const r = new ProgressRenderer(s.stream, 0);
    r.callback({ digest: d1, kind: 'layer', state: 'downloading', done: 500_000, total: 1_000_000 });
    r.callback({ digest: D, kind: 'layer', state: 'exists', done: 3, total: 3 });
    r.callback({ digest: d1, kind: 'layer', state: 'done', done: 1_000_000, total: 1_000_000 });
    r.finish();
    const text = s.text();
    expect(text).toContain('111111111111: Downloading [===============>              ] 500kB/1.00MB');
    expect(text).toContain('aaaaaaaaaaaa: Already exists');
    expect(text).toContain('111111111111: Complete');
    expect(text).toContain('\x1b[2A');
    expect(formatLine({ digest: d1, kind: 'layer', state: 'uploading', done: 10, total: 10 }, 4)).toBe('111111111111: Pushing [====] 10B/10B');
  });
});
