// Listings read in C: a directory that only lower layers hold is merged here from the layers'
// directories on disk, as the union merges it (lib/core.ts sourcesOf/build, lib/union-read.ts
// readdirPlus): the topmost instance of each name, whiteouts and opaque directories in the union's
// format, every entry's lstat with the union's inode number and times as JavaScript gives them, and
// its xattr names without the format's own. A directory the upper layer holds or hides, or anything
// unexpected (an error, an unknown filesystem, a path too long), is left to JavaScript.
#include "ufs_ll_layout.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

/* ---- the merge ---- */

typedef struct nameset {          /* names taken (listed or whited out), open addressing */
  char **slot;
  size_t cap, n;
} nameset_t;

static size_t hash(const char *s) {
  size_t h = 1469598103934665603ull;
  while (*s) { h ^= (unsigned char)*s++; h *= 1099511628211ull; }
  return h;
}
static int set_has(const nameset_t *s, const char *name) {
  if (!s->cap) return 0;
  for (size_t i = hash(name) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
    if (!s->slot[i]) return 0;
    if (strcmp(s->slot[i], name) == 0) return 1;
  }
}
/* name is referenced, not copied */
static int set_add(nameset_t *s, char *name) {
  if (2 * (s->n + 1) > s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 64;
    char **slot = calloc(cap, sizeof *slot);
    if (!slot) return -1;
    for (size_t i = 0; i < s->cap; i++) {
      if (!s->slot[i]) continue;
      size_t j = hash(s->slot[i]) & (cap - 1);
      while (slot[j]) j = (j + 1) & (cap - 1);
      slot[j] = s->slot[i];
    }
    free(s->slot);
    s->slot = slot; s->cap = cap;
  }
  size_t i = hash(name) & (s->cap - 1);
  while (s->slot[i]) i = (i + 1) & (s->cap - 1);
  s->slot[i] = name;
  s->n++;
  return 0;
}

typedef struct scan {
  char **names;                   /* the listing: ".", "..", then the entries */
  struct stat *sts;
  char *xblob;                    /* xattr names, NUL-ended, at xat[2i] (length xat[2i+1], -1: unknown) */
  double *xat;
  char **links;                   /* symlinks' targets (NULL: not a symlink, or unreadable) */
  size_t n, cap, xlen, xcap;
  char **hidden;                  /* whiteouts' names (set members not listed) */
  size_t nh, caph;
  nameset_t taken;
} scan_t;

static void scan_free(scan_t *s) {
  for (size_t i = 0; i < s->n; i++) { free(s->names[i]); if (s->links) free(s->links[i]); }
  for (size_t i = 0; i < s->nh; i++) free(s->hidden[i]);
  free(s->names); free(s->links); free(s->sts); free(s->xblob); free(s->xat); free(s->hidden); free(s->taken.slot);
}

static int scan_push(scan_t *s, char *name, const struct stat *st) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 64;
    char **nn = realloc(s->names, cap * sizeof *nn);
    if (nn) s->names = nn;
    struct stat *ns = nn ? realloc(s->sts, cap * sizeof *ns) : NULL;
    if (ns) s->sts = ns;
    double *nx = ns ? realloc(s->xat, 2 * cap * sizeof *nx) : NULL;
    if (nx) s->xat = nx;
    char **nl = nx ? realloc(s->links, cap * sizeof *nl) : NULL;
    if (!nl) return -1;
    s->links = nl; s->cap = cap;
  }
  s->names[s->n] = name;
  s->sts[s->n] = *st;
  s->xat[2 * s->n] = 0; s->xat[2 * s->n + 1] = -1;
  s->links[s->n] = NULL;
  s->n++;
  return 0;
}

static int hide(scan_t *s, char *name) {
  if (s->nh == s->caph) {
    size_t cap = s->caph ? 2 * s->caph : 16;
    char **nh = realloc(s->hidden, cap * sizeof *nh);
    if (!nh) return -1;
    s->hidden = nh; s->caph = cap;
  }
  s->hidden[s->nh++] = name;
  return 0;
}

/* Entry i's xattr names (path: its file), the format's own left out; unknown when they cannot be read. */
static int add_xattrs(const layout_t *L, scan_t *s, size_t i, const char *path) {
  char buf[1024];
  char *b = buf;
  ssize_t k = llistxattr(path, buf, sizeof buf);
  if (k < 0 && errno == ERANGE) {
    ssize_t want = llistxattr(path, NULL, 0);
    if (want < 0 || !(b = malloc((size_t)want + 1))) return 0;
    k = llistxattr(path, b, (size_t)want);
  }
  if (k < 0) {
    if (b != buf) free(b);
    /* as DirLayer.listxattr: a filesystem without xattrs has none */
    if (errno == ENOTSUP || errno == EOPNOTSUPP) { s->xat[2 * i] = (double)s->xlen; s->xat[2 * i + 1] = 0; }
    return 0;
  }
  if (s->xlen + (size_t)k > s->xcap) {
    size_t cap = s->xcap ? s->xcap : 4096;
    while (cap < s->xlen + (size_t)k) cap *= 2;
    char *nb = realloc(s->xblob, cap);
    if (!nb) { if (b != buf) free(b); return -1; }
    s->xblob = nb; s->xcap = cap;
  }
  size_t start = s->xlen;
  for (ssize_t at = 0; at < k;) {
    const char *nm = b + at;
    size_t l = strnlen(nm, (size_t)(k - at));
    int own = strncmp(nm, "user.ufs.", 9) == 0 ||
      (!L->aufs && (strncmp(nm, "trusted.overlay.", 16) == 0 || strncmp(nm, "user.overlay.", 13) == 0));
    if (!own && l < (size_t)(k - at)) { memcpy(s->xblob + s->xlen, nm, l + 1); s->xlen += l + 1; }
    at += (ssize_t)l + 1;
  }
  if (b != buf) free(b);
  s->xat[2 * i] = (double)start;
  s->xat[2 * i + 1] = (double)(s->xlen - start);
  return 0;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* One source layer's directory into the merge: its names in node:fs's order (sorted), each not
   taken yet listed with its lstat; then its whiteouts taken. 0, or -1: JavaScript lists it. */
static int merge_layer(const layout_t *L, scan_t *s, const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *dh = fd < 0 ? NULL : fdopendir(fd);
  if (!dh) { if (fd >= 0) close(fd); return -1; }
  char **names = NULL;
  size_t n = 0, cap = 0;
  int bad = 0;
  struct dirent *de;
  errno = 0;
  while (!bad && (de = readdir(dh))) {
    const char *nm = de->d_name;
    if (nm[0] == '.' && (nm[1] == 0 || (nm[1] == '.' && nm[2] == 0))) continue;
    if (n == cap) {
      char **nn = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof *nn);
      if (!nn) { bad = 1; break; }
      names = nn;
    }
    if (!(names[n] = strdup(nm))) { bad = 1; break; }
    n++;
  }
  if (!bad && errno) bad = 1;
  if (!bad) qsort(names, n, sizeof *names, by_name);
  size_t first_hidden = s->nh;
  char path[PATH_MAX];
  for (size_t i = 0; i < n && !bad; i++) {
    char *nm = names[i];
    names[i] = NULL;
    if (L->aufs && strncmp(nm, AUFS_WH, 4) == 0) {
      /* .wh.<name> hides name; .wh..wh..opq and other .wh..wh.* names are aufs' own */
      if (strncmp(nm + 4, AUFS_WH, 4) == 0 || set_has(&s->taken, nm + 4)) { free(nm); continue; }
      memmove(nm, nm + 4, strlen(nm + 4) + 1);
      if (hide(s, nm) != 0) { free(nm); bad = 1; }
      continue;
    }
    if (set_has(&s->taken, nm)) { free(nm); continue; }
    struct stat st;
    if (fstatat(dirfd(dh), nm, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      /* taken, but not listed (readdirPlus drops what it cannot stat) */
      if (errno != ENOENT || hide(s, nm) != 0) { free(nm); bad = 1; }
      continue;
    }
    if (!L->aufs && S_ISCHR(st.st_mode) && st.st_rdev == 0) {
      if (hide(s, nm) != 0) { free(nm); bad = 1; }
      continue;
    }
    if (!union_stat(L, &st) || scan_push(s, nm, &st) != 0) { free(nm); bad = 1; continue; }
    if (set_add(&s->taken, nm) != 0 || !layer_path(path, dir, "", nm) || add_xattrs(L, s, s->n - 1, path) != 0) bad = 1;
    if (!bad && S_ISLNK(st.st_mode)) {       /* its target, for readlink answered in C (ls -l reads them) */
      ssize_t k = readlinkat(dirfd(dh), nm, path, sizeof path - 1);
      if (k >= 0 && (s->links[s->n - 1] = malloc((size_t)k + 1))) { memcpy(s->links[s->n - 1], path, (size_t)k); s->links[s->n - 1][k] = 0; }
    }
  }
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  closedir(dh);
  /* this layer's whiteouts hide the names in the layers below, not its own */
  for (size_t i = first_hidden; i < s->nh && !bad; i++) if (!set_has(&s->taken, s->hidden[i]) && set_add(&s->taken, s->hidden[i]) != 0) bad = 1;
  return bad ? -1 : 0;
}

/* ---- the request ---- */

int scan_readdir(mount_state_t *m, fuse_req_t req, fuse_ino_t ino, dirh_t *d, size_t size, off_t off) {
  const layout_t *L = __atomic_load_n(&m->layout, __ATOMIC_ACQUIRE);
  if (!L || !m->cache_on) return 0;
  lreq_t at = { .m = m };              /* when the listing began: kept only if nothing changed since */
  at.gen = gen_now(m);
  at.tick = __atomic_load_n(&m->tick, __ATOMIC_SEQ_CST);
  table_t *t = m->t;
  int *src = malloc((size_t)L->n * sizeof *src), *psrc = malloc((size_t)L->n * sizeof *psrc);
  int ns = -1, nps = -1;
  char *path = NULL, *name = NULL;
  uint64_t self = 0, up = 0;
  pthread_mutex_lock(&t->lock);
  node_t *n = src && psrc ? node_get(t, ino) : NULL;
  if (n) {
    path = path_of(t, ino, NULL);
    self = up = n->ino;
    if (n->lsrc && n->lsrc_gen == at.gen) { ns = n->nlsrc; memcpy(src, n->lsrc, (size_t)ns * sizeof *src); }
    node_t *p = n->names && ino != FUSE_ROOT_ID ? node_get(t, n->names->parent) : NULL;
    if (p) {
      up = p->ino;
      if (ns < 0 && p->lsrc && p->lsrc_gen == at.gen && (name = strdup(n->names->name))) {
        nps = p->nlsrc; memcpy(psrc, p->lsrc, (size_t)nps * sizeof *psrc);
      }
    }
  }
  pthread_mutex_unlock(&t->lock);
  const char *rel = path ? (path[0] == '/' ? path + 1 : path) : NULL;
  /* The root's node has no number of its own: the union's root is its topmost layer's (a ".." of
     number 0 would be dropped by readdir(3)) */
  if (!up) up = root_ino(L);
  if (rel && ns < 0) {                  /* the lower layers holding it: from its parent's, or from the root */
    if (nps >= 0) {
      char prefix[PATH_MAX];
      const char *slash = strrchr(rel, '/');
      size_t plen = slash ? (size_t)(slash - rel) : 0;
      if (plen < sizeof prefix) { memcpy(prefix, rel, plen); prefix[plen] = 0; ns = step(L, psrc, nps, prefix, name, src); }
    } else ns = lower_sources(L, rel, src);
    int *keep = ns >= 0 ? malloc(((size_t)ns + 1) * sizeof *keep) : NULL;
    if (keep) {
      memcpy(keep, src, (size_t)ns * sizeof *keep);
      pthread_mutex_lock(&t->lock);
      node_t *k = node_get(t, ino);
      if (k) { free(k->lsrc); k->lsrc = keep; k->nlsrc = ns; k->lsrc_gen = at.gen; keep = NULL; }
      pthread_mutex_unlock(&t->lock);
      free(keep);
    }
  }
  free(psrc);
  free(name);
  if (!rel || ns <= 0 || !up || upper_involved(L, rel)) { free(src); free(path); return 0; }
  scan_t s;
  memset(&s, 0, sizeof s);
  char dir[PATH_MAX];
  struct stat st;
  int ok = ns > 0 && layer_path(dir, L->roots[src[0]], rel, NULL) && lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) && union_stat(L, &st);
  if (ok) {
    /* "..": its inode and type; its attributes are not kept here (lookups of ".." are JavaScript's) */
    struct stat pst;
    memset(&pst, 0, sizeof pst);
    pst.st_mode = S_IFDIR;
    char *dot = strdup("."), *dotdot = strdup("..");
    if (!dot || scan_push(&s, dot, &st) != 0) { free(dot); ok = 0; }
    if (!ok || !dotdot || scan_push(&s, dotdot, &pst) != 0) { free(dotdot); ok = 0; }
    /* "." has this node's number when the kernel already knows it */
    if (ok && self && s.sts[0].st_ino != self) ok = 0;
  }
  for (int i = 0; ok && i < ns; i++) ok = layer_path(dir, L->roots[src[i]], rel, NULL) && merge_layer(L, &s, dir) == 0;
  free(src);
  free(path);
  if (!ok) { scan_free(&s); return 0; }

  /* the handle's listing (ino and type), and the node's with every entry's attributes */
  dirh_clear(d);
  size_t cnt = s.n;
  d->names = calloc(cnt, sizeof *d->names);
  d->inos = calloc(cnt, sizeof *d->inos);
  d->modes = calloc(cnt, sizeof *d->modes);
  if (!d->names || !d->inos || !d->modes) { dirh_clear(d); scan_free(&s); return 0; }
  for (size_t i = 0; i < cnt; i++) {
    d->names[i] = s.names[i];
    d->inos[i] = i == 1 ? up : (uint64_t)s.sts[i].st_ino;
    d->modes[i] = (uint32_t)s.sts[i].st_mode;
  }
  d->n = (uint32_t)cnt;
  d->cap = (uint32_t)cnt;
  d->loaded = 1;
  for (size_t i = 0; i < cnt; i++) s.names[i] = NULL;   /* the names are the handle's now */
  pthread_mutex_lock(&t->lock);
  node_t *k = keep_on(&at, ino);
  if (k && !k->list && (k->list = calloc(1, sizeof *k->list)) && dirh_copy(k->list, d) != 0) { free(k->list); k->list = NULL; }
  if (!s.xblob) s.xblob = malloc(1);   /* no entry has xattrs: known, all empty (NULL would be unknown) */
  if (k && k->list && !k->list->sts) {
    dirh_index(k->list, s.sts, s.xblob, s.xlen, s.xat);
    k->list->links = s.links;
    s.sts = NULL; s.xblob = NULL; s.xat = NULL; s.links = NULL;
  }
  pthread_mutex_unlock(&t->lock);
  scan_free(&s);
  __atomic_add_fetch(&m->scans, 1, __ATOMIC_RELAXED);
  serve_dir(req, ino, d, size, off);
  return 1;
}
