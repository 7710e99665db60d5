// The low-level binding's inode table: nodeid -> {names (parent nodeid + name; the first is the path,
// the others aliases), nlookup, union st_ino, is_dir, open handles}. A lookup answering a
// non-directory with nlink > 1 whose st_ino already has a named node reuses that node; rename,
// unlink, rmdir and link move, drop and add names. A node lives while the kernel holds it (nlookup),
// a name of another node sits under it (refs) or it has open handles. The listings kept on nodes
// (dirh_*: sorted for lookups, edited in place by ufs_ll_keep.c).
#define _GNU_SOURCE                 /* qsort_r */
#include "ufs_fuse_ll.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint64_t name_hash(uint64_t parent, const char *name) {
  uint64_t h = 1469598103934665603ULL ^ parent;
  h *= 1099511628211ULL;
  for (; *name; name++) { h ^= (unsigned char)*name; h *= 1099511628211ULL; }
  return h;
}

node_t *node_get(table_t *t, uint64_t id) {
  node_t *n = t->byid[id % BUCKETS];
  while (n && n->id != id) n = n->hnext;
  return n;
}

node_t *node_new(table_t *t, uint64_t id, uint64_t ino, int is_dir) {
  node_t *n = calloc(1, sizeof *n);
  if (!n) return NULL;
  n->id = id; n->ino = ino; n->is_dir = is_dir;
  n->hnext = t->byid[id % BUCKETS];
  t->byid[id % BUCKETS] = n;
  if (!is_dir) { n->inext = t->byino[ino % BUCKETS]; t->byino[ino % BUCKETS] = n; }
  return n;
}

lname_t *name_find(table_t *t, uint64_t parent, const char *name) {
  lname_t *l = t->names[name_hash(parent, name) % BUCKETS];
  while (l && (l->parent != parent || strcmp(l->name, name) != 0)) l = l->hnext;
  return l;
}

static void name_insert(table_t *t, lname_t *l) {
  uint64_t b = name_hash(l->parent, l->name) % BUCKETS;
  l->hnext = t->names[b];
  t->names[b] = l;
}

static void name_unhash(table_t *t, lname_t *l) {
  lname_t **pp = &t->names[name_hash(l->parent, l->name) % BUCKETS];
  while (*pp && *pp != l) pp = &(*pp)->hnext;
  if (*pp) *pp = l->hnext;
}

/* Adds `name` under `parent` to node n (after its other names: the first stays its path). */
int name_add(table_t *t, node_t *n, uint64_t parent, const char *name) {
  lname_t *l = calloc(1, sizeof *l);
  if (!l || !(l->name = strdup(name))) { free(l); return -1; }
  l->parent = parent; l->node = n;
  lname_t **pp = &n->names;
  while (*pp) pp = &(*pp)->nnext;
  *pp = l;
  name_insert(t, l);
  node_t *p = node_get(t, parent);
  if (p) p->refs++;
  return 0;
}


static void maybe_free(table_t *t, node_t *n) {
  if (!n || n->dying || n->id == FUSE_ROOT_ID || n->nlookup || n->refs || n->nfh) return;
  n->dying = 1;
  while (n->names) name_remove(t, n->names);
  node_t **pp = &t->byid[n->id % BUCKETS];
  while (*pp && *pp != n) pp = &(*pp)->hnext;
  if (*pp) *pp = n->hnext;
  if (!n->is_dir) {
    pp = &t->byino[n->ino % BUCKETS];
    while (*pp && *pp != n) pp = &(*pp)->inext;
    if (*pp) *pp = n->inext;
  }
  node_cache_drop(n);
  free(n->fhs);
  free(n->lsrc);
  free(n);
}

void name_remove(table_t *t, lname_t *l) {
  name_unhash(t, l);
  node_t *n = l->node;
  lname_t **pp = &n->names;
  while (*pp && *pp != l) pp = &(*pp)->nnext;
  if (*pp) *pp = l->nnext;
  node_t *p = node_get(t, l->parent);
  if (p && p->refs) p->refs--;
  free(l->name);
  free(l);
  maybe_free(t, p);
  maybe_free(t, n);
}

/* The node a lookup-like answer (parent, name, st) names, with one more kernel reference: the node
   already under that name if it is the same file, else a named node of the same hard-linked file,
   else a new one. 0 when out of memory. */
uint64_t attach(table_t *t, uint64_t parent, const char *name, const struct stat *st) {
  int is_dir = S_ISDIR(st->st_mode);
  lname_t *l = name_find(t, parent, name);
  node_t *n = NULL;
  if (l && l->node->ino == (uint64_t)st->st_ino && l->node->is_dir == is_dir) n = l->node;
  else {
    if (l) name_remove(t, l);      /* another file now has that name */
    if (!is_dir && st->st_nlink > 1) {
      for (node_t *c = t->byino[(uint64_t)st->st_ino % BUCKETS]; c; c = c->inext)
        if (c->ino == (uint64_t)st->st_ino && c->names && !c->dying) { n = c; break; }
    }
    if (!n && !(n = node_new(t, t->next_id++, st->st_ino, is_dir))) return 0;
    if (name_add(t, n, parent, name) != 0) { maybe_free(t, n); return 0; }
  }
  n->nlookup++;
  n->nlink = st->st_nlink;
  return n->id;
}

void forget_one(table_t *t, uint64_t id, uint64_t count) {
  node_t *n = node_get(t, id);
  if (!n) return;
  n->nlookup = n->nlookup > count ? n->nlookup - count : 0;
  maybe_free(t, n);
}

/* The path of node `id` (with "/child" appended when child is given), malloc'd; NULL when the node
   has no name any more (unlinked) or is unknown. */
char *path_of(table_t *t, uint64_t id, const char *child) {
  enum { MAXDEPTH = 4096 };
  const char **comp = malloc(MAXDEPTH * sizeof *comp);
  if (!comp) return NULL;
  int n = 0;
  size_t total = 2;
  if (child) { comp[n++] = child; total += strlen(child) + 1; }
  node_t *nd = node_get(t, id);
  while (nd && nd->id != FUSE_ROOT_ID) {
    if (!nd->names || n >= MAXDEPTH) { nd = NULL; break; }
    comp[n++] = nd->names->name;
    total += strlen(nd->names->name) + 1;
    nd = node_get(t, nd->names->parent);
  }
  char *p = nd ? malloc(total) : NULL;
  if (p) {
    size_t pos = 0;
    for (int i = n - 1; i >= 0; i--) {
      size_t l = strlen(comp[i]);
      p[pos++] = '/';
      memcpy(p + pos, comp[i], l);
      pos += l;
    }
    if (pos == 0) p[pos++] = '/';
    p[pos] = 0;
  }
  free(comp);
  return p;
}

void node_add_fh(node_t *n, uint64_t fh) {
  if (n->nfh == n->capfh) {
    uint32_t cap = n->capfh ? n->capfh * 2 : 2;
    uint64_t *f = realloc(n->fhs, cap * sizeof *f);
    if (!f) return;
    n->fhs = f; n->capfh = cap;
  }
  n->fhs[n->nfh++] = fh;
}

void node_drop_fh(table_t *t, node_t *n, uint64_t fh) {
  for (uint32_t i = 0; i < n->nfh; i++)
    if (n->fhs[i] == fh) { n->fhs[i] = n->fhs[--n->nfh]; break; }
  maybe_free(t, n);
}
/* Moves name l to `name` under `parent` (a rename). */
void name_move(table_t *t, lname_t *l, uint64_t parent, const char *name) {
  char *nm = strdup(name);
  if (!nm) { name_remove(t, l); return; }   /* forgotten: the next lookup finds it again */
  name_unhash(t, l);
  node_t *op = node_get(t, l->parent), *np = node_get(t, parent);
  free(l->name);
  l->name = nm;
  l->parent = parent;
  if (np) np->refs++;
  if (op && op->refs) op->refs--;
  name_insert(t, l);
  maybe_free(t, op);
}

void dirh_clear(dirh_t *d) {
  uint32_t n = d->n;
  for (uint32_t i = 0; i < d->n; i++) free(d->names[i]);
  free(d->names); free(d->inos); free(d->modes); free(d->sts); free(d->order); free(d->xblob); free(d->xat);
  d->names = NULL; d->inos = NULL; d->modes = NULL; d->n = 0; d->cap = 0; d->loaded = 0; d->sts = NULL; d->order = NULL;
  d->xblob = NULL; d->xat = NULL; d->xlen = 0;
  if (d->links) { for (uint32_t i = 0; i < n; i++) free(d->links[i]); free(d->links); d->links = NULL; }
}

static int by_name(const void *a, const void *b, void *names) {
  char **nm = names;
  return strcmp(nm[*(const uint32_t *)a], nm[*(const uint32_t *)b]);
}

int dirh_index(dirh_t *d, struct stat *sts, char *xblob, size_t xlen, double *xat) {
  uint32_t *order = malloc((d->n ? d->n : 1) * sizeof *order);
  if (!order) { free(sts); free(xblob); free(xat); return -1; }
  for (uint32_t i = 0; i < d->n; i++) order[i] = i;
  qsort_r(order, d->n, sizeof *order, by_name, d->names);
  free(d->sts); free(d->order); free(d->xblob); free(d->xat);
  d->sts = sts; d->order = order;
  d->xblob = xblob; d->xat = xblob ? xat : NULL; d->xlen = xblob ? xlen : 0;
  d->cap = d->n;
  if (!xblob) free(xat);
  return 0;
}

/* The position in d->order where `name` is or would go; *at: its index when listed, else -1. */
static uint32_t dirh_seek(const dirh_t *d, const char *name, int64_t *at) {
  uint32_t lo = 0, hi = d->n;
  *at = -1;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2, i = d->order[mid];
    int c = strcmp(d->names[i], name);
    if (c == 0) { *at = i; return mid; }
    if (c < 0) lo = mid + 1; else hi = mid;
  }
  return lo;
}

int64_t dirh_find(const dirh_t *d, const char *name) {
  int64_t at = -1;
  if (d->order && d->sts) dirh_seek(d, name, &at);
  return at;
}

static int dirh_grow(dirh_t *d) {
  uint32_t cap = d->cap < 8 ? 16 : d->cap * 2;
  void *p;
#define GROW(f, k) if (!(p = realloc(d->f, (size_t)cap * (k) * sizeof *d->f))) return -1; d->f = p;
  GROW(names, 1) GROW(inos, 1) GROW(modes, 1) GROW(sts, 1) GROW(order, 1)
  if (d->xat) { GROW(xat, 2) }
  if (d->links) { GROW(links, 1) }
#undef GROW
  d->cap = cap;
  return 0;
}

int dirh_upsert(dirh_t *d, const char *name, const struct stat *st, const char *xn, size_t xl) {
  if (!d->order || !d->sts) return -1;
  int64_t at;
  uint32_t pos = dirh_seek(d, name, &at);
  if (at >= 0 && d->links) { free(d->links[at]); d->links[at] = NULL; }
  if (at < 0) {                    /* a new name: at the end of the listing, in order by name */
    char *nm = strdup(name);
    if (!nm || (d->n == d->cap && dirh_grow(d) != 0)) { free(nm); return -1; }
    at = d->n;
    d->names[at] = nm;
    memmove(d->order + pos + 1, d->order + pos, (d->n - pos) * sizeof *d->order);
    d->order[pos] = (uint32_t)at;
    if (d->links) d->links[at] = NULL;
    d->n++;
  }
  d->inos[at] = (uint64_t)st->st_ino;
  d->modes[at] = (uint32_t)st->st_mode;
  d->sts[at] = *st;
  if (d->xat) {
    char *b = xn ? realloc(d->xblob, d->xlen + xl + 1) : NULL;
    if (b) { memcpy(b + d->xlen, xn, xl); d->xblob = b; }
    d->xat[2 * at] = b ? (double)d->xlen : 0;
    d->xat[2 * at + 1] = b ? (double)xl : -1;
    if (b) d->xlen += xl;
  }
  return 0;
}


int dirh_copy(dirh_t *to, const dirh_t *from) {
  uint32_t c = from->n ? from->n : 1, k = 0;
  to->names = calloc(c, sizeof *to->names);
  to->inos = malloc(c * sizeof *to->inos);
  to->modes = malloc(c * sizeof *to->modes);
  if (!to->names || !to->inos || !to->modes) { dirh_clear(to); return -1; }
  for (uint32_t i = 0; i < from->n; i++) {
    if (from->modes[i] == DEAD_MODE) continue;
    if (!(to->names[k] = strdup(from->names[i]))) { to->n = k; dirh_clear(to); return -1; }
    to->inos[k] = from->inos[i];
    to->modes[k] = from->modes[i];
    k++;
  }
  to->n = k;
  to->loaded = 1;
  return 0;
}
