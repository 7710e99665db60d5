// ufs's own N-API binding to libfuse 2's high-level API: what fuse-native lacks for a correct mount
// (the caller's uid/gid/pid, both utimens times in ns, open flags on create, 64-bit handles and
// inode numbers, per-open keep_cache/direct_io, unlinked-but-open files, an exit notification).
//
// Threading: libfuse's worker threads (fuse_loop_mt) each fill a request on their stack, queue it to
// the JavaScript thread through one thread-safe function and wait on the request's semaphore; the
// JavaScript handler answers, possibly later, with reply(request, result, ...), which copies the
// answer into libfuse's buffers and posts the semaphore.
//
// Attribute, listing and xattr cache (also "does not exist" answers): libfuse 2's high-level API gives one attr_timeout per mount, and a
// writable union needs 0 there (two hard links are two kernel inodes here), so every stat(2) reaches
// the server. Answers to getattr and readdir are kept in C, keyed by path and stamped with a
// generation; any request that can change anything (write, create, rename, chmod, ...) moves the
// generation on before it is handed to JavaScript and again once it is answered, which drops every
// answer at once. Only answers whose request started and ended within one generation are kept, so
// nothing the union changed is ever served from it. Off when the union has volumes (host directories
// that change behind ufs) or with UFS_FUSE_NOCACHE=1.
#define FUSE_USE_VERSION 29
#include "ufs_fuse_napi.h"
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <fuse.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

enum op {
  OP_INIT, OP_GETATTR, OP_FGETATTR, OP_ACCESS, OP_READLINK, OP_MKNOD, OP_MKDIR, OP_UNLINK, OP_RMDIR,
  OP_SYMLINK, OP_RENAME, OP_LINK, OP_CHMOD, OP_CHOWN, OP_TRUNCATE, OP_FTRUNCATE, OP_UTIMENS, OP_OPEN,
  OP_CREATE, OP_READ, OP_WRITE, OP_STATFS, OP_FLUSH, OP_RELEASE, OP_FSYNC, OP_SETXATTR, OP_GETXATTR,
  OP_LISTXATTR, OP_REMOVEXATTR, OP_READDIR, OP_EXIT
};

typedef struct req {
  int op;
  const char *path;
  const char *path2;               /* rename/link: new path; symlink: the link's target */
  double a, b, c, d;               /* numeric arguments, per op */
  char *buf;                       /* read: destination; getxattr/listxattr: out buffer; readlink */
  const char *wbuf;                /* write/setxattr: source */
  size_t len;                      /* size of buf / wbuf */
  struct stat *st;
  struct statvfs *stv;
  struct fuse_file_info *fi;
  void *dirbuf;
  fuse_fill_dir_t filler;
  uid_t uid;
  gid_t gid;
  pid_t pid;
  int result;
  int replied;
  uint64_t gen;                    /* the cache generation when the request was handed over */
  struct cache *cache;             /* the mount's cache */
  sem_t sem;
} req_t;

typedef struct mount_state {
  struct fuse *fuse;
  struct fuse_chan *ch;
  char *mountpoint;
  napi_threadsafe_function tsfn;
  pthread_t thread;
  req_t exit_req;
  struct cache *cache;
} mount_state_t;

/* ---- the libfuse side: every operation becomes one request for JavaScript ---- */


#include "ufs_fuse_cache.h"

/* Whether a request can change what getattr or readdir answer. */
static int mutates(const req_t *r) {
  switch (r->op) {
    case OP_GETATTR: case OP_FGETATTR: case OP_ACCESS: case OP_READLINK: case OP_READ: case OP_STATFS:
    case OP_FSYNC: case OP_GETXATTR: case OP_LISTXATTR: case OP_READDIR: case OP_INIT: case OP_EXIT:
      return 0;
    case OP_OPEN: case OP_FLUSH: case OP_RELEASE:
      /* read-only opens and their closes change nothing; writers may (copy-up, times, size) */
      return r->fi == NULL || (r->fi->flags & O_ACCMODE) != O_RDONLY || (r->fi->flags & O_TRUNC);
    default:
      return 1;
  }
}

static int dispatch(req_t *r) {
  struct fuse_context *ctx = fuse_get_context();
  mount_state_t *m = (mount_state_t *)ctx->private_data;
  r->uid = ctx->uid;
  r->gid = ctx->gid;
  r->pid = ctx->pid;
  r->result = -EIO;
  r->replied = 0;
  cache_t *c = m->cache;
  r->cache = c;
  int changes = mutates(r);
  if (changes) cache_bump(c);
  r->gen = cache_now(c);
  sem_init(&r->sem, 0, 0);
  if (napi_call_threadsafe_function(m->tsfn, r, napi_tsfn_blocking) != napi_ok) {
    sem_destroy(&r->sem);
    if (changes) cache_bump(c);
    return -EIO;
  }
  while (sem_wait(&r->sem) != 0 && errno == EINTR) {}
  sem_destroy(&r->sem);
  if (changes) cache_bump(c);
  return r->result;
}

#define REQ(o) req_t r; memset(&r, 0, sizeof r); r.op = (o)

static cache_t *my_cache(void) { return ((mount_state_t *)fuse_get_context()->private_data)->cache; }

static int u_getattr(const char *path, struct stat *st) {
  int res;
  if (cache_get_stat(my_cache(), path, st, &res)) return res;
  REQ(OP_GETATTR); r.path = path; r.st = st; return dispatch(&r);
}
static int u_fgetattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
  REQ(OP_FGETATTR); r.path = path; r.st = st; r.a = (double)fi->fh; return dispatch(&r);
}
static int u_access(const char *path, int mask) { REQ(OP_ACCESS); r.path = path; r.a = mask; return dispatch(&r); }
static int u_readlink(const char *path, char *buf, size_t size) {
  REQ(OP_READLINK); r.path = path; r.buf = buf; r.len = size; return dispatch(&r);
}
static int u_mknod(const char *path, mode_t mode, dev_t dev) {
  REQ(OP_MKNOD); r.path = path; r.a = mode; r.b = (double)dev; return dispatch(&r);
}
static int u_mkdir(const char *path, mode_t mode) { REQ(OP_MKDIR); r.path = path; r.a = mode; return dispatch(&r); }
static int u_unlink(const char *path) { REQ(OP_UNLINK); r.path = path; return dispatch(&r); }
static int u_rmdir(const char *path) { REQ(OP_RMDIR); r.path = path; return dispatch(&r); }
static int u_symlink(const char *target, const char *path) {
  REQ(OP_SYMLINK); r.path = path; r.path2 = target; return dispatch(&r);
}
static int u_rename(const char *from, const char *to) { REQ(OP_RENAME); r.path = from; r.path2 = to; return dispatch(&r); }
static int u_link(const char *from, const char *to) { REQ(OP_LINK); r.path = from; r.path2 = to; return dispatch(&r); }
static int u_chmod(const char *path, mode_t mode) { REQ(OP_CHMOD); r.path = path; r.a = mode; return dispatch(&r); }
static int u_chown(const char *path, uid_t uid, gid_t gid) {
  REQ(OP_CHOWN); r.path = path; r.a = uid == (uid_t)-1 ? -1 : (double)uid; r.b = gid == (gid_t)-1 ? -1 : (double)gid;
  return dispatch(&r);
}
static int u_truncate(const char *path, off_t size) { REQ(OP_TRUNCATE); r.path = path; r.a = (double)size; return dispatch(&r); }
static int u_ftruncate(const char *path, off_t size, struct fuse_file_info *fi) {
  REQ(OP_FTRUNCATE); r.path = path; r.a = (double)size; r.b = (double)fi->fh; return dispatch(&r);
}
/* Times as seconds and nanoseconds; UTIME_NOW / UTIME_OMIT arrive as the nanosecond values. */
static int u_utimens(const char *path, const struct timespec tv[2]) {
  REQ(OP_UTIMENS); r.path = path;
  r.a = (double)tv[0].tv_sec; r.b = (double)tv[0].tv_nsec; r.c = (double)tv[1].tv_sec; r.d = (double)tv[1].tv_nsec;
  return dispatch(&r);
}
static int u_open(const char *path, struct fuse_file_info *fi) {
  REQ(OP_OPEN); r.path = path; r.a = fi->flags; r.fi = fi; return dispatch(&r);
}
static int u_create(const char *path, mode_t mode, struct fuse_file_info *fi) {
  REQ(OP_CREATE); r.path = path; r.a = mode; r.b = fi->flags; r.fi = fi; return dispatch(&r);
}
static int u_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  REQ(OP_READ); r.path = path; r.buf = buf; r.len = size; r.a = (double)fi->fh; r.b = (double)off; return dispatch(&r);
}
static int u_write(const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  REQ(OP_WRITE); r.path = path; r.wbuf = buf; r.len = size; r.a = (double)fi->fh; r.b = (double)off; return dispatch(&r);
}
static int u_statfs(const char *path, struct statvfs *stv) { REQ(OP_STATFS); r.path = path; r.stv = stv; return dispatch(&r); }
static int u_flush(const char *path, struct fuse_file_info *fi) { REQ(OP_FLUSH); r.path = path; r.a = (double)fi->fh; r.fi = fi; return dispatch(&r); }
static int u_release(const char *path, struct fuse_file_info *fi) { REQ(OP_RELEASE); r.path = path; r.a = (double)fi->fh; r.fi = fi; return dispatch(&r); }
static int u_fsync(const char *path, int datasync, struct fuse_file_info *fi) {
  REQ(OP_FSYNC); r.path = path; r.a = datasync; r.b = (double)fi->fh; return dispatch(&r);
}
static int u_setxattr(const char *path, const char *name, const char *value, size_t size, int flags) {
  REQ(OP_SETXATTR); r.path = path; r.path2 = name; r.wbuf = value; r.len = size; r.a = flags; return dispatch(&r);
}
static int u_getxattr(const char *path, const char *name, char *value, size_t size) {
  int res;
  char *key = xattr_key(path, name);
  int hit = cache_get_blob(my_cache(), key, value, size, &res);
  free(key);
  if (hit) return res;
  REQ(OP_GETXATTR); r.path = path; r.path2 = name; r.buf = value; r.len = size; return dispatch(&r);
}
static int u_listxattr(const char *path, char *list, size_t size) {
  int res;
  char *key = xattr_key(path, NULL);
  int hit = cache_get_blob(my_cache(), key, list, size, &res);
  free(key);
  if (hit) return res;
  REQ(OP_LISTXATTR); r.path = path; r.buf = list; r.len = size; return dispatch(&r);
}
static int u_removexattr(const char *path, const char *name) {
  REQ(OP_REMOVEXATTR); r.path = path; r.path2 = name; return dispatch(&r);
}
static int u_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off, struct fuse_file_info *fi) {
  (void)off; (void)fi;
  if (cache_readdir(my_cache(), path, buf, filler)) return 0;
  REQ(OP_READDIR); r.path = path; r.dirbuf = buf; r.filler = filler; return dispatch(&r);
}
static void *u_init(struct fuse_conn_info *conn) {
  (void)conn;
  mount_state_t *m = (mount_state_t *)fuse_get_context()->private_data;
  REQ(OP_INIT); dispatch(&r);
  return m;
}

/* ---- the JavaScript side ---- */

#define CHECK(call) do { if ((call) != napi_ok) goto fail; } while (0)

/* Calls handler(op, req, uid, gid, pid, path, x1, x2, x3, x4) on the JavaScript thread. */
static void call_js(napi_env env, napi_value handler, void *context, void *data) {
  (void)context;
  req_t *r = (req_t *)data;
  if (env == NULL) { /* the function is being torn down: nobody will answer */
    if (r->op != OP_EXIT) { r->result = -EIO; sem_post(&r->sem); }
    return;
  }
  napi_value argv[10];
  CHECK(ufs_handler_args(env, argv, 10, r->op, r, r->uid, r->gid, r->pid, r->path) == 0 ? napi_ok : napi_generic_failure);
  argv[6] = ufs_num(env, r->a);
  argv[7] = ufs_num(env, r->b);
  argv[8] = ufs_num(env, r->c);
  argv[9] = ufs_num(env, r->d);
  switch (r->op) {
    case OP_SYMLINK: case OP_RENAME: case OP_LINK: case OP_REMOVEXATTR: case OP_GETXATTR:
      argv[6] = ufs_str_or_null(env, r->path2);
      if (r->op == OP_GETXATTR) argv[7] = ufs_num(env, (double)r->len);
      break;
    case OP_LISTXATTR:
      argv[6] = ufs_num(env, (double)r->len);
      break;
    case OP_SETXATTR:
      argv[6] = ufs_str_or_null(env, r->path2);
      CHECK(napi_create_buffer_copy(env, r->len, r->len ? r->wbuf : "", NULL, &argv[7]));
      argv[8] = ufs_num(env, r->a);
      break;
    case OP_READ:
      CHECK(napi_create_external_buffer(env, r->len, r->buf, NULL, NULL, &argv[8]));
      break;
    case OP_WRITE:
      CHECK(napi_create_external_buffer(env, r->len, (void *)r->wbuf, NULL, NULL, &argv[8]));
      break;
    default:
      break;
  }
  if (ufs_call_handler(env, handler, 10, argv) != 0) goto fail;
  return;
fail:
  if (r->op != OP_EXIT && !r->replied) { r->replied = 1; r->result = -EIO; sem_post(&r->sem); }
}

/* Copies a reply of `n` bytes into an xattr buffer of r->len bytes (0: the caller asks the size). */
static int copy_sized(req_t *r, const void *data, size_t n) {
  if (r->len == 0) return (int)n;
  if (n > r->len) return -ERANGE;
  memcpy(r->buf, data, n);
  return (int)n;
}

/* reply(req, result, x, y): answers one request (x, y depend on the op; see lib/fuse/native.ts). */
static napi_value js_reply(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  req_t *r;
  if (argc < 2 || napi_get_value_external(env, argv[0], (void **)&r) != napi_ok || r == NULL) {
    napi_throw_type_error(env, NULL, "reply(request, result, ...)");
    return NULL;
  }
  if (r->replied) {
    napi_throw_error(env, NULL, "request already answered");
    return NULL;
  }
  int32_t res = -EIO;
  napi_get_value_int32(env, argv[1], &res);
  /* Answers that a name or an attribute does not exist are kept too (until the next change). */
  if (r->op == OP_GETATTR && (res == -ENOENT || res == -ENOTDIR)) cache_put_stat(r->cache, r->path, NULL, res, r->gen);
  if ((r->op == OP_GETXATTR || r->op == OP_LISTXATTR) && (res == -ENODATA || res == -EOPNOTSUPP)) {
    char *key = xattr_key(r->path, r->op == OP_GETXATTR ? r->path2 : NULL);
    cache_put_blob(r->cache, key, NULL, 0, res, r->gen);
    free(key);
  }
  if (res >= 0 && argc >= 3) {
    double *d;
    size_t n;
    switch (r->op) {
      case OP_GETATTR: case OP_FGETATTR:
        if (ufs_fill_stat(env, argv[2], r->st) == 0) {
          if (r->op == OP_GETATTR) cache_put_stat(r->cache, r->path, r->st, 0, r->gen);
        } else res = -EIO;
        break;
      case OP_STATFS:
        if (ufs_fill_statvfs(env, argv[2], r->stv) != 0) res = -EIO;
        break;
      case OP_READLINK: {
        size_t copied;
        if (r->len == 0 || napi_get_value_string_utf8(env, argv[2], r->buf, r->len, &copied) != napi_ok) res = -EIO;
        break;
      }
      case OP_OPEN: case OP_CREATE: {
        double fh = 0;
        int32_t flags = 0;
        napi_get_value_double(env, argv[2], &fh);
        if (argc >= 4) napi_get_value_int32(env, argv[3], &flags);
        r->fi->fh = (uint64_t)fh;
        r->fi->keep_cache = (flags & 1) ? 1 : 0;
        r->fi->direct_io = (flags & 2) ? 1 : 0;
        break;
      }
      case OP_GETXATTR: case OP_LISTXATTR: {
        void *data;
        size_t n;
        if (napi_get_buffer_info(env, argv[2], &data, &n) == napi_ok) {
          res = copy_sized(r, data, n);
          char *key = xattr_key(r->path, r->op == OP_GETXATTR ? r->path2 : NULL);
          cache_put_blob(r->cache, key, data, n, 0, r->gen);
          free(key);
        } else res = -EIO;
        break;
      }
      case OP_READDIR: {
        uint32_t count = 0;
        if (napi_get_array_length(env, argv[2], &count) != napi_ok || argc < 4 || ufs_get_f64(env, argv[3], &d, &n) != 0 || n < 2 * (size_t)count) {
          res = -EIO;
          break;
        }
        char name[1024];
        /* Kept for later readdirs of the same generation (all of it, or nothing). */
        cache_t *c = r->cache;
        dent_t *keep = (c && c->on && r->path && r->gen == cache_now(c)) ? calloc(count ? count : 1, sizeof *keep) : NULL;
        uint32_t kept = 0;
        int full = 1;
        for (uint32_t i = 0; i < count; i++) {
          napi_value v;
          size_t len;
          if (napi_get_element(env, argv[2], i, &v) != napi_ok) { full = 0; continue; }
          if (napi_get_value_string_utf8(env, v, name, sizeof name, &len) != napi_ok) { full = 0; continue; }
          struct stat st;
          memset(&st, 0, sizeof st);
          st.st_ino = (ino_t)d[2 * i];
          st.st_mode = (mode_t)d[2 * i + 1];
          if (keep) {
            keep[kept].name = strdup(name);
            keep[kept].ino = st.st_ino;
            keep[kept].mode = st.st_mode;
            if (keep[kept].name) kept++; else full = 0;
          }
          if (r->filler(r->dirbuf, name, &st, 0)) { full = 0; break; }
        }
        if (keep && full && kept == count) {
          uint64_t h = hash_path(r->path);
          pthread_mutex_lock(&c->lock);
          centry_t *e = r->gen == cache_now(c) ? cache_slot_locked(c, r->path, h, r->gen) : NULL;
          if (e && !e->ents) { e->ents = keep; e->nents = kept; keep = NULL; }
          pthread_mutex_unlock(&c->lock);
        }
        if (keep) { for (uint32_t i = 0; i < kept; i++) free(keep[i].name); free(keep); }
        break;
      }
      default:
        break;
    }
  }
  r->result = res;
  r->replied = 1;
  sem_post(&r->sem);
  return NULL;
}

static void *loop_thread(void *arg) {
  mount_state_t *m = (mount_state_t *)arg;
  fuse_loop_mt(m->fuse);
  fuse_unmount(m->mountpoint, m->ch);
  fuse_destroy(m->fuse);
  cache_t *c = m->cache;
  pthread_mutex_lock(&c->lock);
  c->on = 0;
  if (c->tab) { cache_clear_locked(c); free(c->tab); c->tab = NULL; }
  pthread_mutex_unlock(&c->lock);
  memset(&m->exit_req, 0, sizeof m->exit_req);
  m->exit_req.op = OP_EXIT;
  napi_call_threadsafe_function(m->tsfn, &m->exit_req, napi_tsfn_blocking);
  napi_release_threadsafe_function(m->tsfn, napi_tsfn_release);
  return NULL;
}

static struct fuse_operations ops;

/* mount(mountpoint, libfuseArgs: string[], handler, flags?) -> undefined; throws when libfuse refuses.
   flags bit 0: cache getattr/readdir answers (see the top of this file). */
static napi_value js_mount(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3) {
    napi_throw_type_error(env, NULL, "mount(mountpoint, args, handler)");
    return NULL;
  }
  char *mountpoint = ufs_get_string(env, argv[0]);
  if (!mountpoint) {
    napi_throw_type_error(env, NULL, "mountpoint must be a string");
    return NULL;
  }
  int nargs;
  char **args;
  if (ufs_mount_args(env, argv[1], &nargs, &args, NULL) != 0) { free(mountpoint); return NULL; }
  int32_t flags = 0;
  if (argc >= 4) napi_get_value_int32(env, argv[3], &flags);
  mount_state_t *m = calloc(1, sizeof *m);
  m->cache = calloc(1, sizeof *m->cache);
  pthread_mutex_init(&m->cache->lock, NULL);
  m->cache->gen = 1;
  if ((flags & 1) && !ufs_nocache()) {
    m->cache->tab = calloc(CACHE_BUCKETS, sizeof *m->cache->tab);
    m->cache->on = m->cache->tab != NULL;
  }
  m->mountpoint = mountpoint;
  struct fuse_args fargs = FUSE_ARGS_INIT(nargs, args);

  m->ch = fuse_mount(m->mountpoint, &fargs);
  if (m->ch == NULL) {
    napi_throw_error(env, "EMOUNT", "libfuse could not mount (see its message on stderr)");
    return NULL;
  }
  m->fuse = fuse_new(m->ch, &fargs, &ops, sizeof ops, m);
  if (fargs.allocated) fuse_opt_free_args(&fargs);
  ufs_free_args(nargs, args);
  if (m->fuse == NULL) {
    fuse_unmount(m->mountpoint, m->ch);
    napi_throw_error(env, "EMOUNT", "libfuse refused the options (see its message on stderr)");
    return NULL;
  }
  napi_value name;
  napi_create_string_utf8(env, "ufs_fuse", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[2], NULL, name, 0, 1, NULL, NULL, NULL, call_js, &m->tsfn) != napi_ok) {
    fuse_unmount(m->mountpoint, m->ch);
    fuse_destroy(m->fuse);
    napi_throw_error(env, NULL, "cannot create the thread-safe function");
    return NULL;
  }
  pthread_create(&m->thread, NULL, loop_thread, m);
  pthread_detach(m->thread);
  return NULL;
}

static napi_value init_module(napi_env env, napi_value exports) {
  ops.init = u_init;
  ops.getattr = u_getattr;
  ops.fgetattr = u_fgetattr;
  ops.access = u_access;
  ops.readlink = u_readlink;
  ops.mknod = u_mknod;
  ops.mkdir = u_mkdir;
  ops.unlink = u_unlink;
  ops.rmdir = u_rmdir;
  ops.symlink = u_symlink;
  ops.rename = u_rename;
  ops.link = u_link;
  ops.chmod = u_chmod;
  ops.chown = u_chown;
  ops.truncate = u_truncate;
  ops.ftruncate = u_ftruncate;
  ops.utimens = u_utimens;
  ops.open = u_open;
  ops.create = u_create;
  ops.read = u_read;
  ops.write = u_write;
  ops.statfs = u_statfs;
  ops.flush = u_flush;
  ops.release = u_release;
  ops.fsync = u_fsync;
  ops.setxattr = u_setxattr;
  ops.getxattr = u_getxattr;
  ops.listxattr = u_listxattr;
  ops.removexattr = u_removexattr;
  ops.readdir = u_readdir;
  ops.flag_nullpath_ok = 1;
  ops.flag_utime_omit_ok = 1;

  return ufs_exports(env, exports, js_mount, js_reply, NULL);
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init_module)
