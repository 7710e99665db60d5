// RegistryClient: the OCI distribution API for one repository of one registry: the /v2/ check with
// https-then-http for loopback/insecure hosts, authenticated requests with retries, manifests, blob heads and uploads.
import { Authenticator, findCredentials, type CredentialOptions } from './auth.js';
import { RegistryError, parseErrorBody } from './errors.js';
import { Transport, discard, readBody, retryAfterMs, type Body, type HttpResponse, type TransportOptions } from './http.js';
import { MANIFEST_ACCEPT, MANIFEST_MAX_BYTES, digestLike, sha256Digest } from './manifest.js';
import { apiHost, type Reference } from './reference.js';
import { withRetry, type RetryOptions } from './retry.js';

export interface ClientOptions extends CredentialOptions, TransportOptions, RetryOptions {
  /** Use plain HTTP without trying HTTPS first (allowed only for loopback hosts or with `insecure`). */
  plainHttp?: boolean;
  /** Token scopes to ask for, besides `repository:<name>:pull` (push adds `...:pull,push`). */
  scopes?: string[];
  /** Hears about every retried failure (for logs). */
  onRetry?: (e: unknown, attempt: number, delayMs: number) => void;
}

export interface SendOptions {
  method: string;
  /** A path under the registry (`/v2/...`) or an absolute URL (upload locations). */
  path: string | URL;
  headers?: Record<string, string>;
  body?: Body;
  /** Statuses that count as success; anything else becomes a RegistryError. */
  expect: number[];
  /** Retry transient failures of this one request (default true; uploads retry at a higher level). */
  retry?: boolean;
  followRedirects?: boolean;
}

export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

/** A client for one repository. Call `close()` when done (it ends keep-alive sockets). */
export class RegistryClient {
  readonly registry: string;
  readonly repository: string;
  readonly transport: Transport;
  private readonly auth: Authenticator;
  private readonly opts: ClientOptions;
  private base: URL | undefined;

  constructor(registry: string, repository: string, opts: ClientOptions = {}) {
    this.registry = registry;
    this.repository = repository;
    this.opts = opts;
    this.transport = new Transport(opts);
    const scopes = opts.scopes ?? [`repository:${repository}:pull`];
    this.auth = new Authenticator(registry, this.transport, () => findCredentials(registry, opts), scopes, repository);
  }

  static forReference(ref: Reference, opts: ClientOptions = {}): RegistryClient {
    return new RegistryClient(ref.registry, ref.repository, opts);
  }

  /** The API base URL (`https://host/`), known after `ping()`. */
  get baseUrl(): URL | undefined {
    return this.base;
  }

  private error(op: string, extra: Partial<ConstructorParameters<typeof RegistryError>[0]>): RegistryError {
    return new RegistryError({ op, registry: this.registry, repository: this.repository, ...extra });
  }

  /**
   * The /v2/ check: finds the scheme (https, or http for loopback/insecure hosts when https fails)
   * and answers the first auth challenge so later requests carry credentials from the start.
   */
  async ping(): Promise<void> {
    if (this.base !== undefined) return;
    const host = apiHost(this.registry);
    const candidates: URL[] = [];
    if (!this.opts.plainHttp) candidates.push(new URL(`https://${host}/`));
    if (this.transport.allowsPlainHttp(host)) candidates.push(new URL(`http://${host}/`));
    if (candidates.length === 0) {
      throw this.error('ping', { message: `plain HTTP to ${host} refused (only loopback hosts, or with the insecure option)` });
    }
    let lastError: unknown;
    for (const [i, base] of candidates.entries()) {
      try {
        this.base = base;
        // HTTPS with an HTTP fallback is tried once: a TLS error there is an answer, not a hiccup.
        const retry = i === candidates.length - 1;
        await this.send('ping', { method: 'GET', path: '/v2/', expect: [200], retry }).then(discard);
        return;
      } catch (e) {
        this.base = undefined;
        if (e instanceof RegistryError && e.status !== undefined) {
          if (e.status === 404) throw this.error('ping', { message: `${host} does not speak the registry API v2 (GET /v2/ is 404)`, status: 404 });
          throw e;
        }
        lastError = e;
      }
    }
    const why = lastError instanceof Error ? lastError.message : String(lastError);
    throw this.error('ping', { message: `cannot reach ${host}: ${why}` });
  }

  /** Sends one request with auth and retries; resolves with a response whose status is in `expect`. */
  async send(op: string, o: SendOptions): Promise<HttpResponse> {
    if (this.base === undefined) await this.ping();
    const url = typeof o.path === 'string' ? new URL(o.path, this.base) : o.path;
    const once = async (): Promise<HttpResponse> => {
      let authTries = 0;
      for (;;) {
        const authorization = await this.auth.authorization();
        const headers: Record<string, string> = { ...(o.headers ?? {}) };
        if (authorization !== undefined) headers.authorization = authorization;
        const req = { method: o.method, url, headers, followRedirects: o.followRedirects ?? true };
        const res = await this.transport.request(o.body !== undefined ? { ...req, body: o.body } : req);
        if (res.status === 401 && authTries < 2) {
          authTries++;
          if (await this.auth.onUnauthorized(res, authorization)) {
            discard(res);
            continue;
          }
        }
        if (o.expect.includes(res.status)) return res;
        const body = o.method === 'HEAD' ? Buffer.alloc(0) : await readBody(res, 64 * 1024).catch(() => Buffer.alloc(0));
        const retryAfter = retryAfterMs(res.headers);
        let message: string | undefined;
        if (res.status === 401 && !(await this.auth.hasCredentials())) {
          message = `no credentials for ${this.registry} (give username/password, set UFS_REGISTRY_USER and UFS_REGISTRY_PASSWORD, or log in with docker)`;
        }
        throw this.error(op, {
          status: res.status, statusText: res.statusText, method: o.method, url: url.pathname,
          errors: parseErrorBody(body),
          ...(retryAfter !== undefined ? { retryAfterMs: retryAfter } : {}),
          ...(message !== undefined ? { message } : {}),
        });
      }
    };
    if (o.retry === false) return once();
    return withRetry(once, this.opts, this.opts.onRetry);
  }

  /** GETs a manifest by tag or digest, verifying its digest (against the reference or Docker-Content-Digest). */
  async getManifest(reference: string, accept = MANIFEST_ACCEPT): Promise<FetchedManifest> {
    return withRetry(async () => {
      const res = await this.send('getManifest', {
        method: 'GET', path: `/v2/${this.repository}/manifests/${reference}`, headers: { accept }, expect: [200], retry: false,
      });
      const bytes = await readBody(res, MANIFEST_MAX_BYTES);
      const mediaType = String(res.headers['content-type'] ?? '').split(';')[0]!.trim();
      const isDigest = reference.includes(':');
      const header = res.headers['docker-content-digest'];
      const claimed = isDigest ? reference : typeof header === 'string' && header !== '' ? header : undefined;
      const digest = claimed !== undefined ? digestLike(claimed, bytes) : sha256Digest(bytes);
      if (claimed !== undefined && claimed !== digest) {
        throw this.error('getManifest', {
          code: 'EINTEGRITY', message: `manifest ${reference} has digest ${digest}, expected ${claimed}`,
        });
      }
      return { bytes, mediaType, digest: digest.startsWith('sha256:') ? digest : sha256Digest(bytes) };
    }, this.opts, this.opts.onRetry);
  }

  /** HEADs a blob: its size when the registry has it, undefined when it does not. */
  async blobSize(digest: string): Promise<number | undefined> {
    const res = await this.send('headBlob', { method: 'HEAD', path: `/v2/${this.repository}/blobs/${digest}`, expect: [200, 404] });
    discard(res);
    if (res.status === 404) return undefined;
    const n = Number(res.headers['content-length']);
    return Number.isFinite(n) ? n : -1;
  }

  /** Starts a blob GET (redirects followed), from byte `start` when > 0. Status 200 or 206. */
  openBlob(digest: string, start = 0): Promise<HttpResponse> {
    const headers: Record<string, string> = { accept: '*/*' };
    if (start > 0) headers.range = `bytes=${start}-`;
    return this.send('getBlob', { method: 'GET', path: `/v2/${this.repository}/blobs/${digest}`, headers, expect: [200, 206], retry: false });
  }

  /**
   * Opens an upload session, or mounts the blob from `from` (same registry) when given:
   * resolves `{ mounted: true }` when the registry linked the blob, else the session URL.
   */
  async startUpload(mount?: { digest: string; from: string }): Promise<{ mounted: true } | { mounted: false; location: URL }> {
    const q = mount ? `?mount=${encodeURIComponent(mount.digest)}&from=${encodeURIComponent(mount.from)}` : '';
    const res = await this.send('startUpload', {
      method: 'POST', path: `/v2/${this.repository}/blobs/uploads/${q}`, expect: [201, 202], retry: false, followRedirects: false,
    });
    discard(res);
    if (res.status === 201 && mount) return { mounted: true };
    return { mounted: false, location: this.location(res, 'startUpload') };
  }

  /** The Location header of an upload response, resolved against the request URL. */
  location(res: HttpResponse, op: string): URL {
    const loc = res.headers.location;
    if (typeof loc !== 'string' || loc === '') {
      throw this.error(op, { status: res.status, message: 'the registry sent no Location for the upload' });
    }
    return new URL(loc, res.url);
  }

  /** PUTs a manifest under a tag or digest; resolves with the digest the registry reports (or ours). */
  async putManifest(reference: string, bytes: Buffer, mediaType: string): Promise<string> {
    const res = await this.send('putManifest', {
      method: 'PUT', path: `/v2/${this.repository}/manifests/${reference}`, headers: { 'content-type': mediaType },
      body: bytes, expect: [200, 201, 202],
    });
    discard(res);
    const ours = sha256Digest(bytes);
    const theirs = res.headers['docker-content-digest'];
    if (typeof theirs === 'string' && theirs.startsWith('sha256:') && theirs !== ours) {
      throw this.error('putManifest', { code: 'EINTEGRITY', message: `registry stored manifest as ${theirs}, we sent ${ours}` });
    }
    return ours;
  }

  close(): void {
    this.transport.close();
  }
}
