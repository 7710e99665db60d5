// Read-only opens of lower files served in C: an OPEN for reading of a regular file that only lower
// layers hold (the upper layer has nothing on its path) is opened here from the topmost lower layer
// holding it, the union's view of which layers hold its directory (ufs_ll_layout.c), under a handle
// number of C's own (C_FH_BASE and up; JavaScript's are below 2^31). Its READs (ufs_ll_fds.c),
// FLUSH, FGETATTR, FSYNC and RELEASE never reach JavaScript. A copy-up of the file, which the union
// reports (copiedUp), re-points it to the upper copy as the union re-points its own handles; the
// handle is made known before the upper layer is checked, so a copy-up landing between the two is
// seen by one of them. Anything else (flags other than reading, another file type, a hard-linked file
// in a writable union, an error) is JavaScript's, as before.
#define _GNU_SOURCE                /* O_DIRECT, O_NOATIME */
#include "ufs_ll_layout.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t next_fh = C_FH_BASE;

/* The kernel's O_LARGEFILE, which it sets on every open of a 64-bit process (glibc's is 0 there). */
#if defined(__aarch64__) || defined(__arm__)
#define KERNEL_O_LARGEFILE 0400000
#else
#define KERNEL_O_LARGEFILE 0100000
#endif
/* The kernel's mark of an open by execve(2) (FMODE_EXEC; open(2) ignores the bit). */
#define KERNEL_FMODE_EXEC 040
/* The flags an open may have to be served here (the union ignores O_DIRECT for layer files, as
   JavaScript's open does). */
#define PLAIN_FLAGS (KERNEL_O_LARGEFILE | KERNEL_FMODE_EXEC | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW | O_DIRECT)

/* The topmost lower layer's file at rel (its directory's lower layers: src, n), opened for reading
   and checked to be the regular file the node is (union inode `ino`); -1 when not. */
static int open_lower(const layout_t *L, const char *rel, const int *src, int n, uint64_t ino, int linked_ok) {
  const char *slash = strrchr(rel, '/');
  const char *name = slash ? slash + 1 : rel;
  char prefix[PATH_MAX], p[PATH_MAX];
  size_t plen = slash ? (size_t)(slash - rel) : 0;
  if (plen >= sizeof prefix || (L->aufs && strncmp(name, AUFS_WH, 4) == 0)) return -1;
  memcpy(prefix, rel, plen); prefix[plen] = 0;
  for (int k = 0; k < n; k++) {
    const char *root = L->roots[src[k]];
    struct stat st, fst;
    if (!layer_path(p, root, prefix, name)) return -1;
    if (lstat(p, &st) != 0) {
      if (errno != ENOENT) return -1;
      if (L->aufs) {                   /* .wh.<name> here hides it below */
        char wh[NAME_MAX + 8];
        snprintf(wh, sizeof wh, AUFS_WH "%s", name);
        if (!layer_path(p, root, prefix, wh) || lstat(p, &st) == 0 || errno != ENOENT) return -1;
      }
      continue;
    }
    if (!S_ISREG(st.st_mode) || (st.st_nlink != 1 && !linked_ok)) return -1;
    struct stat u = st;
    if (!union_stat(L, &u) || (uint64_t)u.st_ino != ino) return -1;
    int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return -1;
    if (fstat(fd, &fst) != 0 || fst.st_dev != st.st_dev || fst.st_ino != st.st_ino) { close(fd); return -1; }
    return fd;
  }
  return -1;
}

/* Drops handle fh of node ino (C's own) again. */
static void forget_fh(mount_state_t *m, fuse_ino_t ino, uint64_t fh) {
  fds_forget(m, fh);
  pthread_mutex_lock(&m->t->lock);
  node_t *n = node_get(m->t, ino);
  if (n) node_drop_fh(m->t, n, fh);
  pthread_mutex_unlock(&m->t->lock);
}

int copen_open(mount_state_t *m, fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  const layout_t *L = __atomic_load_n(&m->layout, __ATOMIC_ACQUIRE);
  if (!L || !L->opens || (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & ~(O_ACCMODE | PLAIN_FLAGS))) return 0;
  table_t *t = m->t;
  int *src = malloc((size_t)L->n * sizeof *src);
  lreq_t *r = src ? calloc(1, sizeof *r) : NULL;
  if (!r) { free(src); return 0; }
  /* the layers may not answer (a hung lower filesystem): a killed caller is let go meanwhile */
  r->op = OP_OPEN; r->req = req; r->m = m; r->pid = fuse_req_ctx(req)->pid; r->n[0] = fi->flags;
  hold(r);
  int ns = -1;
  char *path = NULL;
  uint64_t uino = 0;
  uint64_t gen = gen_now(m);
  pthread_mutex_lock(&t->lock);
  node_t *n = node_get(t, ino);
  if (n && !n->is_dir && !n->dying && n->names && n->ino) {
    uino = n->ino;
    node_t *p = node_get(t, n->names->parent);
    if (p && p->lsrc && p->lsrc_gen == gen) { ns = p->nlsrc; memcpy(src, p->lsrc, (size_t)ns * sizeof *src); }
    if (p) path = path_of(t, ino, NULL);
  }
  pthread_mutex_unlock(&t->lock);
  const char *rel = path ? (path[0] == '/' ? path + 1 : path) : NULL;
  if (rel && ns < 0) {                 /* its directory's lower layers, from the root */
    char dir[PATH_MAX];
    const char *slash = strrchr(rel, '/');
    size_t plen = slash ? (size_t)(slash - rel) : 0;
    if (plen < sizeof dir) { memcpy(dir, rel, plen); dir[plen] = 0; ns = lower_sources(L, dir, src); }
  }
  int fd = rel && ns > 0 && !upper_involved(L, rel) ? open_lower(L, rel, src, ns, uino, L->roots[0] == NULL) : -1;
  free(src);
  uint64_t fh = 0;
  if (fd >= 0) {
    fh = __atomic_fetch_add(&next_fh, 1, __ATOMIC_RELAXED);
    if (fds_adopt(m, fh, fd) != 0) { close(fd); fd = -1; }
  }
  if (fd >= 0) {
    int known = 0;
    pthread_mutex_lock(&t->lock);
    if ((n = node_get(t, ino)) && !n->dying) { node_add_fh(n, fh); known = 1; }
    pthread_mutex_unlock(&t->lock);
    /* Known now to a copy-up's report; one that came before shows in the upper layer. */
    if (!known || upper_involved(L, rel)) { forget_fh(m, ino, fh); fd = -1; }
  }
  free(path);
  if (fd < 0) return !unhold(r);       /* JavaScript's (unless its caller was let go meanwhile) */
  if (!claim(r)) { forget_fh(m, ino, fh); drop(r); return 1; }
  if (interrupted(r)) {                /* its caller is being killed */
    forget_fh(m, ino, fh);
    fuse_reply_err(req, EINTR);
    done(r);
    return 1;
  }
  fi->fh = fh;
  fi->keep_cache = 1;                  /* as JavaScript: one name (or a read-only union) */
  fi->direct_io = 0;
  COUNT_C(m, OP_OPEN);
  if (fuse_reply_open(req, fi) != 0) forget_fh(m, ino, fh);
  done(r);
  return 1;
}

int copen_release(mount_state_t *m, fuse_req_t req, fuse_ino_t ino, uint64_t fh) {
  if (!C_FH(fh)) return 0;
  forget_fh(m, ino, fh);
  COUNT_C(m, OP_RELEASE);
  fuse_reply_err(req, 0);
  return 1;
}

int copen_fsync(mount_state_t *m, fuse_req_t req, uint64_t fh, int datasync) {
  if (!C_FH(fh)) return 0;
  int r = fds_call(m, fh, datasync ? 1 : 2, NULL);
  COUNT_C(m, OP_FSYNC);
  fuse_reply_err(req, -r);
  return 1;
}

/* FGETATTR of a handle of C's own: the file's attributes as the union gives them, its inode number
   the node's (after a copy-up too: the union keeps the lower file's). */
int copen_getattr(mount_state_t *m, fuse_req_t req, fuse_ino_t ino, uint64_t fh) {
  if (!C_FH(fh)) return 0;
  const layout_t *L = __atomic_load_n(&m->layout, __ATOMIC_ACQUIRE);
  struct stat st;
  int r = L ? fds_call(m, fh, 0, &st) : -EBADF;
  uint64_t uino = 0;
  pthread_mutex_lock(&m->t->lock);
  node_t *n = node_get(m->t, ino);
  if (n) uino = n->ino;
  pthread_mutex_unlock(&m->t->lock);
  if (r == 0 && (!uino || !union_stat(L, &st))) r = -EIO;
  COUNT_C(m, OP_FGETATTR);
  if (r) { fuse_reply_err(req, -r); return 1; }
  st.st_ino = (ino_t)uino;
  fuse_reply_attr(req, &st, m->attr_to);
  return 1;
}

/* The union copied `path` up: C's own handles of its node read the upper copy from now on. */
void copen_copied_up(mount_state_t *m, const char *path) {
  const layout_t *L = __atomic_load_n(&m->layout, __ATOMIC_ACQUIRE);
  if (!L || !L->opens || !L->roots[0]) return;
  table_t *t = m->t;
  char *buf = strdup(path), *save = NULL;
  if (!buf) return;
  uint64_t *fhs = NULL;
  uint32_t nf = 0;
  pthread_mutex_lock(&t->lock);
  node_t *x = node_get(t, FUSE_ROOT_ID);
  for (char *c = strtok_r(buf, "/", &save); c && x; c = strtok_r(NULL, "/", &save)) {
    lname_t *l = name_find(t, x->id, c);
    x = l ? l->node : NULL;
  }
  for (uint32_t i = 0; x && i < x->nfh; i++) {
    if (!C_FH(x->fhs[i])) continue;
    uint64_t *g = realloc(fhs, (nf + 1) * sizeof *g);
    if (!g) break;
    fhs = g;
    fhs[nf++] = x->fhs[i];
  }
  pthread_mutex_unlock(&t->lock);
  free(buf);
  char p[PATH_MAX];
  const char *rel = path[0] == '/' ? path + 1 : path;
  for (uint32_t i = 0; i < nf; i++) {
    int fd = layer_path(p, L->roots[0], rel, NULL) ? open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
    /* none: it keeps reading the lower file (as a handle does whose re-opening failed) */
    if (fd >= 0 && fds_swap(m, fhs[i], fd) != 0) close(fd);
  }
  free(fhs);
}
