// Misbehaving registries (tiny node:http servers on 127.0.0.1): connections dropped mid-blob, wrong
// digests, 5xx and 429 answers, redirects to another host. Pulls retry or fail cleanly, never store bad data.
import { createHash, randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import type http from 'node:http';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { blobPath, pull, readIndex, RegistryClient } from '../../lib/registry/index.js';
import { Transport } from '../../lib/registry/http.js';
import { listFiles, serve, tempDir, type TestServer } from './helpers.js';

const digestOf = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

const layer = randomBytes(300_000);
const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [digestOf(layer)] } }));
const manifest = Buffer.from(JSON.stringify({
  schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
  layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf(layer), size: layer.length }],
}));

interface Behaviour {
  /** The first N layer GETs send half the bytes, then drop the connection. */
  dropLayer?: number;
  /** Answer Range requests with 206. */
  ranges?: boolean;
  /** Serve the layer with one byte changed. */
  corrupt?: boolean;
  /** The first N manifest GETs answer with this status (503, 429...). */
  failManifest?: { times: number; status: number; retryAfter?: string };
  /** Blob GETs redirect to this base URL. */
  redirectTo?: string;
  /** Require this Authorization header (basic auth). */
  authorization?: string;
}

/** A one-image registry with configurable faults. */
function handler(b: Behaviour): http.RequestListener {
  let layerGets = 0;
  let manifestGets = 0;
  return (req, res) => {
    const url = req.url ?? '';
    if (b.authorization !== undefined && req.headers.authorization !== b.authorization) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="test"', 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
      return;
    }
    if (url === '/v2/') return void res.writeHead(200).end('{}');
    if (url.startsWith('/v2/test/img/manifests/')) {
      manifestGets++;
      const f = b.failManifest;
      if (f && manifestGets <= f.times) {
        res.writeHead(f.status, { 'content-type': 'application/json', ...(f.retryAfter ? { 'retry-after': f.retryAfter } : {}) });
        res.end(JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: `try later (${manifestGets})` }] }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': digestOf(manifest) });
      return void res.end(manifest);
    }
    const m = /^\/v2\/test\/img\/blobs\/(sha256:[a-f0-9]{64})$/.exec(url);
    if (m && b.redirectTo !== undefined) {
      res.writeHead(307, { location: `${b.redirectTo}/storage/${m[1]}?sig=abc` });
      return void res.end();
    }
    const storage = /^\/storage\/(sha256:[a-f0-9]{64})\?sig=abc$/.exec(url);
    const digest = m?.[1] ?? storage?.[1];
    const blob = digest === digestOf(layer) ? layer : digest === digestOf(config) ? config : undefined;
    if (blob === undefined) {
      res.writeHead(404, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown to registry' }] }));
    }
    let body = blob;
    if (blob === layer && b.corrupt) {
      body = Buffer.from(layer);
      body[1000] = body[1000]! ^ 0xff;
    }
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    let start = 0;
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/octet-stream' };
    if (b.ranges) headers['accept-ranges'] = 'bytes';
    if (range && b.ranges) {
      start = Number(range[1]);
      headers['content-range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
    }
    headers['content-length'] = body.length - start;
    res.writeHead(range && b.ranges ? 206 : 200, headers);
    if (blob === layer && layerGets++ < (b.dropLayer ?? 0)) {
      res.write(body.subarray(start, start + Math.floor((body.length - start) / 2)));
      setTimeout(() => res.socket?.destroy(), 20);
      return;
    }
    res.end(body.subarray(start));
  };
}

describe('pulls from misbehaving registries on loopback', () => {
  let work: string;
  const servers: TestServer[] = [];
  const start = async (b: Behaviour, address?: string): Promise<TestServer> => {
    const s = await serve(handler(b), address);
    servers.push(s);
    return s;
  };
  const fast = { retries: 3, retryDelayMs: 5, maxRetryDelayMs: 20, plainHttp: true };

  beforeAll(async () => { work = await tempDir(); });
  afterEach(async () => { await Promise.all(servers.splice(0).map((s) => s.close())); });
  afterAll(async () => { await rm(work, { recursive: true, force: true }); });

  it('resumes a blob with Range after the connection drops midway', async () => {
    const s = await start({ dropLayer: 1, ranges: true });
    const out = join(work, 'resume');
    const retried: unknown[] = [];
    await pull(`${s.host}/test/img:latest`, out, { ...fast, onRetry: (e) => retried.push(e) });
    expect(digestOf(await readFile(blobPath(out, digestOf(layer))))).toBe(digestOf(layer));
    const layerReqs = s.requests.filter((r) => r.url.endsWith(digestOf(layer).slice(7)));
    expect(layerReqs).toHaveLength(2);
    expect(layerReqs[1]!.headers.range).toBe(`bytes=${layer.length / 2}-`);
    expect(retried.length).toBeGreaterThan(0);
    expect((await listFiles(out)).filter((f) => !f.startsWith('blobs/') && f !== 'index.json' && f !== 'oci-layout')).toEqual([]);
  });

  it('restarts from the beginning when the server ignores Range', async () => {
    const s = await start({ dropLayer: 2, ranges: false });
    const out = join(work, 'restart');
    await pull(`${s.host}/test/img:latest`, out, fast);
    expect(digestOf(await readFile(blobPath(out, digestOf(layer))))).toBe(digestOf(layer));
    expect(s.requests.filter((r) => r.url.endsWith(digestOf(layer).slice(7)))).toHaveLength(3);
  });

  it('gives up after its retries with a network error and leaves no blob, partial file or index entry', async () => {
    const s = await start({ dropLayer: 1000, ranges: false });
    const out = join(work, 'giveup');
    const err = await pull(`${s.host}/test/img:latest`, out, { ...fast, retries: 2 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: expect.stringMatching(/^(ECONNRESET|EPIPE)$/) });
    // The first attempt got halfway, so trying again was free; the two retries after it got no further.
    expect(s.requests.filter((r) => r.url.endsWith(digestOf(layer).slice(7))).length).toBe(4);
    const files = await listFiles(out);
    expect(files.filter((f) => f.includes(digestOf(layer).slice(7)))).toEqual([]);
    expect(files.some((f) => f.includes('partial'))).toBe(false);
    expect((await readIndex(out)).manifests).toEqual([]);
  });

  it('fails with EINTEGRITY on a wrong digest, storing nothing of that blob', async () => {
    const s = await start({ corrupt: true });
    const out = join(work, 'corrupt');
    const err = await pull(`${s.host}/test/img:latest`, out, fast).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EINTEGRITY', syscall: 'getBlob', path: `${s.host}/test/img` });
    expect((err as Error).message).toContain(`expected ${digestOf(layer)}`);
    const files = await listFiles(out);
    expect(files.filter((f) => f.includes(digestOf(layer).slice(7)))).toEqual([]);
    expect(files.some((f) => f.includes('partial'))).toBe(false);
    expect((await readIndex(out)).manifests).toEqual([]);
  });

  it('retries 503 and 429 (honouring Retry-After) and then succeeds', async () => {
    const s = await start({ failManifest: { times: 2, status: 503 } });
    await pull(`${s.host}/test/img:latest`, join(work, 's503'), fast);
    expect(s.requests.filter((r) => r.url.includes('/manifests/'))).toHaveLength(3);
    const t = await start({ failManifest: { times: 1, status: 429, retryAfter: '0' } });
    await pull(`${t.host}/test/img:latest`, join(work, 's429'), fast);
    expect(t.requests.filter((r) => r.url.includes('/manifests/'))).toHaveLength(2);
  });

  it('reports the status and the registry message once retries are used up', async () => {
    const s = await start({ failManifest: { times: 100, status: 503 } });
    const err = await pull(`${s.host}/test/img:latest`, join(work, 'down'), { ...fast, retries: 1 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EREGISTRY', status: 503 });
    expect((err as Error).message).toMatch(/registry 127\.0\.0\.1:\d+: repository test\/img: HTTP 503 .*TOOMANYREQUESTS: try later \(2\)/);
  });

  it('follows blob redirects to another host without sending it the credentials', async () => {
    const auth = `Basic ${Buffer.from('u:p').toString('base64')}`;
    const storage = await start({}, '127.0.0.2').catch(() => start({}));
    const s = await start({ authorization: auth, redirectTo: `http://${storage.host}` });
    const out = join(work, 'redirect');
    await pull(`${s.host}/test/img:latest`, out, { ...fast, username: 'u', password: 'p' });
    expect(digestOf(await readFile(blobPath(out, digestOf(layer))))).toBe(digestOf(layer));
    expect(storage.requests.length).toBe(2);
    expect(storage.requests.every((r) => r.headers.authorization === undefined)).toBe(true);
    expect(s.requests.filter((r) => r.url.includes('/blobs/')).every((r) => r.headers.authorization === auth)).toBe(true);
  });

  it('downloads layers concurrently, at most `concurrency` at a time', async () => {
    const layers = Array.from({ length: 6 }, (_, i) => Buffer.from(`layer ${i} `.repeat(1000)));
    const m = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digestOf(l), size: l.length })),
    }));
    let inFlight = 0;
    let most = 0;
    const s = await serve((req, res) => {
      const url = req.url ?? '';
      if (url === '/v2/') return void res.writeHead(200).end();
      if (url.includes('/manifests/')) return void res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end(m);
      const blob = [config, ...layers].find((b) => url.endsWith(digestOf(b)));
      if (!blob) return void res.writeHead(404).end();
      inFlight++;
      most = Math.max(most, inFlight);
      // Hold each answer until two others are in flight (or a moment has passed): a serial client would not overlap.
      const t0 = Date.now();
      const wait = setInterval(() => {
        if (inFlight >= 2 || Date.now() - t0 > 500) {
          clearInterval(wait);
          res.end(blob, () => { inFlight--; });
        }
      }, 5);
    });
    servers.push(s);
    const res = await pull(`${s.host}/test/img:latest`, join(work, 'pool'), { ...fast, concurrency: 3 });
    expect(res.downloaded).toHaveLength(7);
    expect(most).toBeGreaterThanOrEqual(2);
    expect(most).toBeLessThanOrEqual(3);
  });

  it('stops a pull on abort, leaving no partial file', async () => {
    const s = await serve((req, res) => {
      const url = req.url ?? '';
      if (url === '/v2/') return void res.writeHead(200).end();
      if (url.includes('/manifests/')) return void res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end(manifest);
      if (url.endsWith(digestOf(config))) return void res.writeHead(200).end(config);
      res.writeHead(200, { 'content-length': layer.length });
      res.write(layer.subarray(0, 1000)); // ...and then nothing more
    });
    servers.push(s);
    const ac = new AbortController();
    const out = join(work, 'abort');
    const err = await pull(`${s.host}/test/img:latest`, out, {
      ...fast, signal: ac.signal, onProgress: (e) => { if (e.kind === 'layer' && e.done > 0) ac.abort(); },
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'AbortError' });
    const files = await listFiles(out);
    expect(files.some((f) => f.includes('partial') || f.includes(digestOf(layer).slice(7)))).toBe(false);
  });

  it('refuses plain HTTP to a host that is not loopback, before connecting', async () => {
    const t = new Transport();
    await expect(t.request({ method: 'GET', url: new URL('http://192.0.2.1:5000/v2/') }))
      .rejects.toMatchObject({ code: 'EREGISTRY', message: expect.stringContaining('plain HTTP to 192.0.2.1:5000 refused') });
    // ...also when a loopback server redirects there.
    const s = await serve((_req, res) => void res.writeHead(302, { location: 'http://192.0.2.1/x' }).end());
    servers.push(s);
    await expect(t.request({ method: 'GET', url: new URL(`http://${s.host}/v2/`) })).rejects.toMatchObject({ code: 'EREGISTRY' });
    t.close();
    const c = new RegistryClient('192.0.2.1:5000', 'x', { plainHttp: true });
    await expect(c.ping()).rejects.toMatchObject({ code: 'EREGISTRY', message: expect.stringContaining('refused') });
    c.close();
  });

  it('uses HTTPS first and falls back to HTTP for a loopback registry', async () => {
    const s = await start({});
    const c = new RegistryClient(s.host, 'test/img', { retries: 0 });
    await c.ping();
    expect(c.baseUrl?.protocol).toBe('http:');
    expect((await c.getManifest('latest')).digest).toBe(digestOf(manifest));
    c.close();
  });
});
