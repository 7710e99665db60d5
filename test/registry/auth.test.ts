// Authentication: docker-registry with htpasswd basic auth (credentials from options, environment,
// Docker's config.json and a credential helper), and the bearer-token flow against a tiny token server.
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import type http from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobPath, findCredentials, pull, push, readIndex, REF_NAME } from '../../lib/registry/index.js';
import {
  bcrypt, buildImage, haveRegistry, haveSkopeo, haveUmoci, serve, sh, startRegistry, tempDir,
  type RunningRegistry, type TestServer,
} from './helpers.js';

const USER = 'ufs-user';
const PASS = 'p@ss:word with spaces';
const hash = haveRegistry ? await bcrypt(PASS) : undefined;
const fast = { retries: 1, retryDelayMs: 5 };

describe.skipIf(!haveRegistry || !haveUmoci || hash === undefined)(
  'docker-registry with htpasswd basic auth (skipped without docker-registry, umoci, or a bcrypt-capable crypt())', () => {
    let reg: RunningRegistry;
    let work: string;
    let layout: string;
    const noEnv = { env: {} as NodeJS.ProcessEnv };

    beforeAll(async () => {
      work = await tempDir();
      [reg, { layout }] = await Promise.all([startRegistry({ user: USER, hash: hash! }), buildImage(work)]);
    });
    afterAll(async () => {
      await reg?.stop();
      if (work) await rm(work, { recursive: true, force: true });
    });

    it('refuses anonymous pushes and pulls with a 401 that says no credentials were found', async () => {
      const err = await push(layout, `${reg.host}/priv/img:v1`, { ...fast, ...noEnv, dockerConfigDir: join(work, 'none') }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'EREGISTRY', status: 401, path: `${reg.host}/priv/img` });
      expect((err as Error).message).toContain(`no credentials for ${reg.host}`);
      expect((err as Error).message).toContain('UNAUTHORIZED');
    });

    it('pushes and pulls with credentials given as options', async () => {
      await push(layout, `${reg.host}/priv/img:v2`, { ...fast, ...noEnv, username: USER, password: PASS });
      const res = await pull(`${reg.host}/priv/img:v2`, join(work, 'opt'), { ...fast, ...noEnv, username: USER, password: PASS });
      expect(res.descriptor.digest).toBe((await readIndex(layout)).manifests.find((m) => m.annotations?.[REF_NAME] === 'v2')!.digest);
    });

    it('takes credentials from UFS_REGISTRY_USER and UFS_REGISTRY_PASSWORD', async () => {
      const env = { UFS_REGISTRY_USER: USER, UFS_REGISTRY_PASSWORD: PASS };
      const res = await pull(`${reg.host}/priv/img:v2`, join(work, 'env'), { ...fast, env });
      expect(res.downloaded).toHaveLength(3);
    });

    it("takes credentials from Docker's config.json (base64 auth, via DOCKER_CONFIG) and rejects a wrong password", async () => {
      const dir = join(work, 'docker-config');
      await mkdir(dir, { recursive: true });
      const auth = Buffer.from(`${USER}:${PASS}`).toString('base64');
      await writeFile(join(dir, 'config.json'), JSON.stringify({ auths: { [`http://${reg.host}`]: { auth } } }));
      const res = await pull(`${reg.host}/priv/img:v2`, join(work, 'cfg'), { ...fast, env: { DOCKER_CONFIG: dir } });
      expect(res.downloaded).toHaveLength(3);
      await writeFile(join(dir, 'config.json'), JSON.stringify({ auths: { [reg.host]: { username: USER, password: 'wrong' } } }));
      const err = await pull(`${reg.host}/priv/img:v2`, join(work, 'bad'), { ...fast, env: { DOCKER_CONFIG: dir } }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'EREGISTRY', status: 401 });
      expect((err as Error).message).not.toContain('no credentials');
    });

    it('takes credentials from a Docker credential helper named in credHelpers', async () => {
      const dir = join(work, 'helper');
      await mkdir(join(dir, 'bin'), { recursive: true });
      const script = join(dir, 'bin', 'docker-credential-ufstest');
      await writeFile(script, `#!/bin/sh\nread server\n[ "$server" = "${reg.host}" ] || exit 1\nprintf '%s' '${JSON.stringify({ ServerURL: reg.host, Username: USER, Secret: PASS })}'\n`);
      await chmod(script, 0o755);
      await writeFile(join(dir, 'config.json'), JSON.stringify({ credHelpers: { [reg.host]: 'ufstest' } }));
      const oldPath = process.env.PATH;
      process.env.PATH = `${join(dir, 'bin')}:${oldPath}`;
      try {
        expect(await findCredentials(reg.host, { env: {}, dockerConfigDir: dir })).toEqual({ username: USER, password: PASS });
        const res = await pull(`${reg.host}/priv/img:v2`, join(work, 'helper-pull'), { ...fast, env: {}, dockerConfigDir: dir });
        expect(res.downloaded).toHaveLength(3);
      } finally {
        process.env.PATH = oldPath;
      }
    });

    it.skipIf(!haveSkopeo)('pushes images that skopeo pulls with the same credentials (skipped without skopeo)', async () => {
      const out = join(work, 'skopeo-auth');
      await sh('skopeo', ['copy', '--quiet', '--src-tls-verify=false', '--src-creds', `${USER}:${PASS}`, `docker://${reg.host}/priv/img:v2`, `oci:${out}:v2`]);
      const index = await readIndex(out);
      expect(index.manifests[0]!.digest).toBe((await readIndex(layout)).manifests.find((m) => m.annotations?.[REF_NAME] === 'v2')!.digest);
    });
  });

describe('credential lookup', () => {
  it("maps Docker Hub to Docker's https://index.docker.io/v1/ key and prefers options, then the environment", async () => {
    const dir = await tempDir();
    try {
      const auth = Buffer.from('hubuser:hubpass').toString('base64');
      await writeFile(join(dir, 'config.json'), JSON.stringify({
        auths: { 'https://index.docker.io/v1/': { auth }, 'reg.example:5000': { identitytoken: 'rt-1' } },
      }));
      expect(await findCredentials('docker.io', { env: { DOCKER_CONFIG: dir } })).toEqual({ username: 'hubuser', password: 'hubpass' });
      expect(await findCredentials('reg.example:5000', { env: { DOCKER_CONFIG: dir } })).toEqual({ identityToken: 'rt-1' });
      expect(await findCredentials('other.example', { env: { DOCKER_CONFIG: dir } })).toBeUndefined();
      expect(await findCredentials('docker.io', { env: { DOCKER_CONFIG: dir, UFS_REGISTRY_USER: 'e', UFS_REGISTRY_PASSWORD: 'f' } }))
        .toEqual({ username: 'e', password: 'f' });
      expect(await findCredentials('docker.io', { env: { DOCKER_CONFIG: dir }, username: 'o', password: 'p' })).toEqual({ username: 'o', password: 'p' });
      expect(await findCredentials('docker.io', { env: { HOME: join(dir, 'nohome') } })).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

const digestOf = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('bearer tokens from a token server on loopback', () => {
  let tokenServer: TestServer;
  let registry: TestServer;
  let work: string;
  const tokens = new Map<string, string[]>();
  const layer = randomBytes(50_000);
  const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: digestOf(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: digestOf(layer), size: layer.length }],
  }));

  const issue = (res: http.ServerResponse, scopes: string[], field: 'token' | 'access_token'): void => {
    const t = randomBytes(12).toString('hex');
    tokens.set(t, scopes);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ [field]: t, expires_in: 300, issued_at: new Date().toISOString() }));
  };

  beforeAll(async () => {
    work = await tempDir();
    tokenServer = await serve((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (req.method === 'POST') {
        let body = '';
        req.on('data', (d: Buffer) => { body += d.toString(); });
        req.on('end', () => {
          const form = new URLSearchParams(body);
          if (form.get('grant_type') !== 'refresh_token' || form.get('refresh_token') !== 'refresh-me') {
            res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid_grant","message":"bad refresh token"}');
            return;
          }
          issue(res, (form.get('scope') ?? '').split(' '), 'access_token');
        });
        return;
      }
      const scopes = url.searchParams.getAll('scope');
      const auth = req.headers.authorization;
      if (auth !== undefined && auth !== `Basic ${Buffer.from('alice:secret').toString('base64')}`) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"incorrect username or password"}');
        return;
      }
      // Anonymous users only get public/ repositories.
      issue(res, auth !== undefined ? scopes : scopes.filter((s) => s.startsWith('repository:public/')), 'token');
    });
    const realm = `http://${tokenServer.host}/token`;
    registry = await serve((req, res) => {
      const url = req.url ?? '';
      const m = /^\/v2\/(.+?)\/(manifests|blobs)\/(.+)$/.exec(url);
      const need = m ? `repository:${m[1]}:pull` : undefined;
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const granted = token !== undefined ? tokens.get(token) : undefined;
      const ok = granted !== undefined && (need === undefined || granted.some((s) => s === need || s === `${need},push`));
      if (!ok) {
        const scope = need ? `,scope="${need}"` : '';
        res.writeHead(401, { 'www-authenticate': `Bearer realm="${realm}",service="ufs-test"${scope}`, 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required', detail: [{ Type: 'repository', Name: m?.[1], Action: 'pull' }] }] }));
        return;
      }
      if (!m) return void res.writeHead(200).end('{}');
      if (m[2] === 'manifests') {
        res.writeHead(200, { 'content-type': 'application/vnd.docker.distribution.manifest.v2+json' });
        return void res.end(manifest);
      }
      const blob = m[3] === digestOf(layer) ? layer : m[3] === digestOf(config) ? config : undefined;
      if (!blob) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-length': blob.length });
      res.end(blob);
    });
  });
  afterAll(async () => {
    await Promise.all([tokenServer?.close(), registry?.close()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('pulls a public repository with an anonymous token fetched once for the whole pull', async () => {
    const before = tokenServer.requests.length;
    const res = await pull(`${registry.host}/public/img`, join(work, 'anon'), { ...fast, plainHttp: true, env: {} });
    expect(res.manifest.layers[0]!.digest).toBe(digestOf(layer));
    expect(digestOf(await readFile(blobPath(join(work, 'anon'), digestOf(layer))))).toBe(digestOf(layer));
    const reqs = tokenServer.requests.slice(before);
    expect(reqs).toHaveLength(1);
    expect(reqs[0]!.headers.authorization).toBeUndefined();
    const q = new URL(reqs[0]!.url, 'http://x').searchParams;
    expect(q.get('service')).toBe('ufs-test');
    expect(q.getAll('scope')).toEqual(['repository:public/img:pull']);
  });

  it('sends credentials to the realm (not to the registry) for a private repository', async () => {
    const before = tokenServer.requests.length;
    const res = await pull(`${registry.host}/private/img:latest`, join(work, 'priv'), {
      ...fast, plainHttp: true, env: { UFS_REGISTRY_USER: 'alice', UFS_REGISTRY_PASSWORD: 'secret' },
    });
    expect(res.descriptor.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    const reqs = tokenServer.requests.slice(before);
    expect(reqs[0]!.headers.authorization).toBe(`Basic ${Buffer.from('alice:secret').toString('base64')}`);
    expect(new URL(reqs[0]!.url, 'http://x').searchParams.get('account')).toBe('alice');
    expect(registry.requests.every((r) => !String(r.headers.authorization ?? '').startsWith('Basic'))).toBe(true);
  });

  it('fails a private repository anonymously with a 401 naming the registry', async () => {
    const err = await pull(`${registry.host}/private/img`, join(work, 'anon-priv'), { ...fast, plainHttp: true, env: {} }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EREGISTRY', status: 401, syscall: 'getManifest' });
    expect((err as Error).message).toContain(`registry ${registry.host}: repository private/img: HTTP 401`);
  });

  it('reports the token server refusing a wrong password', async () => {
    const err = await pull(`${registry.host}/private/img`, join(work, 'wrong'), {
      ...fast, plainHttp: true, env: {}, username: 'alice', password: 'nope',
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EREGISTRY', status: 401, syscall: 'token' });
    expect((err as Error).message).toContain('incorrect username or password');
  });

  it("exchanges a Docker identitytoken (OAuth2 refresh token) at the realm with POST", async () => {
    const dir = join(work, 'idtoken');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'config.json'), JSON.stringify({ auths: { [registry.host]: { identitytoken: 'refresh-me' } } }));
    const before = tokenServer.requests.length;
    await pull(`${registry.host}/private/img`, join(work, 'idt'), { ...fast, plainHttp: true, env: { DOCKER_CONFIG: dir } });
    expect(tokenServer.requests.slice(before).map((r) => r.method)).toEqual(['POST']);
  });
});
