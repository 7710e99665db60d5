// Registry errors: a Node-shaped UfsError (code EREGISTRY, EINTEGRITY, EAUTH...) that names the
// registry, the repository, the HTTP status and the registry's own error message from its JSON body.
import { UfsError } from '../errors.js';

/** One entry of the distribution spec's error body: `{"errors":[{"code","message","detail"}]}`. */
export interface RegistryErrorEntry {
  code: string;
  message: string;
  detail?: unknown;
}

export interface RegistryErrorInit {
  code?: string;
  /** The client operation (getManifest, getBlob, uploadBlob, ...): becomes `syscall`. */
  op: string;
  registry: string;
  repository?: string;
  status?: number;
  statusText?: string;
  method?: string;
  url?: string;
  errors?: RegistryErrorEntry[];
  /** Our own words, used when there is no HTTP status to report. */
  message?: string;
  retryAfterMs?: number;
}

/** An error from talking to a registry. `path` is `registry/repository`. */
export class RegistryError extends UfsError {
  readonly registry: string;
  readonly repository?: string;
  readonly status?: number;
  readonly errors: RegistryErrorEntry[];
  readonly retryAfterMs?: number;

  constructor(init: RegistryErrorInit) {
    const where = init.repository !== undefined ? `${init.registry}/${init.repository}` : init.registry;
    const parts: string[] = [`registry ${init.registry}`];
    if (init.repository !== undefined) parts.push(`repository ${init.repository}`);
    if (init.status !== undefined) {
      parts.push(`HTTP ${init.status}${init.statusText ? ` ${init.statusText}` : ''}${init.method && init.url ? ` on ${init.method} ${init.url}` : ''}`);
    }
    const regMsgs = (init.errors ?? []).map((e) => {
      let s = `${e.code}: ${e.message}`;
      if (e.detail !== undefined && e.detail !== null && e.detail !== '') s += ` (${typeof e.detail === 'string' ? e.detail : JSON.stringify(e.detail)})`;
      return s;
    });
    if (regMsgs.length > 0) parts.push(regMsgs.join('; '));
    if (init.message !== undefined) parts.push(init.message);
    super(init.code ?? 'EREGISTRY', init.op, where, undefined, parts.join(': '));
    this.registry = init.registry;
    if (init.repository !== undefined) this.repository = init.repository;
    if (init.status !== undefined) this.status = init.status;
    this.errors = init.errors ?? [];
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
  }

  /** Whether another try may succeed: 5xx (but 501), 408, 429. */
  get transient(): boolean {
    const s = this.status;
    return s !== undefined && (s === 408 || s === 429 || (s >= 500 && s !== 501 && s !== 505));
  }
}

/** Parses a registry error body; tolerant of bodies that are not JSON. */
export function parseErrorBody(body: Buffer): RegistryErrorEntry[] {
  if (body.length === 0) return [];
  try {
    const doc = JSON.parse(body.toString('utf8')) as { errors?: unknown; error?: unknown; message?: unknown };
    if (Array.isArray(doc.errors)) {
      return doc.errors.filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null).map((e) => {
        const entry: RegistryErrorEntry = { code: String(e.code ?? 'UNKNOWN'), message: String(e.message ?? '') };
        if (e.detail !== undefined) entry.detail = e.detail;
        return entry;
      });
    }
    // Token servers and proxies: {"error": "...", "message": "..."} or {"details": "..."}.
    if (typeof doc.error === 'string' || typeof doc.message === 'string') {
      return [{ code: typeof doc.error === 'string' ? doc.error : 'ERROR', message: typeof doc.message === 'string' ? doc.message : '' }];
    }
  } catch {
    // Not JSON: a short plain-text body still says something useful.
  }
  const text = body.toString('utf8').replace(/\s+/g, ' ').trim();
  return text.length > 0 && text.length <= 300 && !text.startsWith('<') ? [{ code: 'TEXT', message: text }] : [];
}
