// The low-level binding's reads and writes served in C: per open file (fh) the layer file that
// JavaScript's handle reads (its descriptor handed over when an open is answered, switched when a
// copy-up re-points the handle, -1 before it closes); a READ of such a file is pread() on libfuse's
// worker thread and answered there, without JavaScript (by splice(2) when libfuse can: one copy
// of the data instead of two). A WRITE is pwrite() there too when the
// descriptor is the upper layer's own file open for writing (JavaScript says so: writable) and the
// file has one name; the answers kept about the file are brought up to date first (keep_written).
//
// Safety of the switch: C reads its OWN duplicate of the descriptor (F_DUPFD_CLOEXEC), reference
// counted and closed by its last reader. setFd swaps it under a mutex and never waits: a read in
// flight finishes on the duplicate it took, which stays open until then, so no read ever runs on a
// closed or reused descriptor number, and JavaScript may close its own descriptor at once.
#include "ufs_fuse_ll.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FBUCKETS 1024
#define SPLICE_MIN 8192            /* smaller READs: pread and one write (libfuse would copy them anyway) */

typedef struct dfd {                /* C's duplicate of a layer file descriptor */
  int fd;
  int refs;                        /* the entry's, and each read in progress (under fds->lock) */
} dfd_t;

typedef struct fent {
  struct fent *next;               /* hash chain by fh, in m->fds */
  uint64_t fh;
  dfd_t *cur;                      /* NULL: reads go to JavaScript (under fds->lock) */
  int wr;                          /* writes may go to cur too (under fds->lock) */
  int refs;                        /* the table's and JavaScript's (atomic) */
  struct fds *f;
} fent_t;

typedef struct fds {
  pthread_mutex_t lock;            /* the table, each entry's cur, each dfd's refs */
  fent_t *byfh[FBUCKETS];
  uint64_t reads_c, reads_js;      /* counters (atomic): READs answered here / handed to JavaScript */
  uint64_t reads_splice;           /* of reads_c, those answered by splice(2) */
} fds_t;

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t buf_key;      /* each worker thread's read buffer (freed when the thread ends) */
typedef struct { char *p; size_t cap; } tbuf_t;

static void tbuf_free(void *v) { tbuf_t *b = v; if (b) { free(b->p); free(b); } }
static void make_key(void) { pthread_key_create(&buf_key, tbuf_free); }

static char *thread_buf(size_t size) {
  pthread_once(&key_once, make_key);
  tbuf_t *b = pthread_getspecific(buf_key);
  if (!b) {
    if (!(b = calloc(1, sizeof *b))) return NULL;
    pthread_setspecific(buf_key, b);
  }
  if (b->cap < size) {
    char *p = realloc(b->p, size);
    if (!p) return NULL;
    b->p = p; b->cap = size;
  }
  return b->p;
}

int fds_init(mount_state_t *m) {
  fds_t *f = calloc(1, sizeof *f);
  if (!f) return -1;
  pthread_mutex_init(&f->lock, NULL);
  m->fds = f;
  return 0;
}

/* A duplicate of `fd` (NULL for -1, or when it cannot be made: reads then go to JavaScript). */
static dfd_t *dfd_new(int fd) {
  if (fd < 0) return NULL;
  dfd_t *d = malloc(sizeof *d);
  if (!d) return NULL;
  if ((d->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) { free(d); return NULL; }
  d->refs = 1;
  return d;
}

/* Drops a reference to `d`, under f->lock; returns the dfd to close when it was the last. */
static dfd_t *dfd_put_locked(dfd_t *d) {
  return d && --d->refs == 0 ? d : NULL;
}

static void dfd_close(dfd_t *d) {
  if (d) { close(d->fd); free(d); }
}

static void unref(fent_t *e) {
  if (__atomic_sub_fetch(&e->refs, 1, __ATOMIC_ACQ_REL) == 0) {
    pthread_mutex_lock(&e->f->lock);
    dfd_t *d = dfd_put_locked(e->cur);
    e->cur = NULL;
    pthread_mutex_unlock(&e->f->lock);
    dfd_close(d);
    free(e);
  }
}

/* Unlinks the entry of `fh` (with f->lock held); the caller drops the table's reference. */
static fent_t *unlink_fh(fds_t *f, uint64_t fh) {
  for (fent_t **p = &f->byfh[fh % FBUCKETS]; *p; p = &(*p)->next)
    if ((*p)->fh == fh) { fent_t *e = *p; *p = e->next; e->next = NULL; return e; }
  return NULL;
}

/* RELEASE has arrived: the kernel sends no more reads with this fh (it waits for those in flight
   first), so the entry leaves the table before JavaScript may give the number to another open. */
void fds_forget(mount_state_t *m, uint64_t fh) {
  fds_t *f = m->fds;
  pthread_mutex_lock(&f->lock);
  fent_t *e = unlink_fh(f, fh);
  pthread_mutex_unlock(&f->lock);
  if (e) unref(e);
}

/* Answers READ from the layer file when the open file has one; 0 when it is JavaScript's. */
static dfd_t *dfd_take(fds_t *f, uint64_t fh, int writable);
static void dfd_give(fds_t *f, dfd_t *d);

int fds_read(mount_state_t *m, fuse_req_t req, uint64_t fh, size_t size, off_t off) {
  fds_t *f = m->fds;
  dfd_t *d = dfd_take(f, fh, 0);
  if (!d) { __atomic_add_fetch(&f->reads_js, 1, __ATOMIC_RELAXED); return 0; }
  if (m->splice && size >= SPLICE_MIN) {
    /* splice(2): the file's pages go through a pipe to the kernel, copied once (into the mount's
       page cache) instead of twice (pread here, then write); libfuse's fuse_reply_data does it,
       and answers an error of the file's splice as an error, a short count (end of file) short */
    struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);
    bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
    bv.buf[0].fd = d->fd;
    bv.buf[0].pos = off;
    fuse_reply_data(req, &bv, 0);
    dfd_give(f, d);
    __atomic_add_fetch(&f->reads_c, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&f->reads_splice, 1, __ATOMIC_RELAXED);
    return 1;
  }
  char *buf = thread_buf(size ? size : 1);
  ssize_t got = 0;
  int err = buf ? 0 : ENOMEM;
  while (!err && (size_t)got < size) {
    ssize_t n = pread(d->fd, buf + got, size - (size_t)got, off + got);
    if (n < 0) { if (errno == EINTR) continue; err = errno; break; }
    if (n == 0) break;             /* end of file */
    got += n;
  }
  dfd_give(f, d);                  /* switched away meanwhile: this read was its last user */
  __atomic_add_fetch(&f->reads_c, 1, __ATOMIC_RELAXED);
  if (err && got == 0) fuse_reply_err(req, err);
  else fuse_reply_buf(req, buf, (size_t)got);
  return 1;
}

/* The descriptor of `fh` with a reference (writable: only when writes may go to it), or NULL. */
static dfd_t *dfd_take(fds_t *f, uint64_t fh, int writable) {
  pthread_mutex_lock(&f->lock);
  fent_t *e = f->byfh[fh % FBUCKETS];
  while (e && e->fh != fh) e = e->next;
  dfd_t *d = e && (!writable || e->wr) ? e->cur : NULL;
  if (d) d->refs++;
  pthread_mutex_unlock(&f->lock);
  return d;
}

static void dfd_give(fds_t *f, dfd_t *d) {
  pthread_mutex_lock(&f->lock);
  d = dfd_put_locked(d);
  pthread_mutex_unlock(&f->lock);
  dfd_close(d);
}

int fds_write(mount_state_t *m, fuse_req_t req, uint64_t ino, uint64_t fh, const char *buf, size_t size, off_t off) {
  fds_t *f = m->fds;
  if (m->cache_on && !m->follow) return 0;   /* every write would have to drop all kept answers */
  dfd_t *d = dfd_take(f, fh, 1);
  if (!d) return 0;
  if (!keep_written(m, ino)) { dfd_give(f, d); return 0; }   /* a file with other names: JavaScript's */
  size_t done_n = 0;
  int err = 0;
  while (done_n < size) {
    ssize_t n = pwrite(d->fd, buf + done_n, size - done_n, off + (off_t)done_n);
    if (n < 0) { if (errno == EINTR) continue; err = errno; break; }
    if (n == 0) break;
    done_n += (size_t)n;
  }
  dfd_give(f, d);
  keep_written(m, ino);            /* again: a lookup may have kept the old size meanwhile */
  COUNT_C(m, OP_WRITE);
  if (err && done_n == 0) fuse_reply_err(req, err);
  else fuse_reply_write(req, done_n);
  return 1;
}

/* An open file of C's own (ufs_ll_open.c): `fd` is the entry's from now on (closed with it); -1:
   out of memory (the caller closes fd). */
int fds_adopt(mount_state_t *m, uint64_t fh, int fd) {
  fds_t *f = m->fds;
  fent_t *e = calloc(1, sizeof *e);
  dfd_t *d = e ? malloc(sizeof *d) : NULL;
  if (!d) { free(e); return -1; }
  d->fd = fd; d->refs = 1;
  e->fh = fh; e->f = f; e->refs = 1; e->cur = d;   /* the table's reference only */
  pthread_mutex_lock(&f->lock);
  fent_t *old = unlink_fh(f, fh);
  e->next = f->byfh[fh % FBUCKETS];
  f->byfh[fh % FBUCKETS] = e;
  pthread_mutex_unlock(&f->lock);
  if (old) unref(old);
  return 0;
}

/* Open file fh of C's own reads `fd` from now on (a copy-up re-pointed it); -1 when fh is not open
   (the caller closes fd). Reads in flight finish on the old descriptor, as with setFd. */
int fds_swap(mount_state_t *m, uint64_t fh, int fd) {
  fds_t *f = m->fds;
  dfd_t *nd = malloc(sizeof *nd);
  if (!nd) return -1;
  nd->fd = fd; nd->refs = 1;
  pthread_mutex_lock(&f->lock);
  fent_t *e = f->byfh[fh % FBUCKETS];
  while (e && e->fh != fh) e = e->next;
  dfd_t *old = NULL;
  if (e) { old = dfd_put_locked(e->cur); e->cur = nd; e->wr = 0; }
  pthread_mutex_unlock(&f->lock);
  if (!e) { free(nd); return -1; }
  dfd_close(old);
  return 0;
}

/* fstat (op 0) or fsync (op 1: data only, 2: all) of open file fh's descriptor; -errno, -EBADF when
   it has none. */
int fds_call(mount_state_t *m, uint64_t fh, int op, struct stat *st) {
  fds_t *f = m->fds;
  dfd_t *d = dfd_take(f, fh, 0);
  if (!d) return -EBADF;
  int r = op == 0 ? fstat(d->fd, st) : op == 1 ? fdatasync(d->fd) : fsync(d->fd);
  r = r < 0 ? -errno : 0;
  dfd_give(f, d);
  return r;
}

static void drop_external(napi_env env, void *data, void *hint) { (void)env; (void)hint; unref(data); }

/* openFd(mount, fh, fd, writable?) -> entry: before an open or create of `fh` is answered, the
   descriptor its reads (and, writable, its writes) may use (-1: none); the entry is what setFd
   changes. Replaces an older entry of `fh`. */
napi_value js_open_fd(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  mount_state_t *m;
  double fh;
  int32_t fd;
  if (argc < 3 || napi_get_value_external(env, argv[0], (void **)&m) != napi_ok || !m || !m->fds ||
      napi_get_value_double(env, argv[1], &fh) != napi_ok || napi_get_value_int32(env, argv[2], &fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "openFd(mount, fh, fd)");
    return NULL;
  }
  fent_t *e = calloc(1, sizeof *e);
  if (!e) { napi_throw_error(env, NULL, "out of memory"); return NULL; }
  e->fh = (uint64_t)fh; e->f = m->fds; e->refs = 2;   /* the table's and JavaScript's */
  e->cur = dfd_new(fd);
  bool wr = false;
  if (argc >= 4) napi_get_value_bool(env, argv[3], &wr);
  e->wr = e->cur && wr;
  napi_value ext;
  if (napi_create_external(env, e, drop_external, NULL, &ext) != napi_ok) {
    dfd_close(e->cur); free(e);
    napi_throw_error(env, NULL, "cannot create the entry");
    return NULL;
  }
  fds_t *f = m->fds;
  pthread_mutex_lock(&f->lock);
  fent_t *old = unlink_fh(f, e->fh);
  e->next = f->byfh[e->fh % FBUCKETS];
  f->byfh[e->fh % FBUCKETS] = e;
  pthread_mutex_unlock(&f->lock);
  if (old) unref(old);
  return ext;
}

/* setFd(entry, fd, writable?): the open file's reads (and, writable, its writes) use `fd` from now on
   (-1: JavaScript's). Never waits: a read or write in flight keeps C's duplicate of the old
   descriptor open until it is done, and JavaScript may close its own at once. */
napi_value js_set_fd(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  fent_t *e;
  int32_t fd;
  if (argc < 2 || napi_get_value_external(env, argv[0], (void **)&e) != napi_ok || !e || napi_get_value_int32(env, argv[1], &fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "setFd(entry, fd)");
    return NULL;
  }
  dfd_t *nd = dfd_new(fd);
  bool wr = false;
  if (argc >= 3) napi_get_value_bool(env, argv[2], &wr);
  pthread_mutex_lock(&e->f->lock);
  dfd_t *old = dfd_put_locked(e->cur);
  e->cur = nd;
  e->wr = nd && wr;
  pthread_mutex_unlock(&e->f->lock);
  dfd_close(old);
  return NULL;
}

/* readStats(mount) -> [reads answered in C, reads handed to JavaScript, then for each op of enum op
   in order: requests answered in C, requests handed to JavaScript, then listings read in C, entries
   given by READDIRPLUS, reads answered by splice]. */
napi_value js_read_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  mount_state_t *m;
  if (argc < 1 || napi_get_value_external(env, argv[0], (void **)&m) != napi_ok || !m || !m->fds) {
    napi_throw_type_error(env, NULL, "readStats(mount)");
    return NULL;
  }
  napi_value arr;
  napi_create_array_with_length(env, 5 + 2 * (OP_EXIT + 1), &arr);
  napi_set_element(env, arr, 0, ufs_num(env, (double)__atomic_load_n(&m->fds->reads_c, __ATOMIC_RELAXED)));
  napi_set_element(env, arr, 1, ufs_num(env, (double)__atomic_load_n(&m->fds->reads_js, __ATOMIC_RELAXED)));
  for (int op = 0; op <= OP_EXIT; op++) {
    napi_set_element(env, arr, 2 + 2 * op, ufs_num(env, (double)__atomic_load_n(&m->in_c[op], __ATOMIC_RELAXED)));
    napi_set_element(env, arr, 3 + 2 * op, ufs_num(env, (double)__atomic_load_n(&m->in_js[op], __ATOMIC_RELAXED)));
  }
  napi_set_element(env, arr, 2 + 2 * (OP_EXIT + 1), ufs_num(env, (double)__atomic_load_n(&m->scans, __ATOMIC_RELAXED)));
  napi_set_element(env, arr, 3 + 2 * (OP_EXIT + 1), ufs_num(env, (double)__atomic_load_n(&m->plus_entries, __ATOMIC_RELAXED)));
  napi_set_element(env, arr, 4 + 2 * (OP_EXIT + 1), ufs_num(env, (double)__atomic_load_n(&m->fds->reads_splice, __ATOMIC_RELAXED)));
  return arr;
}
