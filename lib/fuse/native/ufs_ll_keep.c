// The answers the low-level binding keeps per node, which the kernel does not cache itself: xattrs
// (ls -l asks for two per file), listings with every entry's attributes (lookups after a readdir;
// absent names), a directory's attributes after a change under it; and how changes keep them true:
// most are followed node by node (keep_change, keep_created, keep_copied_up), the others drop all.
#include "ufs_ll_layout.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- validity ----
   Two clocks. The generation: a change that cannot be followed node by node (renames, links, files
   with other names, failures) moves it on before it is handed to JavaScript, before its answer and
   once answered, and every answer kept in an older generation is dropped (cnode). The tick: a change
   that is followed moves it on and stamps the nodes it touched, after bringing what they keep up to
   date and before its answer goes out. An answer is kept only if its request began in the current
   generation and after the last stamp of the node it is kept on, so an answer read before a change
   is never kept after it. Off for unions with volumes and with UFS_FUSE_NOCACHE=1. */

uint64_t gen_now(mount_state_t *m) { return __atomic_load_n(&m->gen, __ATOMIC_SEQ_CST); }
void gen_move(mount_state_t *m) { __atomic_add_fetch(&m->gen, 1, __ATOMIC_SEQ_CST); }
static uint64_t tick_move(mount_state_t *m) { return __atomic_add_fetch(&m->tick, 1, __ATOMIC_SEQ_CST); }

static void xattrs_drop(node_t *n) {
  while (n->xs) { xent_t *x = n->xs; n->xs = x->next; free(x->name); free(x->blob); free(x); }
}

static void list_drop(node_t *n) {
  if (n->list) { dirh_clear(n->list); free(n->list); n->list = NULL; }
}

void node_cache_drop(node_t *n) {
  xattrs_drop(n);
  list_drop(n);
  free(n->link); n->link = NULL;
  n->has_st = 0;
}

/* Node `id` with its kept answers valid for the current generation (lock held), or NULL. */
node_t *cnode(mount_state_t *m, uint64_t id) {
  if (!m->cache_on) return NULL;
  node_t *n = node_get(m->t, id);
  uint64_t g = gen_now(m);
  if (n && n->cgen != g) { node_cache_drop(n); n->cgen = g; }
  return n;
}

/* The node to keep an answer of request r on (lock held): NULL when a change overlapped it. */
node_t *keep_on(lreq_t *r, uint64_t id) {
  if (!r->m->cache_on || r->gen != gen_now(r->m)) return NULL;
  node_t *n = cnode(r->m, id);
  return n && n->stamp <= r->tick ? n : NULL;
}

static xent_t *xent_find(node_t *n, const char *name) {
  xent_t *x = n->xs;
  while (x && !(name ? x->name && strcmp(x->name, name) == 0 : x->name == NULL)) x = x->next;
  return x;
}

void node_keep_xattr(node_t *n, const char *name, int res, const void *data, size_t len) {
  if (xent_find(n, name)) return;
  xent_t *x = calloc(1, sizeof *x);
  if (x && (!name || (x->name = strdup(name))) && (len == 0 || (x->blob = malloc(len)))) {
    if (len) memcpy(x->blob, data, len);
    x->len = len; x->res = res;
    x->next = n->xs; n->xs = x;
  } else if (x) { free(x->name); free(x); }
}

void node_from_listing(node_t *k, const dirh_t *l, int64_t i) {
  k->st = l->sts[i]; k->has_st = 1;
  if (l->xat && l->xat[2 * i + 1] >= 0)   /* its xattr names: listxattr, and ENODATA for others */
    node_keep_xattr(k, NULL, 0, l->xblob + (size_t)l->xat[2 * i], (size_t)l->xat[2 * i + 1]);
  if (l->links && l->links[i] && !k->link) k->link = strdup(l->links[i]);
}

void keep_xattr(lreq_t *r, const char *name, int res, const void *data, size_t len) {
  pthread_mutex_lock(&r->m->t->lock);
  node_t *n = keep_on(r, r->ino);
  if (n) node_keep_xattr(n, name, res, data, len);
  pthread_mutex_unlock(&r->m->t->lock);
}

/* Answers a getxattr (name) or listxattr (NULL) from what is kept; 1 when it did. */
int cached_xattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size) {
  mount_state_t *m = fuse_req_userdata(req);
  if (!m->cache_on) return 0;
  pthread_mutex_lock(&m->t->lock);
  node_t *n = cnode(m, ino);
  xent_t *x = n ? xent_find(n, name) : NULL;
  int hit = x != NULL;
  xent_t *l = !x && n && name ? xent_find(n, NULL) : NULL;
  if (l && l->res == 0) {          /* the names are known: one not among them has no value */
    int listed = 0;
    for (size_t i = 0; i < l->len && !listed; i += strlen(l->blob + i) + 1) listed = strncmp(l->blob + i, name, l->len - i) == 0;
    if (!listed) { fuse_reply_err(req, ENODATA); hit = 1; }
  }
  if (!x) {}
  else if (x->res < 0) fuse_reply_err(req, -x->res);
  else if (size == 0) fuse_reply_xattr(req, x->len);
  else if (x->len > size) fuse_reply_err(req, ERANGE);
  else fuse_reply_buf(req, x->blob, x->len);
  pthread_mutex_unlock(&m->t->lock);
  return hit;
}

/* ---- changes followed node by node ---- */

int narrow(const lreq_t *r) {
  if (!r->m->follow) return 0;
  switch (r->op) {
    case OP_CREATE: case OP_MKNOD: case OP_MKDIR: case OP_SYMLINK: case OP_UNLINK: case OP_RMDIR:
    case OP_SETATTR: case OP_WRITE: case OP_SETXATTR: case OP_REMOVEXATTR: case OP_OPEN: case OP_FLUSH:
    case OP_RELEASE:
      return 1;
    default:
      return 0;
  }
}

/* A file other names may share: its entries under those names would go stale unseen. */
static int shared(const node_t *n) { return !n->is_dir && n->nlink != 1; }

/* Node n's attributes changed (lock held): its entries in its directories' listings go stale. */
static void entries_stale(mount_state_t *m, node_t *n, uint64_t s) {
  for (lname_t *l = n->names; l; l = l->nnext) {
    node_t *p = cnode(m, l->parent);
    if (!p) continue;
    p->stamp = s;
    int64_t i = p->list ? dirh_find(p->list, l->name) : -1;
    if (i >= 0) p->list->sts[i].st_ino = 0;
  }
}

int keep_change(lreq_t *r, const struct stat *st, const struct stat *pst, const char *xn, size_t xl) {
  mount_state_t *m = r->m;
  if (!m->cache_on) return 1;
  table_t *t = m->t;
  int ok = 1;
  pthread_mutex_lock(&t->lock);
  uint64_t s = tick_move(m);
  switch (r->op) {
    case OP_CREATE: case OP_MKNOD: case OP_MKDIR: case OP_SYMLINK: case OP_UNLINK: case OP_RMDIR: {
      int gone = r->op == OP_UNLINK || r->op == OP_RMDIR;
      node_t *p = cnode(m, r->parent);
      lname_t *l = name_find(t, r->parent, r->name);
      int64_t i = p && p->list ? dirh_find(p->list, r->name) : -1;
      if (r->op == OP_UNLINK) {        /* the link count of what goes: its node's, else its entry's */
        uint64_t nl = l ? l->node->nlink : 0;
        if (!l && i >= 0 && p->list->modes[i] != DEAD_MODE && p->list->sts[i].st_ino) nl = p->list->sts[i].st_nlink;
        if (nl != 1) { ok = 0; break; }
      } else if (!gone && (!st || (!S_ISDIR(st->st_mode) && st->st_nlink != 1))) { ok = 0; break; }
      if (!p) { ok = 0; break; }
      if (l && gone) {
        node_t *x = cnode(m, l->node->id);
        if (x) { node_cache_drop(x); x->stamp = s; x->nlink = 0; }
      }
      p->stamp = s;
      entries_stale(m, p, s);           /* its times (a directory's link count) changed */
      if (pst) { p->st = *pst; p->has_st = 1; } else p->has_st = 0;
      if (!p->list) break;
      if (gone) { if (i >= 0) { p->list->modes[i] = DEAD_MODE; p->list->sts[i].st_ino = 0; } }
      else if (dirh_upsert(p->list, r->name, st, xn, xl) != 0) list_drop(p);
      break;
    }
    default: {                         /* a change of node r->ino */
      node_t *x = cnode(m, r->ino);
      if (!x || shared(x)) { ok = 0; break; }
      x->stamp = s;
      entries_stale(m, x, s);
      if (r->op == OP_SETATTR || r->op == OP_SETXATTR || r->op == OP_REMOVEXATTR) node_cache_drop(x);  /* chmod: ACLs too */
      else x->has_st = 0;              /* writes, and opens and closes of writers: size and times */
      break;
    }
  }
  pthread_mutex_unlock(&t->lock);
  if (!ok) gen_move(m);
  return ok;
}

int keep_written(mount_state_t *m, uint64_t ino) {
  table_t *t = m->t;
  pthread_mutex_lock(&t->lock);
  node_t *x = node_get(t, ino);
  int ok = x && !x->is_dir && x->nlink == 1;
  for (node_t *c = ok ? t->byino[x->ino % BUCKETS] : NULL; c && ok; c = c->inext)
    if (c != x && c->ino == x->ino && c->nlookup) ok = 0;   /* another node of the same file */
  if (ok && m->cache_on && (x = cnode(m, ino))) {
    uint64_t s = tick_move(m);
    x->stamp = s;
    x->has_st = 0;
    entries_stale(m, x, s);
  }
  pthread_mutex_unlock(&t->lock);
  return ok;
}

void keep_created(lreq_t *r, node_t *k, const struct stat *st, const struct stat *pst, const char *xn, size_t xl) {
  mount_state_t *m = r->m;
  if (!(k = cnode(m, k->id))) return;
  node_cache_drop(k);
  k->stamp = __atomic_load_n(&m->tick, __ATOMIC_SEQ_CST);
  k->st = *st; k->has_st = 1;
  if (xn) node_keep_xattr(k, NULL, 0, xn, xl);
  if (!S_ISDIR(st->st_mode) || !pst) return;
  /* A new directory is empty (mkdir over a removed lower one makes it opaque): "." and ".." */
  dirh_t *d = calloc(1, sizeof *d);
  struct stat *sts = calloc(2, sizeof *sts);
  char *xblob = malloc(1);
  double *xat = malloc(4 * sizeof *xat);
  if (d && sts && xblob && xat && (d->names = calloc(2, sizeof *d->names)) && (d->inos = malloc(2 * sizeof *d->inos)) &&
      (d->modes = malloc(2 * sizeof *d->modes)) && (d->names[0] = strdup(".")) && (d->names[1] = strdup(".."))) {
    d->n = 2; d->loaded = 1;
    d->inos[0] = (uint64_t)st->st_ino; d->modes[0] = (uint32_t)st->st_mode; sts[0] = *st;
    d->inos[1] = (uint64_t)pst->st_ino; d->modes[1] = (uint32_t)pst->st_mode; sts[1] = *pst;
    for (int i = 0; i < 4; i++) xat[i] = i % 2 ? -1 : 0;
    if (dirh_index(d, sts, xblob, 0, xat) == 0) { k->list = d; return; }
    dirh_clear(d); free(d);
    return;
  }
  if (d) dirh_clear(d);
  free(d); free(sts); free(xblob); free(xat);
}

int keep_copied_up(mount_state_t *m, const char *path) {
  if (!m->cache_on) return 1;
  table_t *t = m->t;
  char *buf = strdup(path), *save = NULL;
  if (!buf) { gen_move(m); return 0; }
  int ok = 1;
  pthread_mutex_lock(&t->lock);
  uint64_t s = tick_move(m);
  node_t *x = cnode(m, FUSE_ROOT_ID), *p = NULL;
  const char *name = NULL;
  for (char *c = strtok_r(buf, "/", &save); c && x; c = strtok_r(NULL, "/", &save)) {
    p = x; name = c;
    lname_t *l = name_find(t, p->id, c);
    x = l ? cnode(m, l->node->id) : NULL;
  }
  if (x) {                           /* its attributes and xattr names changed; a listing did not */
    if (shared(x)) ok = 0;
    else { x->stamp = s; x->has_st = 0; xattrs_drop(x); entries_stale(m, x, s); }
  } else if (p && p->list && name) {  /* not a node: its entry in a kept listing, if any */
    int64_t i = dirh_find(p->list, name);
    if (i >= 0 && p->list->modes[i] != DEAD_MODE) {
      const struct stat *e = &p->list->sts[i];
      if (!S_ISDIR(p->list->modes[i]) && (e->st_ino == 0 || e->st_nlink != 1)) ok = 0;
      else { p->list->sts[i].st_ino = 0; p->stamp = s; }
    }
  }
  pthread_mutex_unlock(&t->lock);
  free(buf);
  if (!ok) gen_move(m);
  return ok;
}

/* copiedUp(mount, unionPath): the union copied unionPath up (called while it serves a request). */
napi_value js_copied_up(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  mount_state_t *m;
  char *path;
  if (argc < 2 || napi_get_value_external(env, argv[0], (void **)&m) != napi_ok || !m || !(path = ufs_get_string(env, argv[1]))) {
    napi_throw_type_error(env, NULL, "copiedUp(mount, path)");
    return NULL;
  }
  keep_copied_up(m, path);
  copen_copied_up(m, path);        /* C's own handles of it read the upper copy */
  free(path);
  return NULL;
}
