// The answer cache of ufs_fuse.c (included by it, one translation unit): getattr, readdir and xattr
// answers per mount, keyed by path and stamped with a generation that every changing request moves
// on (see the top of ufs_fuse.c). Thread-safe: libfuse's workers read it, the JavaScript thread fills it.
#ifndef UFS_FUSE_CACHE_H
#define UFS_FUSE_CACHE_H
#include <errno.h>
#include <fuse.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


typedef struct dent { char *name; ino_t ino; mode_t mode; } dent_t;

typedef struct centry {
  struct centry *next;
  uint64_t hash;
  uint64_t gen;
  char *path;
  int has_stat;
  int stat_res;                    /* 0, or the -errno getattr answered (ENOENT, ENOTDIR) */
  struct stat st;
  int has_blob;                    /* an xattr answer: value (or list) bytes, or -errno */
  int blob_res;
  char *blob;
  size_t blob_len;
  dent_t *ents;                    /* the listing (readdir), or NULL */
  uint32_t nents;
} centry_t;

#define CACHE_BUCKETS 65536
#define CACHE_MAX 200000

/* One per mount: answers are keyed by path inside that mount. */
typedef struct cache {
  pthread_mutex_t lock;
  centry_t **tab;
  uint32_t count;
  uint64_t gen;
  int on;
} cache_t;

static uint64_t hash_path(const char *p) {
  uint64_t h = 1469598103934665603ULL;
  for (; *p; p++) { h ^= (unsigned char)*p; h *= 1099511628211ULL; }
  return h;
}

static void free_entry(centry_t *e) {
  free(e->blob);
  for (uint32_t i = 0; i < e->nents; i++) free(e->ents[i].name);
  free(e->ents);
  free(e->path);
  free(e);
}

/* Drops everything (called with the lock held), when the cache grows too large. */
static void cache_clear_locked(cache_t *c) {
  for (uint32_t b = 0; b < CACHE_BUCKETS; b++) {
    centry_t *e = c->tab[b];
    while (e) { centry_t *n = e->next; free_entry(e); e = n; }
    c->tab[b] = NULL;
  }
  c->count = 0;
}

/* Moves the generation on: every cached answer is stale from now on. */
static void cache_bump(cache_t *c) {
  if (c->on) __atomic_add_fetch(&c->gen, 1, __ATOMIC_SEQ_CST);
}

static uint64_t cache_now(cache_t *c) { return __atomic_load_n(&c->gen, __ATOMIC_SEQ_CST); }

/* The entry for `path` of the current generation (lock held), or NULL. */
static centry_t *cache_find_locked(cache_t *c, const char *path, uint64_t h) {
  centry_t *e = c->tab[h % CACHE_BUCKETS];
  for (; e; e = e->next) if (e->hash == h && strcmp(e->path, path) == 0) break;
  if (e && e->gen != cache_now(c)) return NULL;
  return e;
}

/* The entry for `path` to fill for generation `gen` (lock held): reused, reset if stale, or new. */
static centry_t *cache_slot_locked(cache_t *c, const char *path, uint64_t h, uint64_t gen) {
  centry_t *e = c->tab[h % CACHE_BUCKETS];
  for (; e; e = e->next) if (e->hash == h && strcmp(e->path, path) == 0) break;
  if (e && e->gen != gen) {
    for (uint32_t i = 0; i < e->nents; i++) free(e->ents[i].name);
    free(e->ents);
    e->ents = NULL; e->nents = 0; e->has_stat = 0; e->gen = gen;
    free(e->blob); e->blob = NULL; e->blob_len = 0; e->has_blob = 0;
  }
  if (e) return e;
  if (c->count >= CACHE_MAX) cache_clear_locked(c);
  e = calloc(1, sizeof *e);
  if (!e) return NULL;
  e->path = strdup(path);
  if (!e->path) { free(e); return NULL; }
  e->hash = h; e->gen = gen;
  e->next = c->tab[h % CACHE_BUCKETS];
  c->tab[h % CACHE_BUCKETS] = e;
  c->count++;
  return e;
}

/* 1 when getattr of `path` is known for this generation: *res is 0 (and *st filled) or -errno. */
static int cache_get_stat(cache_t *c, const char *path, struct stat *st, int *res) {
  if (!c->on || !path) return 0;
  uint64_t h = hash_path(path);
  int hit = 0;
  pthread_mutex_lock(&c->lock);
  centry_t *e = cache_find_locked(c, path, h);
  if (e && e->has_stat) {
    *res = e->stat_res;
    if (e->stat_res == 0) *st = e->st;
    hit = 1;
  }
  pthread_mutex_unlock(&c->lock);
  return hit;
}

/* Keeps a getattr answer (st, or st NULL with res -errno) made within generation `gen`. */
static void cache_put_stat(cache_t *c, const char *path, const struct stat *st, int res, uint64_t gen) {
  if (!c || !c->on || !path || gen != cache_now(c)) return;
  uint64_t h = hash_path(path);
  pthread_mutex_lock(&c->lock);
  if (gen == cache_now(c)) {
    centry_t *e = cache_slot_locked(c, path, h, gen);
    if (e) { if (st) e->st = *st; e->stat_res = st ? 0 : res; e->has_stat = 1; }
  }
  pthread_mutex_unlock(&c->lock);
}

/* The cache key of an xattr answer: "l<path>" for the list, "x<len>:<name><path>" for a value
   (paths start with '/', so keys never meet). Returns a malloc'd string or NULL. */
static char *xattr_key(const char *path, const char *name) {
  if (!path) return NULL;
  size_t pl = strlen(path), nl = name ? strlen(name) : 0;
  char *k = malloc(pl + nl + 32);
  if (!k) return NULL;
  if (name) snprintf(k, pl + nl + 32, "x%zu:%s%s", nl, name, path);
  else snprintf(k, pl + 32, "l%s", path);
  return k;
}

/* Answers an xattr request from the cache into buf (size 0: the size only). 1 when it did. */
static int cache_get_blob(cache_t *c, const char *key, char *buf, size_t size, int *res) {
  if (!c->on || !key) return 0;
  uint64_t h = hash_path(key);
  int hit = 0;
  pthread_mutex_lock(&c->lock);
  centry_t *e = cache_find_locked(c, key, h);
  if (e && e->has_blob) {
    hit = 1;
    if (e->blob_res < 0) *res = e->blob_res;
    else if (size == 0) *res = (int)e->blob_len;
    else if (e->blob_len > size) *res = -ERANGE;
    else { if (e->blob_len) memcpy(buf, e->blob, e->blob_len); *res = (int)e->blob_len; }
  }
  pthread_mutex_unlock(&c->lock);
  return hit;
}

static void cache_put_blob(cache_t *c, const char *key, const void *data, size_t n, int res, uint64_t gen) {
  if (!c || !c->on || !key || gen != cache_now(c)) return;
  char *copy = NULL;
  if (res == 0 && n) { copy = malloc(n); if (!copy) return; memcpy(copy, data, n); }
  uint64_t h = hash_path(key);
  pthread_mutex_lock(&c->lock);
  centry_t *e = gen == cache_now(c) ? cache_slot_locked(c, key, h, gen) : NULL;
  if (e) { free(e->blob); e->blob = copy; e->blob_len = res == 0 ? n : 0; e->blob_res = res; e->has_blob = 1; copy = NULL; }
  pthread_mutex_unlock(&c->lock);
  free(copy);
}

/* Serves a readdir from the cache: 1 when it did (entries given to the filler), 0 otherwise. */
static int cache_readdir(cache_t *c, const char *path, void *buf, fuse_fill_dir_t filler) {
  if (!c->on || !path) return 0;
  uint64_t h = hash_path(path);
  pthread_mutex_lock(&c->lock);
  centry_t *e = cache_find_locked(c, path, h);
  if (!e || !e->ents) { pthread_mutex_unlock(&c->lock); return 0; }
  struct stat st;
  for (uint32_t i = 0; i < e->nents; i++) {
    memset(&st, 0, sizeof st);
    st.st_ino = e->ents[i].ino;
    st.st_mode = e->ents[i].mode;
    if (filler(buf, e->ents[i].name, &st, 0)) break;
  }
  pthread_mutex_unlock(&c->lock);
  return 1;
}

#endif
