// Registry authentication: credentials (options, UFS_REGISTRY_USER/PASSWORD, Docker's config.json and
// its credential helpers), WWW-Authenticate parsing, basic auth and bearer tokens fetched from the realm.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { isErrno } from '../errors.js';
import { RegistryError, parseErrorBody } from './errors.js';
import { readBody, type HttpResponse, type Transport } from './http.js';
import { DOCKER_HUB } from './reference.js';

export interface Credentials {
  username?: string;
  password?: string;
  /** An OAuth2 refresh token (Docker's `identitytoken`), exchanged at the token realm. */
  identityToken?: string;
  /** A bearer token to send as is (Docker's `registrytoken`). */
  registryToken?: string;
}

export interface CredentialOptions {
  username?: string;
  password?: string;
  /** Environment to read UFS_REGISTRY_USER/UFS_REGISTRY_PASSWORD and DOCKER_CONFIG from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Directory holding config.json (default $DOCKER_CONFIG, else ~/.docker). */
  dockerConfigDir?: string;
}

interface DockerAuthEntry { auth?: string; username?: string; password?: string; identitytoken?: string; registrytoken?: string }
interface DockerConfig { auths?: Record<string, DockerAuthEntry>; credHelpers?: Record<string, string>; credsStore?: string }

const HUB_KEYS = ['https://index.docker.io/v1/', 'index.docker.io', 'docker.io', 'registry-1.docker.io'];

/** The key a Docker config uses for a registry, stripped of scheme and path: `host[:port]`. */
function configKey(key: string): string {
  return key.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '').toLowerCase();
}

function fromEntry(e: DockerAuthEntry): Credentials | undefined {
  const c: Credentials = {};
  if (typeof e.auth === 'string' && e.auth !== '') {
    const plain = Buffer.from(e.auth, 'base64').toString('utf8');
    const colon = plain.indexOf(':');
    if (colon > 0) {
      c.username = plain.slice(0, colon);
      c.password = plain.slice(colon + 1);
    }
  }
  if (typeof e.username === 'string' && e.username !== '') c.username = e.username;
  if (typeof e.password === 'string' && e.password !== '') c.password = e.password;
  if (typeof e.identitytoken === 'string' && e.identitytoken !== '') c.identityToken = e.identitytoken;
  if (typeof e.registrytoken === 'string' && e.registrytoken !== '') c.registryToken = e.registrytoken;
  return Object.keys(c).length > 0 ? c : undefined;
}

/** Runs `docker-credential-<helper> get` as Docker does; undefined when it has nothing. */
function credentialHelper(helper: string, serverUrl: string): Promise<Credentials | undefined> {
  return new Promise((resolve) => {
    const child = spawn(`docker-credential-${helper}`, ['get'], { stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString('utf8'); });
    child.on('error', () => resolve(undefined));
    child.on('close', (code) => {
      if (code !== 0) return resolve(undefined);
      try {
        const doc = JSON.parse(out) as { Username?: string; Secret?: string };
        if (typeof doc.Secret !== 'string' || doc.Secret === '') return resolve(undefined);
        if (doc.Username === '<token>') return resolve({ identityToken: doc.Secret });
        resolve({ username: doc.Username ?? '', password: doc.Secret });
      } catch {
        resolve(undefined);
      }
    });
    child.stdin.end(serverUrl);
  });
}

/**
 * Finds credentials for a registry: explicit options first, then UFS_REGISTRY_USER and
 * UFS_REGISTRY_PASSWORD, then Docker's config.json (credHelpers, credsStore, auths).
 */
export async function findCredentials(registry: string, opts: CredentialOptions = {}): Promise<Credentials | undefined> {
  if (opts.username !== undefined && opts.password !== undefined) return { username: opts.username, password: opts.password };
  const env = opts.env ?? process.env;
  const user = env.UFS_REGISTRY_USER;
  const pass = env.UFS_REGISTRY_PASSWORD;
  if (user !== undefined && user !== '' && pass !== undefined) return { username: user, password: pass };
  const dir = opts.dockerConfigDir ?? (env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker'));
  let config: DockerConfig;
  try {
    config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as DockerConfig;
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR', 'EACCES') || e instanceof SyntaxError) return undefined;
    throw e;
  }
  const isHub = registry === DOCKER_HUB;
  const wanted = isHub ? HUB_KEYS : [registry.toLowerCase()];
  const serverUrl = isHub ? HUB_KEYS[0]! : registry;
  const helper = Object.entries(config.credHelpers ?? {}).find(([k]) => wanted.includes(configKey(k)) || (isHub && HUB_KEYS.includes(k)));
  if (helper) return credentialHelper(helper[1], serverUrl);
  for (const [key, entry] of Object.entries(config.auths ?? {})) {
    if (wanted.includes(configKey(key)) || (isHub && HUB_KEYS.includes(key))) {
      const c = fromEntry(entry);
      if (c) return c;
    }
  }
  if (typeof config.credsStore === 'string' && config.credsStore !== '') return credentialHelper(config.credsStore, serverUrl);
  return undefined;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses a WWW-Authenticate header (one or more challenges, quoted or token parameter values). */
export function parseWwwAuthenticate(header: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const s = header;
  const skipWs = (): void => { while (i < s.length && /[\s,]/.test(s[i]!)) i++; };
  const token = (): string => {
    const start = i;
    while (i < s.length && /[!#$%&'*+.^_`|~0-9A-Za-z/-]/.test(s[i]!)) i++;
    return s.slice(start, i);
  };
  while (i < s.length) {
    skipWs();
    const scheme = token();
    if (scheme === '') { i++; continue; }
    const ch: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(ch);
    for (;;) {
      skipWs();
      const save = i;
      const key = token();
      while (s[i] === ' ') i++;
      if (key === '' || s[i] !== '=') { i = save; break; }
      i++;
      while (s[i] === ' ') i++;
      let value = '';
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < s.length) i++;
          value += s[i];
          i++;
        }
        i++;
      } else {
        const start = i;
        while (i < s.length && s[i] !== ',' && !/\s/.test(s[i]!)) i++;
        value = s.slice(start, i);
      }
      ch.params[key.toLowerCase()] = value;
    }
  }
  return out;
}

interface Token { header: string; expiresAt: number }

/**
 * The authorisation state of one client (one registry, one set of scopes). It answers a 401 by
 * choosing basic credentials or fetching a bearer token, and caches the token until it expires.
 */
export class Authenticator {
  private credentials: Credentials | undefined | null = null;
  private basic: string | undefined;
  private token: Token | undefined;
  private bearerChallenge: Challenge | undefined;

  constructor(
    private readonly registry: string,
    private readonly transport: Transport,
    private readonly getCredentials: () => Promise<Credentials | undefined>,
    private readonly scopes: string[],
    private readonly repository?: string,
  ) {}

  private async creds(): Promise<Credentials | undefined> {
    if (this.credentials === null) this.credentials = await this.getCredentials();
    return this.credentials;
  }

  /** Whether any credentials were found for this registry. */
  async hasCredentials(): Promise<boolean> {
    return (await this.creds()) !== undefined;
  }

  /** The Authorization header to send now, refreshing an expired token. */
  async authorization(): Promise<string | undefined> {
    if (this.token !== undefined) {
      if (Date.now() < this.token.expiresAt || this.bearerChallenge === undefined) return this.token.header;
      await this.fetchToken(this.bearerChallenge, []);
      return this.token?.header;
    }
    return this.basic;
  }

  /**
   * Reacts to a 401: returns true when the request is worth sending again with a new
   * Authorization header (and false when we have nothing better to offer).
   */
  async onUnauthorized(res: HttpResponse, sentHeader: string | undefined): Promise<boolean> {
    const header = res.headers['www-authenticate'];
    const challenges = parseWwwAuthenticate(Array.isArray(header) ? header.join(', ') : header ?? '');
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer !== undefined && bearer.params.realm !== undefined) {
      const extra = (bearer.params.scope ?? '').split(' ').filter((x) => x !== '');
      this.bearerChallenge = bearer;
      await this.fetchToken(bearer, extra);
      return this.token !== undefined && this.token.header !== sentHeader;
    }
    if (challenges.some((c) => c.scheme === 'basic')) {
      const c = await this.creds();
      if (c?.username === undefined || c.password === undefined) return false;
      this.basic = `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
      return this.basic !== sentHeader;
    }
    return false;
  }

  private async fetchToken(ch: Challenge, extraScopes: string[]): Promise<void> {
    const c = await this.creds();
    if (c?.registryToken !== undefined) {
      this.token = { header: `Bearer ${c.registryToken}`, expiresAt: Number.MAX_SAFE_INTEGER };
      return;
    }
    const realm = new URL(ch.params.realm!);
    const scopes = [...new Set([...this.scopes, ...extraScopes])];
    const service = ch.params.service;
    let res: HttpResponse;
    if (c?.identityToken !== undefined) {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: c.identityToken, client_id: 'ufs' });
      if (service !== undefined) form.set('service', service);
      if (scopes.length > 0) form.set('scope', scopes.join(' '));
      res = await this.transport.request({
        method: 'POST', url: realm, body: Buffer.from(form.toString()),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
    } else {
      if (service !== undefined) realm.searchParams.set('service', service);
      for (const s of scopes) realm.searchParams.append('scope', s);
      const headers: Record<string, string> = {};
      if (c?.username !== undefined && c.password !== undefined) {
        headers.authorization = `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
        realm.searchParams.set('account', c.username);
      }
      res = await this.transport.request({ method: 'GET', url: realm, headers });
    }
    const body = await readBody(res, 1024 * 1024);
    if (res.status !== 200) {
      const init = {
        op: 'token', registry: this.registry, status: res.status, statusText: res.statusText,
        method: c?.identityToken !== undefined ? 'POST' : 'GET', url: `${realm.origin}${realm.pathname}`,
        errors: parseErrorBody(body), message: `the token server refused ${c ? 'the credentials' : 'anonymous access'}`,
      };
      throw new RegistryError(this.repository !== undefined ? { ...init, repository: this.repository } : init);
    }
    let doc: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
    try {
      doc = JSON.parse(body.toString('utf8')) as typeof doc;
    } catch {
      throw new RegistryError({ op: 'token', registry: this.registry, message: `token server ${realm.host} sent a body that is not JSON` });
    }
    const tok = typeof doc.token === 'string' && doc.token !== '' ? doc.token : doc.access_token;
    if (typeof tok !== 'string' || tok === '') {
      throw new RegistryError({ op: 'token', registry: this.registry, message: `token server ${realm.host} sent no token` });
    }
    const ttl = typeof doc.expires_in === 'number' && doc.expires_in > 0 ? doc.expires_in : 60;
    const issued = typeof doc.issued_at === 'string' ? Date.parse(doc.issued_at) : NaN;
    const start = Number.isNaN(issued) || issued > Date.now() ? Date.now() : issued;
    // Renew a little early so a long layer download does not start with a token about to lapse.
    this.token = { header: `Bearer ${tok}`, expiresAt: start + ttl * 1000 - Math.min(10_000, ttl * 100) };
  }
}
