// Image references in Docker's grammar, `[host[:port]/]path[:tag][@digest]`: parsing with clear
// errors, Docker Hub normalisation (`ubuntu` -> docker.io/library/ubuntu:latest) and formatting.
import { fsError } from '../errors.js';

/** A parsed, normalised image reference. */
export interface Reference {
  /** The registry as users name it: `docker.io`, `ghcr.io`, `127.0.0.1:5000`, `[::1]:5000`. */
  registry: string;
  /** The repository path inside the registry: `library/ubuntu`, `team/app`. */
  repository: string;
  /** The tag; `latest` when the reference names neither a tag nor a digest. */
  tag?: string;
  /** `sha256:<64 hex>` when the reference pins a digest. */
  digest?: string;
}

export const DOCKER_HUB = 'docker.io';
/** The host that serves Docker Hub's registry API. */
export const DOCKER_HUB_API = 'registry-1.docker.io';
export const DEFAULT_TAG = 'latest';

const NAME_MAX = 255;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const HEX64 = /^[a-f0-9]{64}$/;
const DIGEST_HEX: Record<string, RegExp> = { sha256: /^[a-f0-9]{64}$/, sha512: /^[a-f0-9]{128}$/ };

function invalid(input: string, why: string): Error {
  return fsError('EINVAL', 'parseReference', input, undefined, `invalid reference format: ${why}`);
}

/** Validates `algorithm:hex`; returns the digest or throws EINVAL. */
export function validateDigest(digest: string, input = digest): string {
  if (!DIGEST.test(digest)) throw invalid(input, `'${digest}' is not a digest (algorithm:hex)`);
  const [alg, hex] = digest.split(':') as [string, string];
  const want = DIGEST_HEX[alg];
  if (want === undefined) throw invalid(input, `unsupported digest algorithm '${alg}'`);
  if (!want.test(hex)) throw invalid(input, `digest '${digest}' must be lowercase hex of the right length`);
  return digest;
}

/** Whether the first path component names a registry host (Docker's rule: has '.' or ':', or is localhost). */
function looksLikeHost(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost' || component.startsWith('[');
}

function validateHost(host: string, input: string): void {
  let name = host;
  let port: string | undefined;
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    if (end < 0) throw invalid(input, `unterminated IPv6 address in '${host}'`);
    const addr = host.slice(1, end);
    if (!/^[0-9a-fA-F:.]+$/.test(addr) || !addr.includes(':')) throw invalid(input, `bad IPv6 address '${addr}'`);
    const rest = host.slice(end + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) throw invalid(input, `unexpected '${rest}' after IPv6 address`);
      port = rest.slice(1);
    }
    name = '';
  } else {
    const colon = host.lastIndexOf(':');
    if (colon >= 0) {
      port = host.slice(colon + 1);
      name = host.slice(0, colon);
    }
  }
  if (port !== undefined && !/^[0-9]{1,5}$/.test(port)) throw invalid(input, `bad port '${port}' in registry '${host}'`);
  if (port !== undefined && Number(port) > 65535) throw invalid(input, `port ${port} out of range`);
  if (name !== '') {
    for (const c of name.split('.')) {
      if (!DOMAIN_COMPONENT.test(c)) throw invalid(input, `bad registry host '${host}'`);
    }
  }
}

/**
 * Parses a reference the way `docker pull` does. A reference without tag or digest gets `latest`.
 * Throws a Node-shaped EINVAL error that names the offending part.
 */
export function parseReference(input: string, options: { defaultTag?: string | null } = {}): Reference {
  if (typeof input !== 'string' || input.length === 0) throw invalid(String(input), 'empty reference');
  if (/\s/.test(input)) throw invalid(input, 'whitespace is not allowed');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = validateDigest(rest.slice(at + 1), input);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  // A colon after the last slash separates the tag (a colon before it belongs to host:port).
  if (lastColon > lastSlash && !(lastSlash < 0 && rest.startsWith('['))) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) throw invalid(input, `bad tag '${tag}' (letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-')`);
  }
  if (rest === '') throw invalid(input, 'missing repository name');
  const slash = rest.indexOf('/');
  let registry = DOCKER_HUB;
  let path = rest;
  if (slash >= 0 && looksLikeHost(rest.slice(0, slash))) {
    registry = rest.slice(0, slash);
    path = rest.slice(slash + 1);
    validateHost(registry, input);
  } else if (slash < 0 && rest.startsWith('[')) {
    throw invalid(input, 'a registry host needs a repository path after it');
  }
  if (registry === 'index.docker.io') registry = DOCKER_HUB;
  if (path === '') throw invalid(input, 'missing repository path');
  if (path !== path.toLowerCase()) throw invalid(input, `repository name '${path}' must be lowercase`);
  for (const c of path.split('/')) {
    if (c === '') throw invalid(input, `empty path component in '${path}'`);
    if (!PATH_COMPONENT.test(c)) {
      throw invalid(input, `bad path component '${c}' (lowercase letters and digits, separated by '.', '_', '__' or '-')`);
    }
  }
  if (registry === DOCKER_HUB && !path.includes('/')) {
    if (HEX64.test(path)) throw invalid(input, 'cannot use a 64-character hexadecimal string as a repository name');
    path = `library/${path}`;
  }
  const nameLength = (registry === DOCKER_HUB ? 0 : registry.length + 1) + path.length;
  if (nameLength > NAME_MAX) throw invalid(input, `repository name longer than ${NAME_MAX} characters`);
  const ref: Reference = { registry, repository: path };
  const defaultTag = options.defaultTag === undefined ? DEFAULT_TAG : options.defaultTag;
  if (tag !== undefined) ref.tag = tag;
  else if (digest === undefined && defaultTag !== null) ref.tag = defaultTag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** The full name, `registry/repository[:tag][@digest]` (always with the registry). */
export function formatReference(ref: Reference): string {
  let s = `${ref.registry}/${ref.repository}`;
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** The short name Docker prints: `ubuntu:latest` for Docker Hub's library, the full name otherwise. */
export function familiarReference(ref: Reference): string {
  let name = `${ref.registry}/${ref.repository}`;
  if (ref.registry === DOCKER_HUB) {
    name = ref.repository.startsWith('library/') && ref.repository.split('/').length === 2
      ? ref.repository.slice('library/'.length) : ref.repository;
  }
  if (ref.tag !== undefined) name += `:${ref.tag}`;
  if (ref.digest !== undefined) name += `@${ref.digest}`;
  return name;
}

/** The host[:port] that serves the registry API for a registry name. */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB || registry === 'index.docker.io' ? DOCKER_HUB_API : registry;
}

/** The host part (without port and brackets) of `host[:port]`. */
export function hostName(hostPort: string): string {
  if (hostPort.startsWith('[')) return hostPort.slice(1, hostPort.indexOf(']'));
  if (hostPort.indexOf(':') !== hostPort.lastIndexOf(':')) return hostPort; // a bare IPv6 address
  const colon = hostPort.lastIndexOf(':');
  return colon >= 0 ? hostPort.slice(0, colon) : hostPort;
}

/** Whether a host (`host[:port]` or a bare name/address) is loopback: localhost, 127.0.0.0/8, ::1. */
export function isLoopback(hostPort: string): boolean {
  const h = hostName(hostPort).toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)) return h.split('.').every((o) => Number(o) <= 255);
  return h === '::1' || h === '0:0:0:0:0:0:0:1' || /^::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
