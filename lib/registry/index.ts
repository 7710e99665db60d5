// The registry client's public surface: pull into and push from an OCI image layout, references,
// platforms, the low-level client, auth helpers, progress rendering and the layout helpers.
export { pull, type PullOptions, type PullResult } from './pull.js';
export { push, type PushOptions, type PushResult } from './push.js';
export {
  parseReference, formatReference, familiarReference, apiHost, isLoopback, validateDigest,
  DOCKER_HUB, DOCKER_HUB_API, DEFAULT_TAG, type Reference,
} from './reference.js';
export {
  MediaTypes, MANIFEST_ACCEPT, parseManifest, parsePlatform, formatPlatform, hostPlatform, normalizePlatform,
  selectPlatform, type Descriptor, type ImageIndex, type ImageManifest, type Platform, type ParsedManifest,
} from './manifest.js';
export { RegistryClient, type ClientOptions, type FetchedManifest } from './client.js';
export { RegistryError, type RegistryErrorEntry } from './errors.js';
export { findCredentials, parseWwwAuthenticate, type Credentials, type CredentialOptions } from './auth.js';
export { ProgressRenderer, formatLine, formatBytes, type ProgressCallback, type ProgressEvent, type ProgressState } from './progress.js';
export {
  initLayout, readIndex, writeIndex, addToIndex, resolveRef, blobPath, hasBlob, readBlob, writeBlob, REF_NAME,
} from './layout.js';
export { downloadBlob } from './download.js';
export { uploadBlob, type UploadOutcome } from './upload.js';
export type { RetryOptions } from './retry.js';
