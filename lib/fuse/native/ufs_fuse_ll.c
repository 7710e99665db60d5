// ufs's N-API binding to libfuse 2's LOW-level API: one kernel inode per file (hard links share
// one), so the kernel may cache entries, attributes and negative lookups for long on a writable mount.
// This file: the mount, the session and its end, and each request's way through JavaScript.
// The inode table is ufs_ll_table.c, the libfuse side of requests ufs_ll_ops.c, the answers from
// JavaScript ufs_ll_reply.c; ufs_fuse_ll.h has the types.
//
// Threading: the session's worker threads (ufs_ll_loop.c) turn a request into an lreq, queue it to
// the JavaScript thread through one thread-safe function and return; JavaScript answers with
// reply(lreq, result, ...), which calls fuse_reply_* on the JavaScript thread and frees the lreq.
// While JavaScript has it, an lreq is on the mount's pending list:
// - FUSE_INTERRUPT (its caller got a signal) marks it. A caller that only caught a signal gets its
//   real answer (no EINTR that SA_RESTART programs would not expect; the kernel does the same). A
//   caller being killed is answered EINTR: before JavaScript began the request, without running it
//   (call_js); while JavaScript runs it, at once unless it changes names (on_interrupt), and the
//   union's work goes on to its end (it cannot be cancelled halfway), its answer dropped.
// - When the session ends (unmounted, or the connection aborted), every request still pending is
//   answered EIO there and then and marked abandoned; JavaScript's later answer only frees it (and
//   says false, so that an open's handle is closed). The session is destroyed at once: unmounting
//   never waits for JavaScript.
#include "ufs_fuse_ll.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void lreq_free(lreq_t *r) {
  free(r->path); free(r->path2); free(r->name); free(r->name2); free(r->data);
  free(r);
}

static void unlink_pending(mount_state_t *m, lreq_t *r) {
  if (r->prev) r->prev->next = r->next;
  else m->pending = r->next;
  if (r->next) r->next->prev = r->prev;
  r->prev = r->next = NULL;
}

/* Whether thread `tid` has SIGKILL pending (it is being killed, or its process is exiting on a
   fatal signal: the kernel then marks SIGKILL pending in every thread of it). */
static int dying(pid_t tid) {
  char file[64], line[256];
  snprintf(file, sizeof file, "/proc/%d/status", (int)tid);
  FILE *f = fopen(file, "r");
  if (!f) return 0;
  int yes = 0;
  while (!yes && fgets(line, sizeof line, f))
    if (strncmp(line, "SigPnd:", 7) == 0 || strncmp(line, "ShdPnd:", 7) == 0)
      yes = (strtoull(line + 7, NULL, 16) >> (SIGKILL - 1)) & 1;
  fclose(f);
  return yes;
}

/* Whether a request may be answered EINTR while JavaScript still works on it: not one that changes
   names (the kernel would keep its old entries, for long, while the union has the new ones). */
static int may_answer_early(int op) {
  switch (op) {
    case OP_MKNOD: case OP_MKDIR: case OP_UNLINK: case OP_RMDIR: case OP_SYMLINK: case OP_RENAME:
    case OP_LINK: case OP_CREATE:
      return 0;
    default:
      return 1;
  }
}

/* FUSE_INTERRUPT for `req` (called by libfuse on a worker thread, possibly at once from
   fuse_req_interrupt_func). The lreq is looked up by req, never reached through `data`: it may be
   answered and freed meanwhile. A caller being killed is answered EINTR at once (it waits for
   nothing else, and would hang unkillable on a request stuck in JavaScript, e.g. the open of a
   FIFO); JavaScript's later answer is dropped (late_answer() in ufs_ll_reply.c). */
static __thread int registering;  /* on_interrupt called from within fuse_req_interrupt_func */

static void on_interrupt(fuse_req_t req, void *data) {
  mount_state_t *m = data;
  pthread_mutex_lock(&m->qlock);
  lreq_t *r = m->pending;
  while (r && r->req != req) r = r->next;
  if (r) r->interrupted = 1;
  int op = r ? r->op : -1;
  pid_t pid = r ? r->pid : 0;
  pthread_mutex_unlock(&m->qlock);
  /* From within fuse_req_interrupt_func the request must not be answered (libfuse still holds its
     lock, and the answer frees it): call_js answers it before JavaScript sees it. */
  if (!r || registering || !may_answer_early(op) || !dying(pid)) return;
  pthread_mutex_lock(&m->qlock);
  for (r = m->pending; r && r->req != req; r = r->next) {}
  if (r) { r->abandoned = 1; unlink_pending(m, r); m->replying++; }
  pthread_mutex_unlock(&m->qlock);
  if (!r) return;                  /* answered meanwhile */
  fuse_reply_err(req, EINTR);
  pthread_mutex_lock(&m->qlock);
  m->replying--;
  pthread_mutex_unlock(&m->qlock);
}

int interrupted(lreq_t *r) {
  pthread_mutex_lock(&r->m->qlock);
  int abandoned = r->abandoned, intr = r->interrupted;
  pthread_mutex_unlock(&r->m->qlock);
  return abandoned || (intr && dying(r->pid));
}

/* A request on the pending list, so that a killed caller is answered EINTR at once (on_interrupt):
   each one JavaScript serves, and those C serves that may wait on a layer (ufs_ll_open.c). */
void hold(lreq_t *r) {
  mount_state_t *m = r->m;
  pthread_mutex_lock(&m->qlock);
  r->next = m->pending;
  if (m->pending) m->pending->prev = r;
  m->pending = r;
  pthread_mutex_unlock(&m->qlock);
  registering = 1;
  fuse_req_interrupt_func(r->req, on_interrupt, m);
  registering = 0;
}

void submit(lreq_t *r) {
  mount_state_t *m = r->m;
  if (r->req && m->cache_on) {
    r->mut = mutates(r) && !narrow(r);   /* a narrow change is followed when answered (js_reply) */
    if (r->mut) gen_move(m);
    r->gen = gen_now(m);
    r->tick = __atomic_load_n(&m->tick, __ATOMIC_SEQ_CST);
  }
  if (r->req) {
    __atomic_add_fetch(&m->in_js[r->op], 1, __ATOMIC_RELAXED);
    hold(r);
  }
  if (napi_call_threadsafe_function(m->tsfn, r, napi_tsfn_blocking) != napi_ok) {
    if (r->req) fail(r, EIO);
    else lreq_free(r);
  }
}

int unhold(lreq_t *r) {
  if (!claim(r)) { drop(r); return 0; }
  pthread_mutex_lock(&r->m->qlock);
  r->m->replying--;
  pthread_mutex_unlock(&r->m->qlock);
  lreq_free(r);
  return 1;
}

int claim(lreq_t *r) {
  mount_state_t *m = r->m;
  pthread_mutex_lock(&m->qlock);
  int ok = !r->abandoned;
  if (ok) { unlink_pending(m, r); m->replying++; }
  pthread_mutex_unlock(&m->qlock);
  return ok;
}

void done(lreq_t *r) {
  mount_state_t *m = r->m;
  if (r->mut) gen_move(m);
  pthread_mutex_lock(&m->qlock);
  m->replying--;
  pthread_mutex_unlock(&m->qlock);
  lreq_free(r);
}

void drop(lreq_t *r) {
  if (r->mut || (r->req && r->m->cache_on && mutates(r))) gen_move(r->m);   /* a narrow change not followed */
  lreq_free(r);
}

int late_begin(mount_state_t *m) {
  pthread_mutex_lock(&m->qlock);
  int ok = !m->ended;
  if (ok) m->replying++;
  pthread_mutex_unlock(&m->qlock);
  return ok;
}

void late_end(mount_state_t *m) {
  pthread_mutex_lock(&m->qlock);
  m->replying--;
  pthread_mutex_unlock(&m->qlock);
}

void fail(lreq_t *r, int err) {
  if (!claim(r)) { drop(r); return; }
  fuse_reply_err(r->req, err);
  done(r);
}

/* The session is over: answers what JavaScript still has (EIO, into a connection that is gone) so
   that libfuse's requests are freed, and waits for answers being passed to libfuse right now. */
static void abandon_pending(mount_state_t *m) {
  pthread_mutex_lock(&m->qlock);
  m->ended = 1;
  size_t n = 0;
  for (lreq_t *r = m->pending; r; r = r->next) n++;
  fuse_req_t *reqs = n ? malloc(n * sizeof *reqs) : NULL;
  size_t k = 0;
  while (m->pending) {
    lreq_t *r = m->pending;
    r->abandoned = 1;
    unlink_pending(m, r);
    if (reqs) reqs[k++] = r->req;
    else fuse_reply_err(r->req, EIO);
  }
  pthread_mutex_unlock(&m->qlock);
  for (size_t i = 0; i < k; i++) fuse_reply_err(reqs[i], EIO);
  free(reqs);
  if (m->debug && n) fprintf(stderr, "ufs_fuse_ll: %zu request(s) still in JavaScript abandoned at the session's end\n", n);
  for (;;) {
    pthread_mutex_lock(&m->qlock);
    int busy = m->replying;
    pthread_mutex_unlock(&m->qlock);
    if (!busy) break;
    usleep(1000);
  }
}

static void *loop_thread(void *arg) {
  mount_state_t *m = (mount_state_t *)arg;
  session_loop(m);                 /* returns once its worker threads are gone (ufs_ll_loop.c) */
  abandon_pending(m);
  fuse_session_remove_chan(m->ch);
  fuse_session_destroy(m->se);
  if (m->ch != m->kch) fuse_chan_destroy(m->ch);
  fuse_unmount(m->mountpoint, m->kch);
  lreq_t *r = calloc(1, sizeof *r);
  if (r) { r->op = OP_EXIT; r->m = m; napi_call_threadsafe_function(m->tsfn, r, napi_tsfn_blocking); }
  napi_release_threadsafe_function(m->tsfn, napi_tsfn_release);
  return NULL;
}

static struct fuse_lowlevel_ops ops;

/* mount(mountpoint, libfuseArgs: string[], handler, timeouts: Float64Array [entry, attr, negative],
   flags?) -> the mount (an external for openFd, readStats); throws when libfuse refuses.
   flags bit 0: keep answers per node (ufs_ll_keep.c); bit 1: JavaScript reports copy-ups
   (copiedUp), so changes are followed node by node; bit 2: ask the kernel for POSIX ACLs
   (ufs_ll_chan.c); bit 3: do not ask for READDIRPLUS. The mount state lives as long as the process: late answers still find it. */
static napi_value js_mount(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  double *to;
  size_t nto;
  char *mountpoint = argc >= 4 && ufs_get_f64(env, argv[3], &to, &nto) == 0 && nto >= 3 ? ufs_get_string(env, argv[0]) : NULL;
  if (!mountpoint) {
    napi_throw_type_error(env, NULL, "mount(mountpoint, args, handler, timeouts)");
    return NULL;
  }
  mount_state_t *m = calloc(1, sizeof *m);
  if (!m || !(m->t = calloc(1, sizeof *m->t)) || fds_init(m) != 0) { free(m); free(mountpoint); napi_throw_error(env, NULL, "out of memory"); return NULL; }
  m->mountpoint = mountpoint;
  pthread_mutex_init(&m->t->lock, NULL);
  pthread_mutex_init(&m->qlock, NULL);
  m->t->next_id = FUSE_ROOT_ID + 1;
  node_new(m->t, FUSE_ROOT_ID, 0, 1)->nlookup = 1;
  m->entry_to = to[0]; m->attr_to = to[1]; m->neg_to = to[2];
  int32_t flags = 0;
  if (argc >= 5) napi_get_value_int32(env, argv[4], &flags);
  m->cache_on = (flags & 1) && !ufs_nocache();
  m->follow = m->cache_on && (flags & 2);
  m->want_acl = (flags & 4) != 0;
  m->want_plus = m->cache_on && !(flags & 8);
  m->want_splice = !(flags & 16);
  m->gen = 1;
  int nargs;
  char **args;
  if (ufs_mount_args(env, argv[1], &nargs, &args, &m->debug) != 0) return NULL;
  struct fuse_args fargs = FUSE_ARGS_INIT(nargs, args);
  m->kch = m->ch = fuse_mount(m->mountpoint, &fargs);
  if (m->ch == NULL) {
    napi_throw_error(env, "EMOUNT", "libfuse could not mount (see its message on stderr)");
    return NULL;
  }
  m->se = fuse_lowlevel_new(&fargs, &ops, sizeof ops, m);
  if (fargs.allocated) fuse_opt_free_args(&fargs);
  ufs_free_args(nargs, args);
  if (m->se == NULL) {
    fuse_unmount(m->mountpoint, m->kch);
    napi_throw_error(env, "EMOUNT", "libfuse refused the options (see its message on stderr)");
    return NULL;
  }
  struct fuse_chan *wrapped = chan_wrap(m, m->kch);
  if (wrapped) m->ch = wrapped;
  fuse_session_add_chan(m->se, m->ch);
  napi_value name;
  napi_create_string_utf8(env, "ufs_fuse_ll", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[2], NULL, name, 0, 1, NULL, NULL, NULL, call_js, &m->tsfn) != napi_ok) {
    fuse_session_remove_chan(m->ch);
    fuse_session_destroy(m->se);
    if (m->ch != m->kch) fuse_chan_destroy(m->ch);
    fuse_unmount(m->mountpoint, m->kch);
    napi_throw_error(env, NULL, "cannot create the thread-safe function");
    return NULL;
  }
  pthread_create(&m->thread, NULL, loop_thread, m);
  pthread_detach(m->thread);
  napi_value ext;                  /* the mount, for openFd and readStats */
  if (napi_create_external(env, m, NULL, NULL, &ext) != napi_ok) return NULL;
  return ext;
}

static napi_value init_module(napi_env env, napi_value exports) {
  ll_set_ops(&ops);
  return ufs_exports(env, exports, js_mount, js_reply, "openFd", js_open_fd, "setFd", js_set_fd, "readStats", js_read_stats, "copiedUp", js_copied_up, "scanLayers", js_scan_layers, NULL);
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init_module)
