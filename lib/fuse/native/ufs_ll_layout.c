// The layers on disk as the union sees them, for what ufsmount serves in C without JavaScript
// (listings, ufs_ll_scan.c; read-only opens, ufs_ll_open.c): where the layers are (scanLayers), which
// lower layers hold a directory (lib/core.ts sourcesOf), whether the upper layer takes part in a
// path, and an lstat as JavaScript gives it (the union's inode numbers and times).
#include "ufs_ll_layout.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

/* ---- the union's view of one name ---- */

/* A path under a layer root; 0 when it does not fit. */
int layer_path(char *out, const char *root, const char *rel, const char *name) {
  int k = snprintf(out, PATH_MAX, "%s%s%s%s%s", root, *rel ? "/" : "", rel, name ? "/" : "", name ? name : "");
  return k > 0 && k < PATH_MAX;
}

static int has_name(const char *list, ssize_t len, const char *name) {
  for (ssize_t at = 0; at < len; at += (ssize_t)strnlen(list + at, (size_t)(len - at)) + 1)
    if (strcmp(list + at, name) == 0) return 1;
  return 0;
}

/* Whether a layer directory is opaque (-1: could not tell). overlay: the first overlay.opaque value
   found (trusted., then user.) is "y", as whiteout-overlay.ts reads it; only names the directory
   lists are read (most have none: one call). */
int is_opaque(const layout_t *L, const char *dir) {
  if (L->aufs) {
    char p[PATH_MAX];
    if (snprintf(p, sizeof p, "%s/" AUFS_OPQ, dir) >= PATH_MAX) return -1;
    struct stat st;
    if (lstat(p, &st) == 0) return 1;
    return errno == ENOENT ? 0 : -1;
  }
  static const char *keys[] = { "trusted.overlay.opaque", "user.overlay.opaque" };
  char names[1024];
  ssize_t nl = llistxattr(dir, names, sizeof names);
  if (nl == 0 || (nl < 0 && (errno == ENOTSUP || errno == EOPNOTSUPP))) return 0;
  for (int i = 0; i < 2; i++) {
    if (nl > 0 && !has_name(names, nl, keys[i])) continue;
    char v[8];
    ssize_t k = lgetxattr(dir, keys[i], v, sizeof v);
    if (k >= 0) return k == 1 && v[0] == 'y';
    if (errno == ERANGE) return 0;             /* a value, and not "y" */
    if (errno != ENODATA && errno != ENOTSUP && errno != EOPNOTSUPP) return -1;
  }
  return 0;
}

/* One level of the union's sourcesOf: of layers `in` (n, topmost first) holding directory `prefix`,
   those holding `name` under it as a directory, down to the first that hides the rest (a file or
   whiteout of that name, an opaque directory, an aufs .wh.<name>), into out. Their count, or -1. */
int step(const layout_t *L, const int *in, int n, const char *prefix, const char *name, int *out) {
  char p[PATH_MAX];
  int m = 0, stop = 0;
  if (L->aufs && strncmp(name, AUFS_WH, 4) == 0) return -1;
  for (int k = 0; k < n && !stop; k++) {
    const char *root = L->roots[in[k]];
    struct stat st;
    if (!layer_path(p, root, prefix, name)) return -1;
    if (lstat(p, &st) == 0) {
      if (!S_ISDIR(st.st_mode)) stop = 1;      /* a file or a whiteout hides the layers below */
      else {
        out[m++] = in[k];
        int o = is_opaque(L, p);
        if (o < 0) return -1;
        if (o) stop = 1;
      }
    } else if (errno != ENOENT) return -1;
    if (!stop && L->aufs) {                    /* .wh.<name> beside it */
      char wh[NAME_MAX + 8];
      snprintf(wh, sizeof wh, AUFS_WH "%s", name);
      if (!layer_path(p, root, prefix, wh)) return -1;
      if (lstat(p, &st) == 0) stop = 1;
      else if (errno != ENOENT) return -1;
    }
  }
  return m;
}

/* Splits rel's next component at *at into name (and the prefix before it); 0 when there is none. */
int next_component(const char *rel, size_t *at, char *prefix, char *name) {
  size_t len = strlen(rel);
  if (*at >= len) return 0;
  const char *c = rel + *at, *slash = strchr(c, '/');
  size_t clen = slash ? (size_t)(slash - c) : len - *at;
  if (clen == 0 || clen > NAME_MAX || *at >= PATH_MAX) return -1;
  memcpy(name, c, clen); name[clen] = 0;
  memcpy(prefix, rel, *at ? *at - 1 : 0); prefix[*at ? *at - 1 : 0] = 0;
  *at += clen + 1;
  return 1;
}

/* The lower layers (never the upper) whose directory `rel` the union would merge if the upper layer
   had nothing on the way, walking from the root; -1: an error. */
int lower_sources(const layout_t *L, const char *rel, int *out) {
  int n = 0;
  for (int i = 1; i < L->n; i++) {             /* the root: down to the first opaque one */
    out[n++] = i;
    int o = is_opaque(L, L->roots[i]);
    if (o < 0) return -1;
    if (o) break;
  }
  size_t at = 0;
  char prefix[PATH_MAX], name[NAME_MAX + 1];
  int r;
  while (n > 0 && (r = next_component(rel, &at, prefix, name)) != 0) {
    if (r < 0 || (n = step(L, out, n, prefix, name, out)) < 0) return -1;
  }
  return n;
}

/* Whether the upper layer takes part in directory `rel`: holds it, hides it, or makes a directory on
   its way opaque (1 too when it cannot tell). Most paths: one lstat (it lacks the first component). */
int upper_involved(const layout_t *L, const char *rel) {
  const char *root = L->roots[0];
  if (!root) return 0;
  if (!*rel || is_opaque(L, root) != 0) return 1;
  size_t at = 0;
  char prefix[PATH_MAX], name[NAME_MAX + 1], p[PATH_MAX];
  int r;
  while ((r = next_component(rel, &at, prefix, name)) != 0) {
    struct stat st;
    if (r < 0) return 1;
    if (L->aufs) {                             /* .wh.<name>: hides it */
      char wh[NAME_MAX + 8];
      snprintf(wh, sizeof wh, AUFS_WH "%s", name);
      if (strncmp(name, AUFS_WH, 4) == 0 || !layer_path(p, root, prefix, wh)) return 1;
      if (lstat(p, &st) == 0 || errno != ENOENT) return 1;
    }
    if (!layer_path(p, root, prefix, name)) return 1;
    if (lstat(p, &st) != 0) return errno == ENOENT ? 0 : 1;   /* nothing of it further down */
    if (!S_ISDIR(st.st_mode) || is_opaque(L, p) != 0) return 1;
  }
  return 1;                                    /* it holds rel */
}

/* ---- what JavaScript would answer for an lstat ---- */

/* A time as node:fs gives it (milliseconds in a double) and ufs-binding.ts splitMs sends it back. */
static void js_time(struct timespec *t) {
  double ms = (double)t->tv_sec * 1000 + (double)t->tv_nsec / 1e6;
  double sec = floor(ms / 1000);
  double f = (ms - sec * 1000) * 1e3, r = floor(f);
  if (f - r >= 0.5) r += 1;                    /* Math.round */
  double ns = r * 1e3;
  if (ns > 999999000) ns = 999999000;
  if (ns < 0) ns = 0;
  t->tv_sec = (time_t)sec; t->tv_nsec = (long)ns;
}

/* The union's view of a lower layer's lstat (lib/core.ts statEntry); 0 when the union numbers this
   filesystem lazily (not among the layers' own): JavaScript answers then. */
int union_stat(const layout_t *L, struct stat *st) {
  double ino = (double)st->st_ino;
  if (!L->same_fs) {
    int idx = -1;
    for (int i = 0; i < L->ndev && idx < 0; i++) if (L->devs[i] == st->st_dev) idx = i;
    if (idx < 0 || st->st_ino >= (1ull << 40)) return 0;
    ino = (double)idx * 1099511627776.0 + (double)st->st_ino;
  }
  st->st_ino = (ino_t)ino;
  st->st_dev = L->udev;
  js_time(&st->st_atim); js_time(&st->st_mtim); js_time(&st->st_ctim);
  return 1;
}

/* The union's inode number of its root: its topmost layer's root (lib/core.ts), 0 when unknown. */
uint64_t root_ino(const layout_t *L) {
  struct stat st;
  const char *top = L->roots[0] ? L->roots[0] : L->roots[1];
  return lstat(top, &st) == 0 && union_stat(L, &st) ? (uint64_t)st.st_ino : 0;
}

/* scanLayers(mount, roots: (string | null)[], aufs: boolean, opens?: boolean): the layers'
   directories, the upper's first (null: none), so that listings only lower layers hold are read
   here; opens: read-only opens of lower files too (not when a copy-up may leave the data below: a
   metacopy). Once per mount. */
napi_value js_scan_layers(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  mount_state_t *m;
  uint32_t n = 0;
  bool aufs = false;
  if (argc < 3 || napi_get_value_external(env, argv[0], (void **)&m) != napi_ok || !m ||
      napi_get_array_length(env, argv[1], &n) != napi_ok || n < 2 || napi_get_value_bool(env, argv[2], &aufs) != napi_ok) {
    napi_throw_type_error(env, NULL, "scanLayers(mount, roots, aufs)");
    return NULL;
  }
  layout_t *L = calloc(1, sizeof *L);
  if (!L || !(L->roots = calloc(n, sizeof *L->roots)) || !(L->devs = calloc(n, sizeof *L->devs))) goto oom;
  L->n = (int)n;
  L->aufs = aufs;
  bool opens = false;
  if (argc >= 4) napi_get_value_bool(env, argv[3], &opens);
  L->opens = opens;
  int first = 1;
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    napi_valuetype ty;
    if (napi_get_element(env, argv[1], i, &v) != napi_ok || napi_typeof(env, v, &ty) != napi_ok) goto oom;
    if (ty == napi_null) { if (i == 0) continue; goto bad; }
    if (!(L->roots[i] = ufs_get_string(env, v))) goto bad;
    struct stat st;                     /* the union numbers filesystems in layer order (core.ts init) */
    if (lstat(L->roots[i], &st) != 0) goto bad;
    if (first) { L->udev = st.st_dev; first = 0; }
    int seen = 0;
    for (int j = 0; j < L->ndev; j++) seen |= L->devs[j] == st.st_dev;
    if (!seen) L->devs[L->ndev++] = st.st_dev;
  }
  L->same_fs = L->ndev <= 1;
  __atomic_store_n(&m->layout, L, __ATOMIC_RELEASE);
  return NULL;
bad:
  napi_throw_type_error(env, NULL, "scanLayers: a layer root is not a readable directory path");
  goto out;
oom:
  napi_throw_error(env, NULL, "out of memory");
out:
  if (L) { for (int i = 0; i < L->n; i++) free(L->roots[i]); free(L->roots); free(L->devs); free(L); }
  return NULL;
}
