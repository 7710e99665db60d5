// The HTTP transport of the registry client: one request over node:http/https with streamed bodies,
// idle timeouts, redirects followed by hand (Authorization dropped across hosts), and transient-error tests.
import http from 'node:http';
import https from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { fsError, isErrno } from '../errors.js';
import { isLoopback } from './reference.js';

/** A request body: bytes, or a factory of a fresh stream (so the request can be sent again). */
export type Body = Buffer | { length: number; open: () => Readable };

export interface HttpRequest {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  body?: Body;
  /** Follow redirects (GET and HEAD only); default true. */
  followRedirects?: boolean;
}

export interface HttpResponse {
  status: number;
  statusText: string;
  headers: IncomingHttpHeaders;
  /** The URL that finally answered (after redirects). */
  url: URL;
  body: IncomingMessage;
}

export interface TransportOptions {
  /** Skip TLS verification and allow plain HTTP to any host. */
  insecure?: boolean;
  /** Idle timeout of a socket, in ms (default 60 s). */
  timeoutMs?: number;
  userAgent?: string;
  maxRedirects?: number;
  /** Aborts every request of this transport (a pull or push stops with an AbortError). */
  signal?: AbortSignal;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** Error codes of network failures worth another try. */
const TRANSIENT_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH',
  'ENETDOWN', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET', 'ESOCKETTIMEDOUT', 'EREGISTRY_SHORT',
]);

/** Whether an error is a network hiccup (reset, timeout, truncated body) rather than a refusal. */
export function isTransientNetworkError(e: unknown): boolean {
  if (isErrno(e)) return TRANSIENT_CODES.has(e.code);
  return e instanceof Error && /aborted|socket hang up|premature close/i.test(e.message);
}

/** Sends requests with keep-alive agents; one Transport per client. */
export class Transport {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  private readonly httpsAgent: https.Agent;
  private readonly opts: TransportOptions;

  constructor(opts: TransportOptions = {}) {
    this.opts = opts;
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: !opts.insecure });
  }

  /** Whether plain HTTP may be used for a host: loopback, or everywhere when insecure. */
  allowsPlainHttp(host: string): boolean {
    return this.opts.insecure === true || isLoopback(host);
  }

  /** Sends one request and resolves with the response head; the caller consumes or discards `body`. */
  async request(req: HttpRequest): Promise<HttpResponse> {
    let url = req.url;
    let headers = { ...(req.headers ?? {}) };
    const max = this.opts.maxRedirects ?? 10;
    for (let hop = 0; ; hop++) {
      const res = await this.once(req.method, url, headers, req.body);
      const follow = req.followRedirects !== false && (req.method === 'GET' || req.method === 'HEAD');
      const location = res.headers.location;
      if (!follow || !REDIRECTS.has(res.status) || location === undefined) return res;
      res.body.resume();
      if (hop >= max) {
        throw fsError('EREGISTRY', req.method, url.href, undefined, `too many redirects (more than ${max}) from ${req.url.host}`);
      }
      const next = new URL(location, url);
      if (next.protocol === 'http:' && url.protocol === 'https:' && !this.allowsPlainHttp(next.host)) {
        throw fsError('EREGISTRY', req.method, url.href, next.href, `refusing redirect from https to plain http at ${next.host}`);
      }
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        throw fsError('EREGISTRY', req.method, url.href, next.href, `refusing redirect to ${next.protocol} URL`);
      }
      if (next.origin !== url.origin) {
        // Credentials for the registry must not leak to blob storage (S3, a CDN, another host).
        headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'));
      }
      url = next;
    }
  }

  private once(method: string, url: URL, headers: Record<string, string>, body: Body | undefined): Promise<HttpResponse> {
    if (url.protocol === 'http:' && !this.allowsPlainHttp(url.host)) {
      return Promise.reject(fsError('EREGISTRY', method, url.href, undefined,
        `plain HTTP to ${url.host} refused (only loopback hosts, or with the insecure option)`));
    }
    const mod = url.protocol === 'https:' ? https : http;
    const agent = url.protocol === 'https:' ? this.httpsAgent : this.httpAgent;
    const h: Record<string, string> = { 'user-agent': this.opts.userAgent ?? 'ufs-registry-client/0.1', ...headers };
    if (body !== undefined) h['content-length'] = String(body.length);
    else if (method === 'PUT' || method === 'POST' || method === 'PATCH') h['content-length'] = '0';
    return new Promise<HttpResponse>((resolve, reject) => {
      const options: http.RequestOptions = { method, headers: h, agent, timeout: this.opts.timeoutMs ?? 60_000 };
      if (this.opts.signal !== undefined) options.signal = this.opts.signal;
      const cr = mod.request(url, options, (res) => {
        res.on('error', () => { /* reported to whoever reads the body */ });
        resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', headers: res.headers, url, body: res });
      });
      cr.on('timeout', () => {
        cr.destroy(fsError('ETIMEDOUT', method, url.href, undefined, `no data from ${url.host} for ${this.opts.timeoutMs ?? 60_000} ms`));
      });
      cr.on('error', reject);
      if (body === undefined) cr.end();
      else if (Buffer.isBuffer(body)) cr.end(body);
      else {
        const src = body.open();
        src.on('error', (e) => cr.destroy(e));
        cr.on('close', () => src.destroy()); // a refused upload must not keep its file open
        src.pipe(cr);
      }
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

/** Reads a whole (small) response body, refusing more than `limit` bytes. */
export async function readBody(res: HttpResponse, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > limit) {
      res.body.destroy();
      throw fsError('EFBIG', 'read', res.url.href, undefined, `response from ${res.url.host} larger than ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Drains and discards a response body (so the socket returns to the pool). */
export function discard(res: HttpResponse): void {
  res.body.resume();
}

/** The Retry-After header in ms (seconds or an HTTP date), or undefined. */
export function retryAfterMs(headers: IncomingHttpHeaders, now = Date.now()): number | undefined {
  const v = headers['retry-after'];
  if (typeof v !== 'string' || v.trim() === '') return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}
