// ufs's N-API binding to libfuse 2's LOW-level API: one kernel inode per file (hard links share
// one), so the kernel may cache entries, attributes and negative lookups for long on a writable mount.
//
// Inode table: nodeid -> {names (parent nodeid + name; the first is the path, the others aliases),
// nlookup, union st_ino, is_dir, open handles}. A node's path is rebuilt from its parents for every
// request (the union is path-based). A lookup answering a non-directory with nlink > 1 whose st_ino
// already has a named node reuses that node; rename/unlink/rmdir/link move, drop and add names. A
// node lives while the kernel holds it (nlookup), a name of another node sits under it (refs) or it
// has open handles.
//
// Threading: libfuse's worker threads (fuse_session_loop_mt) turn a request into an lreq, queue it to
// the JavaScript thread through one thread-safe function and return; JavaScript answers with
// reply(lreq, result, ...), which calls fuse_reply_* on the JavaScript thread and frees the lreq.
#define FUSE_USE_VERSION 29
#define NAPI_VERSION 8
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

enum op {
  OP_INIT, OP_LOOKUP, OP_GETATTR, OP_FGETATTR, OP_SETATTR, OP_READLINK, OP_MKNOD, OP_MKDIR, OP_UNLINK,
  OP_RMDIR, OP_SYMLINK, OP_RENAME, OP_LINK, OP_OPEN, OP_READ, OP_WRITE, OP_FLUSH, OP_RELEASE, OP_FSYNC,
  OP_READDIR, OP_STATFS, OP_SETXATTR, OP_GETXATTR, OP_LISTXATTR, OP_REMOVEXATTR, OP_ACCESS, OP_CREATE,
  OP_EXIT
};

/* ---- the inode table ---- */

typedef struct lname {
  struct lname *hnext;             /* hash chain by (parent, name) */
  struct lname *nnext;             /* the node's other names */
  uint64_t parent;
  struct node *node;
  char *name;
} lname_t;

typedef struct dirh {               /* an open directory: its listing, loaded by readdir at offset 0 */
  char **names;
  uint64_t *inos;
  uint32_t *modes;
  uint32_t n;
  int loaded;
} dirh_t;

typedef struct xent {               /* a kept xattr answer: name (NULL: the list), bytes or -errno */
  struct xent *next;
  char *name;
  int res;
  char *blob;
  size_t len;
} xent_t;

typedef struct node {
  struct node *hnext;              /* hash chain by id */
  struct node *inext;              /* hash chain by union st_ino (non-directories) */
  uint64_t id, nlookup, refs, ino;
  int is_dir, dying;
  lname_t *names;
  uint64_t *fhs;                   /* open handles (an unlinked node is reached through them) */
  uint32_t nfh, capfh;
  uint64_t cgen;                   /* the generation of the answers kept below */
  int has_st;
  struct stat st;                  /* getattr / lookup answer */
  xent_t *xs;
  dirh_t *list;                    /* readdir answer */
} node_t;

#define BUCKETS 65536

typedef struct table {
  pthread_mutex_t lock;
  node_t *byid[BUCKETS];
  node_t *byino[BUCKETS];
  lname_t *names[BUCKETS];
  uint64_t next_id;
} table_t;

static uint64_t name_hash(uint64_t parent, const char *name) {
  uint64_t h = 1469598103934665603ULL ^ parent;
  h *= 1099511628211ULL;
  for (; *name; name++) { h ^= (unsigned char)*name; h *= 1099511628211ULL; }
  return h;
}

static node_t *node_get(table_t *t, uint64_t id) {
  node_t *n = t->byid[id % BUCKETS];
  while (n && n->id != id) n = n->hnext;
  return n;
}

static node_t *node_new(table_t *t, uint64_t id, uint64_t ino, int is_dir) {
  node_t *n = calloc(1, sizeof *n);
  if (!n) return NULL;
  n->id = id; n->ino = ino; n->is_dir = is_dir;
  n->hnext = t->byid[id % BUCKETS];
  t->byid[id % BUCKETS] = n;
  if (!is_dir) { n->inext = t->byino[ino % BUCKETS]; t->byino[ino % BUCKETS] = n; }
  return n;
}

static lname_t *name_find(table_t *t, uint64_t parent, const char *name) {
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
static int name_add(table_t *t, node_t *n, uint64_t parent, const char *name) {
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

static void name_remove(table_t *t, lname_t *l);
static void node_cache_drop(node_t *n);

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
  free(n);
}

static void name_remove(table_t *t, lname_t *l) {
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
static uint64_t attach(table_t *t, uint64_t parent, const char *name, const struct stat *st) {
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
  return n->id;
}

static void forget_one(table_t *t, uint64_t id, uint64_t count) {
  node_t *n = node_get(t, id);
  if (!n) return;
  n->nlookup = n->nlookup > count ? n->nlookup - count : 0;
  maybe_free(t, n);
}

/* The path of node `id` (with "/child" appended when child is given), malloc'd; NULL when the node
   has no name any more (unlinked) or is unknown. */
static char *path_of(table_t *t, uint64_t id, const char *child) {
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

static void node_add_fh(node_t *n, uint64_t fh) {
  if (n->nfh == n->capfh) {
    uint32_t cap = n->capfh ? n->capfh * 2 : 2;
    uint64_t *f = realloc(n->fhs, cap * sizeof *f);
    if (!f) return;
    n->fhs = f; n->capfh = cap;
  }
  n->fhs[n->nfh++] = fh;
}

static void node_drop_fh(table_t *t, node_t *n, uint64_t fh) {
  for (uint32_t i = 0; i < n->nfh; i++)
    if (n->fhs[i] == fh) { n->fhs[i] = n->fhs[--n->nfh]; break; }
  maybe_free(t, n);
}

/* ---- requests ---- */

typedef struct mount_state {
  struct fuse_session *se;
  struct fuse_chan *ch;
  char *mountpoint;
  napi_threadsafe_function tsfn;
  pthread_t thread;
  table_t *t;
  double entry_to, attr_to, neg_to;
  int outstanding;
  int debug;                       /* -o debug: also log each write as the high-level API does */
  int cache_on;                    /* keep getattr/readdir/xattr answers per node (see below) */
  uint64_t gen;
} mount_state_t;

typedef struct lreq {
  int op;
  fuse_req_t req;                  /* NULL for INIT and EXIT */
  mount_state_t *m;
  char *path, *path2;              /* path2: rename/link destination, symlink target, xattr name */
  uint64_t ino, parent, parent2;   /* target node; parent nodes of the name(s) */
  char *name, *name2;              /* the entry name(s) under parent / parent2 */
  double n[8];                     /* numeric arguments, per op */
  char *data;                      /* write/setxattr bytes (copied) */
  size_t len;
  struct fuse_file_info fi;
  dirh_t *dh;
  uid_t uid; gid_t gid; pid_t pid;
  int mut;                         /* the request can change something: moves the generation on */
  uint64_t gen;                    /* the generation when it was handed over */
} lreq_t;

static void dirh_clear(dirh_t *d) {
  for (uint32_t i = 0; i < d->n; i++) free(d->names[i]);
  free(d->names); free(d->inos); free(d->modes);
  d->names = NULL; d->inos = NULL; d->modes = NULL; d->n = 0; d->loaded = 0;
}

/* ---- answers kept per node ----
   Like ufs_fuse.c's cache: every request that can change anything moves the mount's generation on
   before it is handed to JavaScript and again once answered; an answer is kept only if its request
   started and ended in one generation, and served only in that generation. What the kernel does
   not cache itself: xattrs (ls -l asks for two per file), listings, a directory's attributes after
   it was read. Off for unions with volumes and with UFS_FUSE_NOCACHE=1. */

static uint64_t gen_now(mount_state_t *m) { return __atomic_load_n(&m->gen, __ATOMIC_SEQ_CST); }

static void node_cache_drop(node_t *n) {
  while (n->xs) { xent_t *x = n->xs; n->xs = x->next; free(x->name); free(x->blob); free(x); }
  if (n->list) { dirh_clear(n->list); free(n->list); n->list = NULL; }
  n->has_st = 0;
}

/* Node `id` with its kept answers valid for the current generation (lock held), or NULL. */
static node_t *cnode(mount_state_t *m, uint64_t id) {
  if (!m->cache_on) return NULL;
  node_t *n = node_get(m->t, id);
  uint64_t g = gen_now(m);
  if (n && n->cgen != g) { node_cache_drop(n); n->cgen = g; }
  return n;
}

/* The node to keep an answer of request r on (lock held): NULL when a change overlapped it. */
static node_t *keep_on(lreq_t *r, uint64_t id) {
  if (!r->m->cache_on || r->gen != gen_now(r->m)) return NULL;
  return cnode(r->m, id);
}

static xent_t *xent_find(node_t *n, const char *name) {
  xent_t *x = n->xs;
  while (x && !(name ? x->name && strcmp(x->name, name) == 0 : x->name == NULL)) x = x->next;
  return x;
}

static void keep_xattr(lreq_t *r, const char *name, int res, const void *data, size_t len) {
  pthread_mutex_lock(&r->m->t->lock);
  node_t *n = keep_on(r, r->ino);
  if (n && !xent_find(n, name)) {
    xent_t *x = calloc(1, sizeof *x);
    if (x && (!name || (x->name = strdup(name))) && (len == 0 || (x->blob = malloc(len)))) {
      if (len) memcpy(x->blob, data, len);
      x->len = len; x->res = res;
      x->next = n->xs; n->xs = x;
    } else if (x) { free(x->name); free(x); }
  }
  pthread_mutex_unlock(&r->m->t->lock);
}

/* Answers a getxattr (name) or listxattr (NULL) from what is kept; 1 when it did. */
static int cached_xattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size) {
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

static int dirh_copy(dirh_t *to, const dirh_t *from) {
  uint32_t c = from->n ? from->n : 1;
  to->names = calloc(c, sizeof *to->names);
  to->inos = malloc(c * sizeof *to->inos);
  to->modes = malloc(c * sizeof *to->modes);
  if (!to->names || !to->inos || !to->modes) { dirh_clear(to); return -1; }
  for (uint32_t i = 0; i < from->n; i++) {
    if (!(to->names[i] = strdup(from->names[i]))) { to->n = i; dirh_clear(to); return -1; }
    to->inos[i] = from->inos[i];
    to->modes[i] = from->modes[i];
  }
  to->n = from->n;
  to->loaded = 1;
  return 0;
}

/* Whether a request can change what getattr, readdir or the xattr calls answer. */
static int mutates(const lreq_t *r) {
  switch (r->op) {
    case OP_LOOKUP: case OP_GETATTR: case OP_FGETATTR: case OP_READLINK: case OP_READ: case OP_FSYNC:
    case OP_READDIR: case OP_STATFS: case OP_GETXATTR: case OP_LISTXATTR: case OP_ACCESS:
      return 0;
    case OP_OPEN: case OP_FLUSH: case OP_RELEASE: {
      /* read-only opens and their closes change nothing; writers may (copy-up, times, size) */
      int flags = (int)(r->op == OP_OPEN ? r->n[0] : r->n[1]);
      return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
    }
    default:
      return 1;
  }
}

static void finish(lreq_t *r) {
  if (r->mut) __atomic_add_fetch(&r->m->gen, 1, __ATOMIC_SEQ_CST);
  free(r->path); free(r->path2); free(r->name); free(r->name2); free(r->data);
  if (r->req) __atomic_sub_fetch(&r->m->outstanding, 1, __ATOMIC_SEQ_CST);
  free(r);
}

static lreq_t *new_req(fuse_req_t req, int op) {
  lreq_t *r = calloc(1, sizeof *r);
  if (!r) { fuse_reply_err(req, ENOMEM); return NULL; }
  r->op = op; r->req = req;
  r->m = (mount_state_t *)fuse_req_userdata(req);
  const struct fuse_ctx *c = fuse_req_ctx(req);
  r->uid = c->uid; r->gid = c->gid; r->pid = c->pid;
  __atomic_add_fetch(&r->m->outstanding, 1, __ATOMIC_SEQ_CST);
  return r;
}

static void submit(lreq_t *r) {
  if (r->req && r->m->cache_on) {
    r->mut = mutates(r);
    if (r->mut) __atomic_add_fetch(&r->m->gen, 1, __ATOMIC_SEQ_CST);
    r->gen = gen_now(r->m);
  }
  if (napi_call_threadsafe_function(r->m->tsfn, r, napi_tsfn_blocking) != napi_ok) {
    if (r->req) fuse_reply_err(r->req, EIO);
    finish(r);
  }
}

/* Fills r->path from the node (and the child name); for a nameless node an fh-based op may go on. */
static int set_path(lreq_t *r, uint64_t id, const char *child) {
  table_t *t = r->m->t;
  pthread_mutex_lock(&t->lock);
  r->path = path_of(t, id, child);
  pthread_mutex_unlock(&t->lock);
  return r->path != NULL;
}

/* A request on one node that needs its path. */
static lreq_t *node_req(fuse_req_t req, int op, fuse_ino_t ino) {
  lreq_t *r = new_req(req, op);
  if (!r) return NULL;
  r->ino = ino;
  if (!set_path(r, ino, NULL)) { fuse_reply_err(req, ENOENT); finish(r); return NULL; }
  return r;
}

/* A request that makes or looks up `name` under `parent`. */
static lreq_t *entry_req(fuse_req_t req, int op, fuse_ino_t parent, const char *name) {
  lreq_t *r = new_req(req, op);
  if (!r) return NULL;
  r->parent = parent;
  r->name = strdup(name);
  if (!r->name || !set_path(r, parent, name)) { fuse_reply_err(req, r->name ? ENOENT : ENOMEM); finish(r); return NULL; }
  return r;
}

/* The first open handle of a node (for getattr/truncate of an unlinked but open file), or -1. */
static double open_fh(mount_state_t *m, fuse_ino_t ino) {
  double fh = -1;
  pthread_mutex_lock(&m->t->lock);
  node_t *n = node_get(m->t, ino);
  if (n && n->nfh) fh = (double)n->fhs[0];
  pthread_mutex_unlock(&m->t->lock);
  return fh;
}

static void ll_init(void *userdata, struct fuse_conn_info *conn) {
  (void)conn;
  mount_state_t *m = userdata;
  lreq_t *r = calloc(1, sizeof *r);
  if (!r) return;
  r->op = OP_INIT; r->m = m;
  submit(r);
}

static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  lreq_t *r = entry_req(req, OP_LOOKUP, parent, name);
  if (r) submit(r);
}

static void ll_forget(fuse_req_t req, fuse_ino_t ino, unsigned long nlookup) {
  mount_state_t *m = fuse_req_userdata(req);
  pthread_mutex_lock(&m->t->lock);
  forget_one(m->t, ino, nlookup);
  pthread_mutex_unlock(&m->t->lock);
  fuse_reply_none(req);
}

static void ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *f) {
  mount_state_t *m = fuse_req_userdata(req);
  pthread_mutex_lock(&m->t->lock);
  for (size_t i = 0; i < count; i++) forget_one(m->t, f[i].ino, f[i].nlookup);
  pthread_mutex_unlock(&m->t->lock);
  fuse_reply_none(req);
}

static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  mount_state_t *m = fuse_req_userdata(req);
  if (!fi && m->cache_on) {
    pthread_mutex_lock(&m->t->lock);
    node_t *n = cnode(m, ino);
    struct stat st;
    int hit = n && n->has_st;
    if (hit) st = n->st;
    pthread_mutex_unlock(&m->t->lock);
    if (hit) { fuse_reply_attr(req, &st, m->attr_to); return; }
  }
  lreq_t *r = new_req(req, OP_GETATTR);
  if (!r) return;
  r->ino = ino;
  double fh = fi ? (double)fi->fh : -1;
  if (!set_path(r, ino, NULL)) {
    if (fh < 0) fh = open_fh(r->m, ino);
    if (fh < 0) { fuse_reply_err(req, ENOENT); finish(r); return; }
    r->op = OP_FGETATTR;
  }
  r->n[0] = fh;
  submit(r);
}

/* n[0] to_set bits, n[1] mode, n[2] uid, n[3] gid, n[4] size, n[5] fh or -1; times in data (4 doubles). */
static void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi) {
  lreq_t *r = new_req(req, OP_SETATTR);
  if (!r) return;
  r->ino = ino;
  double fh = fi ? (double)fi->fh : -1;
  if (!set_path(r, ino, NULL) && fh < 0) fh = open_fh(r->m, ino);
  if (!r->path && fh < 0) { fuse_reply_err(req, ENOENT); finish(r); return; }
  r->n[0] = to_set; r->n[1] = attr->st_mode; r->n[2] = attr->st_uid; r->n[3] = attr->st_gid;
  r->n[4] = (double)attr->st_size; r->n[5] = fh;
  double *times = malloc(4 * sizeof *times);
  if (!times) { fuse_reply_err(req, ENOMEM); finish(r); return; }
  times[0] = (double)attr->st_atim.tv_sec; times[1] = (double)attr->st_atim.tv_nsec;
  times[2] = (double)attr->st_mtim.tv_sec; times[3] = (double)attr->st_mtim.tv_nsec;
  r->data = (char *)times; r->len = 4 * sizeof *times;
  submit(r);
}

static void ll_readlink(fuse_req_t req, fuse_ino_t ino) { lreq_t *r = node_req(req, OP_READLINK, ino); if (r) submit(r); }

static void ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev) {
  lreq_t *r = entry_req(req, OP_MKNOD, parent, name);
  if (r) { r->n[0] = mode; r->n[1] = (double)rdev; submit(r); }
}
static void ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode) {
  lreq_t *r = entry_req(req, OP_MKDIR, parent, name);
  if (r) { r->n[0] = mode; submit(r); }
}
static void ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name) {
  lreq_t *r = entry_req(req, OP_UNLINK, parent, name);
  if (r) submit(r);
}
static void ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name) {
  lreq_t *r = entry_req(req, OP_RMDIR, parent, name);
  if (r) submit(r);
}
static void ll_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name) {
  lreq_t *r = entry_req(req, OP_SYMLINK, parent, name);
  if (!r) return;
  if (!(r->path2 = strdup(link))) { fuse_reply_err(req, ENOMEM); finish(r); return; }
  submit(r);
}
static void ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent, const char *newname) {
  lreq_t *r = entry_req(req, OP_RENAME, parent, name);
  if (!r) return;
  r->parent2 = newparent;
  pthread_mutex_lock(&r->m->t->lock);
  r->path2 = path_of(r->m->t, newparent, newname);
  pthread_mutex_unlock(&r->m->t->lock);
  r->name2 = strdup(newname);
  if (!r->path2 || !r->name2) { fuse_reply_err(req, ENOENT); finish(r); return; }
  submit(r);
}
static void ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname) {
  lreq_t *r = entry_req(req, OP_LINK, newparent, newname);
  if (!r) return;
  r->ino = ino;
  pthread_mutex_lock(&r->m->t->lock);
  r->path2 = path_of(r->m->t, ino, NULL);      /* the existing name */
  pthread_mutex_unlock(&r->m->t->lock);
  if (!r->path2) { fuse_reply_err(req, ENOENT); finish(r); return; }
  submit(r);
}
static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  lreq_t *r = node_req(req, OP_OPEN, ino);
  if (r) { r->fi = *fi; r->n[0] = fi->flags; submit(r); }
}
static void ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi) {
  lreq_t *r = entry_req(req, OP_CREATE, parent, name);
  if (r) { r->fi = *fi; r->n[0] = mode; r->n[1] = fi->flags; submit(r); }
}
static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  lreq_t *r = new_req(req, OP_READ);
  if (r) { r->ino = ino; r->n[0] = (double)fi->fh; r->n[1] = (double)off; r->n[2] = (double)size; submit(r); }
}
static void ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  lreq_t *r = new_req(req, OP_WRITE);
  if (!r) return;
  r->ino = ino; r->n[0] = (double)fi->fh; r->n[1] = (double)off;
  if (r->m->debug)
    fprintf(stderr, "write[%llu] %zu bytes to %llu flags: 0x%x\n", (unsigned long long)fi->fh, size, (unsigned long long)off, fi->flags);
  r->data = malloc(size ? size : 1);
  if (!r->data) { fuse_reply_err(req, ENOMEM); finish(r); return; }
  memcpy(r->data, buf, size);
  r->len = size;
  submit(r);
}
static void ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  lreq_t *r = new_req(req, OP_FLUSH);
  if (r) { r->ino = ino; r->n[0] = (double)fi->fh; r->n[1] = fi->flags; submit(r); }
}
static void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  lreq_t *r = new_req(req, OP_RELEASE);
  if (r) { r->ino = ino; r->n[0] = (double)fi->fh; r->n[1] = fi->flags; submit(r); }
}
static void ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  lreq_t *r = new_req(req, OP_FSYNC);
  if (r) { r->ino = ino; r->n[0] = (double)fi->fh; r->n[1] = datasync; submit(r); }
}
static void ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void)ino;
  dirh_t *d = calloc(1, sizeof *d);
  if (!d) { fuse_reply_err(req, ENOMEM); return; }
  fi->fh = (uint64_t)(uintptr_t)d;
  if (fuse_reply_open(req, fi) != 0) free(d);
}

/* Replies with the entries of a loaded listing from offset `off` (offset i+1 follows entry i). */
static void serve_dir(fuse_req_t req, dirh_t *d, size_t size, off_t off) {
  char *buf = malloc(size ? size : 1);
  if (!buf) { fuse_reply_err(req, ENOMEM); return; }
  size_t pos = 0;
  struct stat st;
  for (uint32_t i = (uint32_t)off; i < d->n; i++) {
    memset(&st, 0, sizeof st);
    st.st_ino = d->inos[i];
    st.st_mode = d->modes[i];
    size_t e = fuse_add_direntry(req, buf + pos, size - pos, d->names[i], &st, (off_t)i + 1);
    if (e > size - pos) break;
    pos += e;
  }
  fuse_reply_buf(req, buf, pos);
  free(buf);
}

static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  dirh_t *d = (dirh_t *)(uintptr_t)fi->fh;
  if (off != 0 && d->loaded) { serve_dir(req, d, size, off); return; }
  mount_state_t *m = fuse_req_userdata(req);
  if (m->cache_on) {
    pthread_mutex_lock(&m->t->lock);
    node_t *n = cnode(m, ino);
    int hit = n && n->list;
    if (hit) { dirh_clear(d); hit = dirh_copy(d, n->list) == 0; }
    pthread_mutex_unlock(&m->t->lock);
    if (hit) { serve_dir(req, d, size, off); return; }
  }
  lreq_t *r = node_req(req, OP_READDIR, ino);
  if (r) { r->dh = d; r->n[0] = (double)size; r->n[1] = (double)off; submit(r); }
}
static void ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void)ino;
  dirh_t *d = (dirh_t *)(uintptr_t)fi->fh;
  dirh_clear(d);
  free(d);
  fuse_reply_err(req, 0);
}
static void ll_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  (void)ino; (void)datasync; (void)fi;
  fuse_reply_err(req, 0);
}
static void ll_statfs(fuse_req_t req, fuse_ino_t ino) { lreq_t *r = node_req(req, OP_STATFS, ino); if (r) submit(r); }
static void ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size, int flags) {
  lreq_t *r = node_req(req, OP_SETXATTR, ino);
  if (!r) return;
  r->path2 = strdup(name);
  r->data = malloc(size ? size : 1);
  if (!r->path2 || !r->data) { fuse_reply_err(req, ENOMEM); finish(r); return; }
  if (size) memcpy(r->data, value, size);
  r->len = size; r->n[0] = flags;
  submit(r);
}
static void ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size) {
  if (cached_xattr(req, ino, name, size)) return;
  lreq_t *r = node_req(req, OP_GETXATTR, ino);
  if (!r) return;
  if (!(r->path2 = strdup(name))) { fuse_reply_err(req, ENOMEM); finish(r); return; }
  r->len = size;
  submit(r);
}
static void ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  if (cached_xattr(req, ino, NULL, size)) return;
  lreq_t *r = node_req(req, OP_LISTXATTR, ino);
  if (r) { r->len = size; submit(r); }
}
static void ll_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name) {
  lreq_t *r = node_req(req, OP_REMOVEXATTR, ino);
  if (!r) return;
  if (!(r->path2 = strdup(name))) { fuse_reply_err(req, ENOMEM); finish(r); return; }
  submit(r);
}
static void ll_access(fuse_req_t req, fuse_ino_t ino, int mask) {
  lreq_t *r = node_req(req, OP_ACCESS, ino);
  if (r) { r->n[0] = mask; submit(r); }
}

/* ---- the JavaScript side ---- */

static napi_value str_or_null(napi_env env, const char *s) {
  napi_value v;
  if (s == NULL) napi_get_null(env, &v);
  else napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  return v;
}

static napi_value num(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}

static void free_data(napi_env env, void *data, void *hint) { (void)env; (void)hint; free(data); }

/* Calls handler(op, req, uid, gid, pid, path, path2, n0, n1, n2, x) on the JavaScript thread; x is
   the bytes of a write or setxattr, or for setattr a Float64Array [to_set, mode, uid, gid, size, fh,
   atime s, atime ns, mtime s, mtime ns]. */
static void call_js(napi_env env, napi_value handler, void *context, void *data) {
  (void)context;
  lreq_t *r = (lreq_t *)data;
  if (env == NULL) { /* the function is being torn down: nobody will answer */
    if (r->req) fuse_reply_err(r->req, EIO);
    finish(r);
    return;
  }
  napi_value argv[11], undef, ext, global, result;
  napi_get_undefined(env, &undef);
  for (int i = 0; i < 11; i++) argv[i] = undef;
  argv[0] = num(env, r->op);
  if (napi_create_external(env, r, NULL, NULL, &ext) != napi_ok) goto fail;
  argv[1] = ext;
  argv[2] = num(env, r->uid);
  argv[3] = num(env, r->gid);
  argv[4] = num(env, r->pid);
  argv[5] = str_or_null(env, r->path);
  argv[6] = str_or_null(env, r->path2);
  argv[7] = num(env, r->n[0]);
  argv[8] = num(env, r->n[1]);
  argv[9] = num(env, r->n[2]);
  if (r->op == OP_WRITE || r->op == OP_SETXATTR) {
    if (napi_create_external_buffer(env, r->len, r->data, free_data, NULL, &argv[10]) != napi_ok) goto fail;
    r->data = NULL;                /* the buffer owns it now */
  } else if (r->op == OP_SETATTR) {
    napi_value ab;
    void *raw;
    if (napi_create_arraybuffer(env, 10 * sizeof(double), &raw, &ab) != napi_ok) goto fail;
    double *d = raw;
    for (int i = 0; i < 6; i++) d[i] = r->n[i];
    memcpy(d + 6, r->data, 4 * sizeof(double));
    if (napi_create_typedarray(env, napi_float64_array, 10, ab, 0, &argv[10]) != napi_ok) goto fail;
  }
  napi_get_global(env, &global);
  if (napi_call_function(env, global, handler, 11, argv, &result) != napi_ok) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    goto fail;
  }
  return;
fail:
  /* not answered: nothing else will (the handler answers only after a successful call) */
  if (r->op == OP_EXIT) return;
  if (r->req) fuse_reply_err(r->req, EIO);
  finish(r);
}

static int get_f64(napi_env env, napi_value v, double **out, size_t *n) {
  napi_typedarray_type type;
  void *data;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &type, n, &data, &ab, &off) != napi_ok || type != napi_float64_array) return -1;
  *out = (double *)data;
  return 0;
}

static int fill_stat(napi_env env, napi_value v, struct stat *st) {
  double *s;
  size_t n;
  if (get_f64(env, v, &s, &n) != 0 || n < 16) return -1;
  memset(st, 0, sizeof *st);
  st->st_mode = (mode_t)s[0]; st->st_uid = (uid_t)s[1]; st->st_gid = (gid_t)s[2]; st->st_size = (off_t)s[3];
  st->st_dev = (dev_t)s[4]; st->st_nlink = (nlink_t)s[5]; st->st_ino = (ino_t)s[6]; st->st_rdev = (dev_t)s[7];
  st->st_blksize = (blksize_t)s[8]; st->st_blocks = (blkcnt_t)s[9];
  st->st_atim.tv_sec = (time_t)s[10]; st->st_atim.tv_nsec = (long)s[11];
  st->st_mtim.tv_sec = (time_t)s[12]; st->st_mtim.tv_nsec = (long)s[13];
  st->st_ctim.tv_sec = (time_t)s[14]; st->st_ctim.tv_nsec = (long)s[15];
  return 0;
}

/* Answers a lookup-like request with the node for (parent, name) or, for link, node r->ino. */
static void reply_entry(lreq_t *r, struct stat *st, struct fuse_file_info *fi) {
  mount_state_t *m = r->m;
  table_t *t = m->t;
  struct fuse_entry_param e;
  memset(&e, 0, sizeof e);
  e.attr = *st;
  e.attr_timeout = m->attr_to;
  e.entry_timeout = m->entry_to;
  pthread_mutex_lock(&t->lock);
  if (r->op == OP_LINK) {
    node_t *n = node_get(t, r->ino);
    lname_t *l = name_find(t, r->parent, r->name);
    if (n && l && l->node != n) { name_remove(t, l); l = NULL; }
    if (n && (l || name_add(t, n, r->parent, r->name) == 0)) { n->nlookup++; e.ino = n->id; }
  } else e.ino = attach(t, r->parent, r->name, st);
  if (e.ino && r->op == OP_LOOKUP) { node_t *k = keep_on(r, e.ino); if (k) { k->st = *st; k->has_st = 1; } }
  if (e.ino && fi) { node_t *n = node_get(t, e.ino); if (n) node_add_fh(n, fi->fh); }
  pthread_mutex_unlock(&t->lock);
  if (!e.ino) { fuse_reply_err(r->req, ENOMEM); return; }
  int sent = fi ? fuse_reply_create(r->req, &e, fi) : fuse_reply_entry(r->req, &e);
  if (sent != 0) {                 /* the kernel did not take the reference (interrupted) */
    pthread_mutex_lock(&t->lock);
    node_t *n = node_get(t, e.ino);
    if (n && fi) node_drop_fh(t, n, fi->fh);
    forget_one(t, e.ino, 1);
    pthread_mutex_unlock(&t->lock);
  }
}

/* The bookkeeping of a name change that succeeded. */
static void names_changed(lreq_t *r) {
  table_t *t = r->m->t;
  pthread_mutex_lock(&t->lock);
  lname_t *l = name_find(t, r->parent, r->name);
  if (r->op == OP_RENAME) {
    lname_t *dst = name_find(t, r->parent2, r->name2);
    if (!(dst && l && dst->node == l->node)) {   /* two names of one file: rename changes nothing */
      if (dst) name_remove(t, dst);
      if (l) {
        name_unhash(t, l);
        node_t *op = node_get(t, l->parent), *np = node_get(t, r->parent2);
        char *nm = strdup(r->name2);
        if (nm) {
          free(l->name); l->name = nm;
          l->parent = r->parent2;
          if (np) np->refs++;
          if (op && op->refs) op->refs--;
          name_insert(t, l);
          maybe_free(t, op);
        } else { name_insert(t, l); name_remove(t, l); }
      }
    }
  } else if (l) name_remove(t, l);   /* unlink, rmdir */
  pthread_mutex_unlock(&t->lock);
}

/* After a change through node `id`, other nodes of the same union file (made before the union
   joined names into one hard-link group, e.g. by a copy-up) get their kernel attributes dropped.
   Attributes only (offset -1): that never waits on page locks, so it is safe from this thread. */
static void inval_siblings(mount_state_t *m, uint64_t id) {
  uint64_t ids[16];
  int k = 0;
  pthread_mutex_lock(&m->t->lock);
  node_t *n = node_get(m->t, id);
  if (n && !n->is_dir)
    for (node_t *c = m->t->byino[n->ino % BUCKETS]; c && k < 16; c = c->inext)
      if (c != n && c->ino == n->ino && c->nlookup) ids[k++] = c->id;
  pthread_mutex_unlock(&m->t->lock);
  for (int i = 0; i < k; i++) fuse_lowlevel_notify_inval_inode(m->ch, ids[i], -1, 0);
}

/* getxattr may bring the file's xattr names too (reply's 4th argument, a NUL-separated list). */
static void keep_names(napi_env env, lreq_t *r, size_t argc, napi_value *argv) {
  void *data;
  size_t n;
  if (r->op == OP_GETXATTR && argc >= 4 && napi_get_buffer_info(env, argv[3], &data, &n) == napi_ok && (n == 0 || ((char *)data)[n - 1] == 0))
    keep_xattr(r, NULL, 0, data, n);
}

/* reply(req, result, x, y, z): answers one request (x, y, z depend on the op; see ufs-ll-binding.ts). */
static napi_value js_reply(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  lreq_t *r;
  if (argc < 2 || napi_get_value_external(env, argv[0], (void **)&r) != napi_ok || r == NULL) {
    napi_throw_type_error(env, NULL, "reply(request, result, ...)");
    return NULL;
  }
  int32_t res = -EIO;
  napi_get_value_int32(env, argv[1], &res);
  if (!r->req) { finish(r); return NULL; }  /* INIT */
  if (r->mut) __atomic_add_fetch(&r->m->gen, 1, __ATOMIC_SEQ_CST);  /* before the kernel sees the answer */
  fuse_req_t req = r->req;
  mount_state_t *m = r->m;
  if (r->op == OP_RELEASE) {
    pthread_mutex_lock(&m->t->lock);
    node_t *n = node_get(m->t, r->ino);
    if (n) node_drop_fh(m->t, n, (uint64_t)r->n[0]);
    pthread_mutex_unlock(&m->t->lock);
  }
  if (res < 0) {
    if (r->op == OP_LOOKUP && res == -ENOENT && m->neg_to > 0) {
      struct fuse_entry_param e;
      memset(&e, 0, sizeof e);
      e.entry_timeout = m->neg_to;   /* a negative entry: the kernel remembers the name is absent */
      fuse_reply_entry(req, &e);
    } else fuse_reply_err(req, -res);
    if ((r->op == OP_GETXATTR || r->op == OP_LISTXATTR) && (res == -ENODATA || res == -EOPNOTSUPP))
      keep_xattr(r, r->op == OP_GETXATTR ? r->path2 : NULL, res, NULL, 0);
    keep_names(env, r, argc, argv);
    finish(r);
    return NULL;
  }
  struct stat st;
  double *d;
  size_t n;
  switch (r->op) {
    case OP_LOOKUP: case OP_MKNOD: case OP_MKDIR: case OP_SYMLINK: case OP_LINK:
      if (argc < 3 || fill_stat(env, argv[2], &st) != 0) fuse_reply_err(req, EIO);
      else reply_entry(r, &st, NULL);
      break;
    case OP_CREATE: {
      double fh = 0;
      int32_t flags = 0;
      if (argc < 5 || napi_get_value_double(env, argv[2], &fh) != napi_ok || fill_stat(env, argv[4], &st) != 0) {
        fuse_reply_err(req, EIO);
        break;
      }
      napi_get_value_int32(env, argv[3], &flags);
      r->fi.fh = (uint64_t)fh;
      r->fi.keep_cache = (flags & 1) ? 1 : 0;
      r->fi.direct_io = (flags & 2) ? 1 : 0;
      reply_entry(r, &st, &r->fi);
      break;
    }
    case OP_GETATTR: case OP_FGETATTR: case OP_SETATTR:
      if (argc < 3 || fill_stat(env, argv[2], &st) != 0) fuse_reply_err(req, EIO);
      else {
        fuse_reply_attr(req, &st, m->attr_to);
        if (r->op == OP_GETATTR) {
          pthread_mutex_lock(&m->t->lock);
          node_t *k = keep_on(r, r->ino);
          if (k) { k->st = st; k->has_st = 1; }
          pthread_mutex_unlock(&m->t->lock);
        }
      }
      break;
    case OP_READLINK: {
      size_t len;
      char *buf = NULL;
      if (argc >= 3 && napi_get_value_string_utf8(env, argv[2], NULL, 0, &len) == napi_ok && (buf = malloc(len + 1))) {
        napi_get_value_string_utf8(env, argv[2], buf, len + 1, &len);
        fuse_reply_readlink(req, buf);
      } else fuse_reply_err(req, EIO);
      free(buf);
      break;
    }
    case OP_OPEN: {
      double fh = 0;
      int32_t flags = 0;
      if (argc < 3 || napi_get_value_double(env, argv[2], &fh) != napi_ok) { fuse_reply_err(req, EIO); break; }
      if (argc >= 4) napi_get_value_int32(env, argv[3], &flags);
      r->fi.fh = (uint64_t)fh;
      r->fi.keep_cache = (flags & 1) ? 1 : 0;
      r->fi.direct_io = (flags & 2) ? 1 : 0;
      pthread_mutex_lock(&m->t->lock);
      node_t *nd = node_get(m->t, r->ino);
      if (nd) node_add_fh(nd, r->fi.fh);
      pthread_mutex_unlock(&m->t->lock);
      if (fuse_reply_open(req, &r->fi) != 0) {
        pthread_mutex_lock(&m->t->lock);
        if ((nd = node_get(m->t, r->ino))) node_drop_fh(m->t, nd, r->fi.fh);
        pthread_mutex_unlock(&m->t->lock);
      }
      break;
    }
    case OP_READ: {
      void *data;
      if (argc >= 3 && napi_get_buffer_info(env, argv[2], &data, &n) == napi_ok && (size_t)res <= n) fuse_reply_buf(req, data, (size_t)res);
      else fuse_reply_err(req, EIO);
      break;
    }
    case OP_WRITE:
      fuse_reply_write(req, (size_t)res);
      break;
    case OP_STATFS:
      if (argc >= 3 && get_f64(env, argv[2], &d, &n) == 0 && n >= 11) {
        struct statvfs s;
        memset(&s, 0, sizeof s);
        s.f_bsize = (unsigned long)d[0]; s.f_frsize = (unsigned long)d[1];
        s.f_blocks = (fsblkcnt_t)d[2]; s.f_bfree = (fsblkcnt_t)d[3]; s.f_bavail = (fsblkcnt_t)d[4];
        s.f_files = (fsfilcnt_t)d[5]; s.f_ffree = (fsfilcnt_t)d[6]; s.f_favail = (fsfilcnt_t)d[7];
        s.f_fsid = (unsigned long)d[8]; s.f_flag = (unsigned long)d[9]; s.f_namemax = (unsigned long)d[10];
        fuse_reply_statfs(req, &s);
      } else fuse_reply_err(req, EIO);
      break;
    case OP_GETXATTR: case OP_LISTXATTR: {
      void *data;
      if (argc < 3 || napi_get_buffer_info(env, argv[2], &data, &n) != napi_ok) fuse_reply_err(req, EIO);
      else if (r->len == 0) fuse_reply_xattr(req, n);
      else if (n > r->len) fuse_reply_err(req, ERANGE);
      else fuse_reply_buf(req, data, n);
      keep_xattr(r, r->op == OP_GETXATTR ? r->path2 : NULL, 0, data, n);
      keep_names(env, r, argc, argv);
      break;
    }
    case OP_READDIR: {
      uint32_t count = 0;
      dirh_t *dh = r->dh;
      if (argc < 4 || napi_get_array_length(env, argv[2], &count) != napi_ok || get_f64(env, argv[3], &d, &n) != 0 || n < 2 * (size_t)count) {
        fuse_reply_err(req, EIO);
        break;
      }
      dirh_clear(dh);
      dh->names = calloc(count ? count : 1, sizeof *dh->names);
      dh->inos = calloc(count ? count : 1, sizeof *dh->inos);
      dh->modes = calloc(count ? count : 1, sizeof *dh->modes);
      if (!dh->names || !dh->inos || !dh->modes) { dirh_clear(dh); fuse_reply_err(req, ENOMEM); break; }
      for (uint32_t i = 0; i < count; i++) {
        napi_value v;
        size_t len;
        if (napi_get_element(env, argv[2], i, &v) != napi_ok || napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) continue;
        char *nm = malloc(len + 1);
        if (!nm) continue;
        napi_get_value_string_utf8(env, v, nm, len + 1, &len);
        dh->names[dh->n] = nm;
        dh->inos[dh->n] = (uint64_t)d[2 * i];
        dh->modes[dh->n] = (uint32_t)d[2 * i + 1];
        dh->n++;
      }
      dh->loaded = 1;
      /* kept before the answer: once the kernel has it, the directory may be closed (releasedir
         frees dh on a worker thread) */
      pthread_mutex_lock(&m->t->lock);
      node_t *k = keep_on(r, r->ino);
      if (k && !k->list && (k->list = calloc(1, sizeof *k->list)) && dirh_copy(k->list, dh) != 0) { free(k->list); k->list = NULL; }
      pthread_mutex_unlock(&m->t->lock);
      serve_dir(req, dh, (size_t)r->n[0], (off_t)r->n[1]);
      break;
    }
    case OP_RENAME: case OP_UNLINK: case OP_RMDIR:
      names_changed(r);
      fuse_reply_err(req, 0);
      break;
    default:
      fuse_reply_err(req, 0);
      break;
  }
  switch (r->op) {
    case OP_SETATTR: case OP_WRITE: case OP_LINK: case OP_OPEN: case OP_SETXATTR: case OP_REMOVEXATTR:
      if (r->ino) inval_siblings(m, r->ino);
      break;
    default:
      break;
  }
  finish(r);
  return NULL;
}


static void *loop_thread(void *arg) {
  mount_state_t *m = (mount_state_t *)arg;
  fuse_session_loop_mt(m->se);
  /* Requests still with JavaScript hold the session: wait for their answers (a while) before it goes. */
  for (int i = 0; i < 1000 && __atomic_load_n(&m->outstanding, __ATOMIC_SEQ_CST) > 0; i++) usleep(10000);
  int idle = __atomic_load_n(&m->outstanding, __ATOMIC_SEQ_CST) == 0;
  fuse_session_remove_chan(m->ch);
  if (idle) fuse_session_destroy(m->se);
  fuse_unmount(m->mountpoint, m->ch);
  lreq_t *r = calloc(1, sizeof *r);
  if (r) { r->op = OP_EXIT; r->m = m; napi_call_threadsafe_function(m->tsfn, r, napi_tsfn_blocking); }
  napi_release_threadsafe_function(m->tsfn, napi_tsfn_release);
  return NULL;
}

static struct fuse_lowlevel_ops ops;

/* mount(mountpoint, libfuseArgs: string[], handler, timeouts: Float64Array [entry, attr, negative],
   flags?) -> undefined; throws when libfuse refuses. flags bit 0: keep answers per node (see above). */
static napi_value js_mount(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  size_t len;
  double *to;
  size_t nto;
  if (argc < 4 || napi_get_value_string_utf8(env, argv[0], NULL, 0, &len) != napi_ok || get_f64(env, argv[3], &to, &nto) != 0 || nto < 3) {
    napi_throw_type_error(env, NULL, "mount(mountpoint, args, handler, timeouts)");
    return NULL;
  }
  mount_state_t *m = calloc(1, sizeof *m);
  m->t = calloc(1, sizeof *m->t);
  if (!m || !m->t) { napi_throw_error(env, NULL, "out of memory"); return NULL; }
  pthread_mutex_init(&m->t->lock, NULL);
  m->t->next_id = FUSE_ROOT_ID + 1;
  node_new(m->t, FUSE_ROOT_ID, 0, 1)->nlookup = 1;
  m->entry_to = to[0]; m->attr_to = to[1]; m->neg_to = to[2];
  int32_t flags = 0;
  if (argc >= 5) napi_get_value_int32(env, argv[4], &flags);
  const char *nocache = getenv("UFS_FUSE_NOCACHE");
  m->cache_on = (flags & 1) && !(nocache && strcmp(nocache, "1") == 0);
  m->gen = 1;
  m->mountpoint = malloc(len + 1);
  napi_get_value_string_utf8(env, argv[0], m->mountpoint, len + 1, &len);

  uint32_t n = 0;
  napi_get_array_length(env, argv[1], &n);
  char **args = calloc(n + 2, sizeof(char *));
  args[0] = strdup("ufsmount");
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    size_t l;
    napi_get_element(env, argv[1], i, &v);
    napi_get_value_string_utf8(env, v, NULL, 0, &l);
    args[i + 1] = malloc(l + 1);
    napi_get_value_string_utf8(env, v, args[i + 1], l + 1, &l);
    char *dup = strdup(args[i + 1]), *save = NULL;
    for (char *tok = dup ? strtok_r(dup, ",", &save) : NULL; tok; tok = strtok_r(NULL, ",", &save))
      if (strcmp(tok, "debug") == 0 || strcmp(tok, "-d") == 0) m->debug = 1;
    free(dup);
  }
  struct fuse_args fargs = FUSE_ARGS_INIT((int)n + 1, args);
  m->ch = fuse_mount(m->mountpoint, &fargs);
  if (m->ch == NULL) {
    napi_throw_error(env, "EMOUNT", "libfuse could not mount (see its message on stderr)");
    return NULL;
  }
  m->se = fuse_lowlevel_new(&fargs, &ops, sizeof ops, m);
  if (m->se == NULL) {
    fuse_unmount(m->mountpoint, m->ch);
    napi_throw_error(env, "EMOUNT", "libfuse refused the options (see its message on stderr)");
    return NULL;
  }
  fuse_session_add_chan(m->se, m->ch);
  napi_value name;
  napi_create_string_utf8(env, "ufs_fuse_ll", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[2], NULL, name, 0, 1, NULL, NULL, NULL, call_js, &m->tsfn) != napi_ok) {
    fuse_session_remove_chan(m->ch);
    fuse_session_destroy(m->se);
    fuse_unmount(m->mountpoint, m->ch);
    napi_throw_error(env, NULL, "cannot create the thread-safe function");
    return NULL;
  }
  pthread_create(&m->thread, NULL, loop_thread, m);
  pthread_detach(m->thread);
  return NULL;
}

static napi_value init_module(napi_env env, napi_value exports) {
  ops.init = ll_init;
  ops.lookup = ll_lookup;
  ops.forget = ll_forget;
  ops.forget_multi = ll_forget_multi;
  ops.getattr = ll_getattr;
  ops.setattr = ll_setattr;
  ops.readlink = ll_readlink;
  ops.mknod = ll_mknod;
  ops.mkdir = ll_mkdir;
  ops.unlink = ll_unlink;
  ops.rmdir = ll_rmdir;
  ops.symlink = ll_symlink;
  ops.rename = ll_rename;
  ops.link = ll_link;
  ops.open = ll_open;
  ops.read = ll_read;
  ops.write = ll_write;
  ops.flush = ll_flush;
  ops.release = ll_release;
  ops.fsync = ll_fsync;
  ops.opendir = ll_opendir;
  ops.readdir = ll_readdir;
  ops.releasedir = ll_releasedir;
  ops.fsyncdir = ll_fsyncdir;
  ops.statfs = ll_statfs;
  ops.setxattr = ll_setxattr;
  ops.getxattr = ll_getxattr;
  ops.listxattr = ll_listxattr;
  ops.removexattr = ll_removexattr;
  ops.access = ll_access;
  ops.create = ll_create;

  napi_value f;
  napi_create_function(env, "mount", NAPI_AUTO_LENGTH, js_mount, NULL, &f);
  napi_set_named_property(env, exports, "mount", f);
  napi_create_function(env, "reply", NAPI_AUTO_LENGTH, js_reply, NULL, &f);
  napi_set_named_property(env, exports, "reply", f);
  napi_value v;
  napi_create_int32(env, 1, &v);
  napi_set_named_property(env, exports, "version", v);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init_module)
