// The low-level binding's libfuse side: each request from libfuse's worker threads becomes an lreq
// with the node's path (rebuilt from the inode table) and is queued to JavaScript (submit), or is
// answered here: forget, opendir/releasedir, readdir at later offsets, what the answers kept per
// node can serve (getattr, readdir, getxattr, listxattr), reads of files with a descriptor
// (ufs_ll_fds.c), read-only opens of lower files (ufs_ll_open.c).
#include "ufs_ll_layout.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Whether a request can change what getattr, readdir or the xattr calls answer. */
int mutates(const lreq_t *r) {
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

static lreq_t *new_req(fuse_req_t req, int op) {
  lreq_t *r = calloc(1, sizeof *r);
  if (!r) { fuse_reply_err(req, ENOMEM); return NULL; }
  r->op = op; r->req = req;
  r->m = (mount_state_t *)fuse_req_userdata(req);
  const struct fuse_ctx *c = fuse_req_ctx(req);
  r->uid = c->uid; r->gid = c->gid; r->pid = c->pid;
  return r;
}

/* Answers a request not submitted yet with -err and frees it. */
static void refuse(lreq_t *r, int err) {
  fuse_reply_err(r->req, err);
  lreq_free(r);
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
  if (!set_path(r, ino, NULL)) { refuse(r, ENOENT); return NULL; }
  return r;
}

/* A request that makes or looks up `name` under `parent`. */
static lreq_t *entry_req(fuse_req_t req, int op, fuse_ino_t parent, const char *name) {
  lreq_t *r = new_req(req, op);
  if (!r) return NULL;
  r->parent = parent;
  r->name = strdup(name);
  if (!r->name || !set_path(r, parent, name)) { refuse(r, r->name ? ENOENT : ENOMEM); return NULL; }
  return r;
}

/* The first open handle of a node JavaScript holds (for getattr/truncate of an unlinked but open
   file), or -1. */
static double open_fh(mount_state_t *m, fuse_ino_t ino) {
  double fh = -1;
  pthread_mutex_lock(&m->t->lock);
  node_t *n = node_get(m->t, ino);
  for (uint32_t i = 0; n && i < n->nfh && fh < 0; i++) if (!C_FH(n->fhs[i])) fh = (double)n->fhs[i];
  pthread_mutex_unlock(&m->t->lock);
  return fh;
}

/* The first handle of C's own of a node (ufs_ll_open.c), or 0. */
static uint64_t c_open_fh(mount_state_t *m, fuse_ino_t ino) {
  uint64_t fh = 0;
  pthread_mutex_lock(&m->t->lock);
  node_t *n = node_get(m->t, ino);
  for (uint32_t i = 0; n && i < n->nfh && !fh; i++) if (C_FH(n->fhs[i])) fh = n->fhs[i];
  pthread_mutex_unlock(&m->t->lock);
  return fh;
}

static void ll_init(void *userdata, struct fuse_conn_info *conn) {
  mount_state_t *m = userdata;
  /* READs served in C are answered by splice(2), the layer file's pages going to the kernel without
     a copy into this process (fds_read); libfuse says whether it can */
  if (m->want_splice && (conn->capable & FUSE_CAP_SPLICE_WRITE)) {
    conn->want |= FUSE_CAP_SPLICE_WRITE;
    m->splice = 1;
  }
  lreq_t *r = calloc(1, sizeof *r);
  if (!r) return;
  r->op = OP_INIT; r->m = m;
  submit(r);
}

/* A lookup of a name in the kept listing of its directory (with attributes: readdir fills them,
   so a walk's lookups after a readdir never reach JavaScript), or of a name it does not hold (the
   listing is whole: the name is absent); 1 when answered. The listing is valid only in its
   generation (cnode), as getattr's kept answers are, and is edited by the changes followed since. */
static int listed_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  mount_state_t *m = fuse_req_userdata(req);
  if (!m->cache_on || (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0)))) return 0;
  table_t *t = m->t;
  struct fuse_entry_param e;
  memset(&e, 0, sizeof e);
  int absent = 0;
  pthread_mutex_lock(&t->lock);
  node_t *p = cnode(m, parent);
  dirh_t *l = p ? p->list : NULL;
  int64_t i = l ? dirh_find(l, name) : -1;
  if (i >= 0 && l->modes[i] != DEAD_MODE && l->sts[i].st_ino) {
    e.attr = l->sts[i];
    e.ino = attach(t, parent, name, &e.attr);
    node_t *k = e.ino ? cnode(m, e.ino) : NULL;
    if (k) node_from_listing(k, l, i);
  } else if (l && l->sts && (i < 0 || l->modes[i] == DEAD_MODE) && strlen(name) <= 255) absent = 1;
  pthread_mutex_unlock(&t->lock);
  if (absent) {                    /* as JavaScript answers (ufs_ll_reply.c): a negative entry */
    COUNT_C(m, OP_LOOKUP);
    if (m->neg_to > 0) { e.entry_timeout = m->neg_to; fuse_reply_entry(req, &e); }
    else fuse_reply_err(req, ENOENT);
    return 1;
  }
  if (!e.ino) return 0;
  e.attr_timeout = m->attr_to;
  e.entry_timeout = m->entry_to;
  COUNT_C(m, OP_LOOKUP);
  if (fuse_reply_entry(req, &e) != 0) {   /* the kernel did not take the reference */
    pthread_mutex_lock(&t->lock);
    forget_one(t, e.ino, 1);
    pthread_mutex_unlock(&t->lock);
  }
  return 1;
}

static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  if (listed_lookup(req, parent, name)) return;
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
    if (hit) { COUNT_C(m, OP_GETATTR); fuse_reply_attr(req, &st, m->attr_to); return; }
  }
  if (fi && copen_getattr(fuse_req_userdata(req), req, ino, fi->fh)) return;   /* a handle of C's own */
  lreq_t *r = new_req(req, OP_GETATTR);
  if (!r) return;
  r->ino = ino;
  double fh = fi ? (double)fi->fh : -1;
  if (!set_path(r, ino, NULL)) {
    if (fh < 0) fh = open_fh(r->m, ino);
    uint64_t cfh = fh < 0 ? c_open_fh(r->m, ino) : 0;
    if (cfh) { lreq_free(r); copen_getattr(m, req, ino, cfh); return; }   /* unlinked, open in C */
    if (fh < 0) { refuse(r, ENOENT); return; }
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
  double fh = fi && !C_FH(fi->fh) ? (double)fi->fh : -1;
  if (!set_path(r, ino, NULL) && fh < 0) fh = open_fh(r->m, ino);
  if (!r->path && fh < 0) { refuse(r, ENOENT); return; }
  r->n[0] = to_set; r->n[1] = attr->st_mode; r->n[2] = attr->st_uid; r->n[3] = attr->st_gid;
  r->n[4] = (double)attr->st_size; r->n[5] = fh;
  double *times = malloc(4 * sizeof *times);
  if (!times) { refuse(r, ENOMEM); return; }
  times[0] = (double)attr->st_atim.tv_sec; times[1] = (double)attr->st_atim.tv_nsec;
  times[2] = (double)attr->st_mtim.tv_sec; times[3] = (double)attr->st_mtim.tv_nsec;
  r->data = (char *)times; r->len = 4 * sizeof *times;
  submit(r);
}

static void ll_readlink(fuse_req_t req, fuse_ino_t ino) {
  mount_state_t *m = fuse_req_userdata(req);
  if (m->cache_on) {
    pthread_mutex_lock(&m->t->lock);
    node_t *n = cnode(m, ino);
    char *link = n && n->link ? strdup(n->link) : NULL;
    pthread_mutex_unlock(&m->t->lock);
    if (link) { COUNT_C(m, OP_READLINK); fuse_reply_readlink(req, link); free(link); return; }
  }
  lreq_t *r = node_req(req, OP_READLINK, ino);
  if (r) submit(r);
}

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
  if (!(r->path2 = strdup(link))) { refuse(r, ENOMEM); return; }
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
  if (!r->path2 || !r->name2) { refuse(r, ENOENT); return; }
  submit(r);
}
static void ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname) {
  lreq_t *r = entry_req(req, OP_LINK, newparent, newname);
  if (!r) return;
  r->ino = ino;
  pthread_mutex_lock(&r->m->t->lock);
  r->path2 = path_of(r->m->t, ino, NULL);      /* the existing name */
  pthread_mutex_unlock(&r->m->t->lock);
  if (!r->path2) { refuse(r, ENOENT); return; }
  submit(r);
}
static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  if (copen_open(fuse_req_userdata(req), req, ino, fi)) return;   /* a lower file, for reading */
  lreq_t *r = node_req(req, OP_OPEN, ino);
  if (r) { r->fi = *fi; r->n[0] = fi->flags; submit(r); }
}
static void ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi) {
  lreq_t *r = entry_req(req, OP_CREATE, parent, name);
  if (r) { r->fi = *fi; r->n[0] = mode; r->n[1] = fi->flags; submit(r); }
}
static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  if (fds_read(fuse_req_userdata(req), req, fi->fh, size, off)) return;   /* served from the layer file */
  lreq_t *r = new_req(req, OP_READ);
  if (r) { r->ino = ino; r->n[0] = (double)fi->fh; r->n[1] = (double)off; r->n[2] = (double)size; submit(r); }
}
static void ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  mount_state_t *m = fuse_req_userdata(req);
  if (m->debug)
    fprintf(stderr, "write[%llu] %zu bytes to %llu flags: 0x%x\n", (unsigned long long)fi->fh, size, (unsigned long long)off, fi->flags);
  if (fds_write(m, req, ino, fi->fh, buf, size, off)) return;   /* to the upper file's own descriptor */
  lreq_t *r = new_req(req, OP_WRITE);
  if (!r) return;
  r->ino = ino; r->n[0] = (double)fi->fh; r->n[1] = (double)off;
  r->data = malloc(size ? size : 1);
  if (!r->data) { refuse(r, ENOMEM); return; }
  memcpy(r->data, buf, size);
  r->len = size;
  submit(r);
}
/* Whether `fh` is an open handle of node `ino` (opened or created, not released). */
static int open_handle(mount_state_t *m, fuse_ino_t ino, uint64_t fh) {
  int found = 0;
  pthread_mutex_lock(&m->t->lock);
  node_t *n = node_get(m->t, ino);
  for (uint32_t i = 0; n && i < n->nfh && !found; i++) found = n->fhs[i] == fh;
  pthread_mutex_unlock(&m->t->lock);
  return found;
}

static void ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  /* The adapter's flush only checks the handle (writes are not buffered): a known one is answered
     here, every close() being a FLUSH. */
  mount_state_t *m = fuse_req_userdata(req);
  if (C_FH(fi->fh) || open_handle(m, ino, fi->fh)) { COUNT_C(m, OP_FLUSH); fuse_reply_err(req, 0); return; }
  lreq_t *r = new_req(req, OP_FLUSH);
  if (r) { r->ino = ino; r->n[0] = (double)fi->fh; r->n[1] = fi->flags; submit(r); }
}
static void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  if (copen_release(fuse_req_userdata(req), req, ino, fi->fh)) return;
  fds_forget(fuse_req_userdata(req), fi->fh);
  lreq_t *r = new_req(req, OP_RELEASE);
  if (r) { r->ino = ino; r->n[0] = (double)fi->fh; r->n[1] = fi->flags; submit(r); }
}
static void ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  if (copen_fsync(fuse_req_userdata(req), req, fi->fh, datasync)) return;
  lreq_t *r = new_req(req, OP_FSYNC);
  if (r) { r->ino = ino; r->n[0] = (double)fi->fh; r->n[1] = datasync; submit(r); }
}
/* fuse_open_out of the kernel's protocol (7.28+ flags), which libfuse 2's fuse_reply_open cannot fill */
struct open_out { uint64_t fh; uint32_t open_flags; uint32_t padding; };
#define OPEN_KEEP_CACHE (1u << 1)
#define OPEN_CACHE_DIR (1u << 3)

static void ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void)ino;
  mount_state_t *m = fuse_req_userdata(req);
  dirh_t *d = calloc(1, sizeof *d);
  if (!d) { fuse_reply_err(req, ENOMEM); return; }
  fi->fh = (uint64_t)(uintptr_t)d;
  if (m->cache_on) {
    /* The kernel keeps the listing across opens (as it keeps entries and attributes): it drops it
       itself when a change it makes goes through this directory, or its mtime changes. */
    struct open_out o = { fi->fh, OPEN_KEEP_CACHE | OPEN_CACHE_DIR, 0 };
    if (fuse_reply_buf(req, (const char *)&o, sizeof o) != 0) free(d);
    return;
  }
  if (fuse_reply_open(req, fi) != 0) free(d);
}

/* The kernel protocol's READDIRPLUS entry (linux/fuse.h: fuse_direntplus), which libfuse 2 lacks. */
struct k_attr {
  uint64_t ino, size, blocks, atime, mtime, ctime;
  uint32_t atimensec, mtimensec, ctimensec, mode, nlink, uid, gid, rdev, blksize, flags;
};
struct k_entry_out {
  uint64_t nodeid, generation, entry_valid, attr_valid;
  uint32_t entry_valid_nsec, attr_valid_nsec;
  struct k_attr attr;
};
struct k_dirent { uint64_t ino, off; uint32_t namelen, type; };

static void k_timeout(double t, uint64_t *sec, uint32_t *nsec) {   /* as libfuse's calc_timeout_* */
  if (t <= 0) { *sec = 0; *nsec = 0; return; }
  *sec = t >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)t;
  double f = t - (double)*sec;
  *nsec = f > 0 && f < 1 ? (uint32_t)(f * 1e9) : 0;
}

/* One READDIRPLUS entry at buf (room: its size), nodeid 0 when the attributes are not known. */
static size_t plus_entry(mount_state_t *m, char *buf, size_t room, const char *name, uint64_t ino, uint32_t mode,
                         off_t next, uint64_t nodeid, const struct stat *st) {
  size_t namelen = strlen(name);
  size_t dlen = (sizeof(struct k_dirent) + namelen + 7) & ~(size_t)7;
  size_t len = sizeof(struct k_entry_out) + dlen;
  if (len > room) return len;
  memset(buf, 0, len);
  struct k_entry_out *e = (struct k_entry_out *)buf;
  if (nodeid) {
    e->nodeid = nodeid;
    k_timeout(m->entry_to, &e->entry_valid, &e->entry_valid_nsec);
    k_timeout(m->attr_to, &e->attr_valid, &e->attr_valid_nsec);
    struct k_attr *a = &e->attr;
    a->ino = st->st_ino; a->size = (uint64_t)st->st_size; a->blocks = (uint64_t)st->st_blocks;
    a->atime = (uint64_t)st->st_atim.tv_sec; a->atimensec = (uint32_t)st->st_atim.tv_nsec;
    a->mtime = (uint64_t)st->st_mtim.tv_sec; a->mtimensec = (uint32_t)st->st_mtim.tv_nsec;
    a->ctime = (uint64_t)st->st_ctim.tv_sec; a->ctimensec = (uint32_t)st->st_ctim.tv_nsec;
    a->mode = st->st_mode; a->nlink = (uint32_t)st->st_nlink; a->uid = st->st_uid; a->gid = st->st_gid;
    a->rdev = (uint32_t)st->st_rdev; a->blksize = (uint32_t)st->st_blksize;
  }
  struct k_dirent *d = (struct k_dirent *)(buf + sizeof *e);
  d->ino = ino; d->off = (uint64_t)next; d->namelen = (uint32_t)namelen; d->type = (mode & S_IFMT) >> 12;
  memcpy(d + 1, name, namelen);
  return len;
}

/* A READDIRPLUS answer: each entry the node's kept listing has attributes for is attached (a lookup,
   as listed_lookup's) and carries them; the others (and "." and "..") carry none. */
static void serve_plus(fuse_req_t req, fuse_ino_t ino, dirh_t *d, size_t size, off_t off) {
  mount_state_t *m = fuse_req_userdata(req);
  char *buf = malloc(size ? size : 1);
  uint64_t *ids = calloc(d->n > (uint32_t)off ? d->n - (uint32_t)off : 1, sizeof *ids);
  if (!buf || !ids) { free(buf); free(ids); fuse_reply_err(req, ENOMEM); return; }
  size_t pos = 0, nid = 0;
  table_t *t = m->t;
  pthread_mutex_lock(&t->lock);
  node_t *p = cnode(m, ino);
  dirh_t *l = p ? p->list : NULL;
  for (uint32_t i = (uint32_t)off; i < d->n; i++) {
    const char *name = d->names[i];
    int dots = name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0));
    int64_t j = !dots && l && l->sts ? dirh_find(l, name) : -1;
    const struct stat *st = j >= 0 && l->modes[j] != DEAD_MODE && l->sts[j].st_ino ? &l->sts[j] : NULL;
    size_t need = plus_entry(m, buf + pos, 0, name, d->inos[i], d->modes[i], (off_t)i + 1, 0, NULL);
    if (need > size - pos) break;
    uint64_t id = 0;
    struct stat a;
    if (st) {
      a = *st;
      id = attach(t, ino, name, &a);
      node_t *k = id ? cnode(m, id) : NULL;
      if (k) node_from_listing(k, l, j);
      if (id) ids[nid++] = id;
    }
    pos += plus_entry(m, buf + pos, size - pos, name, d->inos[i], d->modes[i], (off_t)i + 1, id, &a);
  }
  pthread_mutex_unlock(&t->lock);
  if (fuse_reply_buf(req, buf, pos) == 0) __atomic_add_fetch(&m->plus_entries, nid, __ATOMIC_RELAXED);
  else if (nid) {                                      /* the kernel did not take the references */
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < nid; i++) forget_one(t, ids[i], 1);
    pthread_mutex_unlock(&t->lock);
  }
  free(ids);
  free(buf);
}

void serve_dir(fuse_req_t req, fuse_ino_t ino, dirh_t *d, size_t size, off_t off) {
  if (d->plus) { serve_plus(req, ino, d, size, off); return; }
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
  if (off != 0 && d->loaded) { serve_dir(req, ino, d, size, off); return; }
  mount_state_t *m = fuse_req_userdata(req);
  if (m->cache_on) {
    pthread_mutex_lock(&m->t->lock);
    node_t *n = cnode(m, ino);
    int hit = n && n->list;
    if (hit) { dirh_clear(d); hit = dirh_copy(d, n->list) == 0; }
    pthread_mutex_unlock(&m->t->lock);
    if (hit) { COUNT_C(m, OP_READDIR); serve_dir(req, ino, d, size, off); return; }
    if (scan_readdir(m, req, ino, d, size, off)) { COUNT_C(m, OP_READDIR); return; }
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
  if (!r->path2 || !r->data) { refuse(r, ENOMEM); return; }
  if (size) memcpy(r->data, value, size);
  r->len = size; r->n[0] = flags;
  submit(r);
}
static void ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size) {
  mount_state_t *m = fuse_req_userdata(req);   /* not after an answer: it frees req */
  if (cached_xattr(req, ino, name, size)) { COUNT_C(m, OP_GETXATTR); return; }
  lreq_t *r = node_req(req, OP_GETXATTR, ino);
  if (!r) return;
  if (!(r->path2 = strdup(name))) { refuse(r, ENOMEM); return; }
  r->len = size;
  submit(r);
}
static void ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  mount_state_t *m = fuse_req_userdata(req);
  if (cached_xattr(req, ino, NULL, size)) { COUNT_C(m, OP_LISTXATTR); return; }
  lreq_t *r = node_req(req, OP_LISTXATTR, ino);
  if (r) { r->len = size; submit(r); }
}
static void ll_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name) {
  lreq_t *r = node_req(req, OP_REMOVEXATTR, ino);
  if (!r) return;
  if (!(r->path2 = strdup(name))) { refuse(r, ENOMEM); return; }
  submit(r);
}
static void ll_access(fuse_req_t req, fuse_ino_t ino, int mask) {
  lreq_t *r = node_req(req, OP_ACCESS, ino);
  if (r) { r->n[0] = mask; submit(r); }
}


void ll_set_ops(struct fuse_lowlevel_ops *ops) {
  ops->init = ll_init;
  ops->lookup = ll_lookup;
  ops->forget = ll_forget;
  ops->forget_multi = ll_forget_multi;
  ops->getattr = ll_getattr;
  ops->setattr = ll_setattr;
  ops->readlink = ll_readlink;
  ops->mknod = ll_mknod;
  ops->mkdir = ll_mkdir;
  ops->unlink = ll_unlink;
  ops->rmdir = ll_rmdir;
  ops->symlink = ll_symlink;
  ops->rename = ll_rename;
  ops->link = ll_link;
  ops->open = ll_open;
  ops->read = ll_read;
  ops->write = ll_write;
  ops->flush = ll_flush;
  ops->release = ll_release;
  ops->fsync = ll_fsync;
  ops->opendir = ll_opendir;
  ops->readdir = ll_readdir;
  ops->releasedir = ll_releasedir;
  ops->fsyncdir = ll_fsyncdir;
  ops->statfs = ll_statfs;
  ops->setxattr = ll_setxattr;
  ops->getxattr = ll_getxattr;
  ops->listxattr = ll_listxattr;
  ops->removexattr = ll_removexattr;
  ops->access = ll_access;
  ops->create = ll_create;
}
