// Image names in the store: `repository[:tag]` (tag `latest` by default), Docker's grammar for the
// repository (lowercase path components, an optional registry host first); image IDs and their prefixes.
import { fsError } from '../errors.js';

export const DEFAULT_TAG = 'latest';

export interface ImageName {
  repository: string;
  tag: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;

function bad(ref: string, why: string): Error {
  return fsError('EINVAL', 'reference', ref, undefined, `invalid image name '${ref}': ${why}`);
}

/** Parses `repository[:tag]`; rejects digests (`@sha256:...`) and malformed names with EINVAL. */
export function parseImageName(ref: string): ImageName {
  if (typeof ref !== 'string' || ref === '') throw bad(String(ref), 'empty');
  if (ref.includes('@')) throw bad(ref, 'digest references name no tag; use the image ID instead');
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  let repository = ref;
  let tag = DEFAULT_TAG;
  if (colon > slash) {
    repository = ref.slice(0, colon);
    tag = ref.slice(colon + 1);
  }
  if (!TAG.test(tag)) throw bad(ref, `tag '${tag}' must be letters, digits, '_', '.', '-' (at most 128, not starting with '.' or '-')`);
  const parts = repository.split('/');
  const first = parts[0]!;
  const hasHost = parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['));
  if (hasHost && !HOST.test(first)) throw bad(ref, `bad registry host '${first}'`);
  for (const c of hasHost ? parts.slice(1) : parts) {
    if (!COMPONENT.test(c)) throw bad(ref, `'${c}' must be lowercase letters and digits, separated by '.', '_', '__' or '-'`);
  }
  if (repository.length > 255) throw bad(ref, 'repository longer than 255 characters');
  return { repository, tag };
}

export function formatImageName(n: ImageName): string {
  return `${n.repository}:${n.tag}`;
}

/** `repository:tag` with the default tag filled in. */
export function normalizeImageName(ref: string): string {
  return formatImageName(parseImageName(ref));
}

/** Whether `s` looks like an image/layer ID or a prefix of one (`sha256:<hex>` or hex, 4+ digits). */
export function looksLikeId(s: string): boolean {
  return /^(?:sha256:)?[0-9a-f]{4,64}$/.test(s);
}

/** The hex of an ID or ID prefix. */
export function idHex(s: string): string {
  return s.startsWith('sha256:') ? s.slice(7) : s;
}

/** The first 12 hex digits of a digest, as Docker shows IDs. */
export function shortId(d: string): string {
  return idHex(d).slice(0, 12);
}
