// The low-level binding's JavaScript side: call_js hands a queued request to the handler of
// lib/fuse/ufs-ll-binding.ts on the JavaScript thread; reply(req, result, ...) answers it there
// (fuse_reply_*), keeping the inode table and the answers kept per node up to date.
#include "ufs_fuse_ll.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void free_data(napi_env env, void *data, void *hint) { (void)env; (void)hint; free(data); }

/* Calls handler(op, req, uid, gid, pid, path, path2, n0, n1, n2, x) on the JavaScript thread; x is
   the bytes of a write or setxattr, or for setattr a Float64Array [to_set, mode, uid, gid, size, fh,
   atime s, atime ns, mtime s, mtime ns]. */
void call_js(napi_env env, napi_value handler, void *context, void *data) {
  (void)context;
  lreq_t *r = (lreq_t *)data;
  if (env == NULL) { /* the function is being torn down: nobody will answer */
    if (r->req) fail(r, EIO);
    else lreq_free(r);
    return;
  }
  /* Interrupted before JavaScript began it (its caller was killed or got a signal): nothing was
     done, so it is answered EINTR here. Abandoned at the session's end: nobody waits for it. */
  if (r->req && interrupted(r)) {
    fail(r, EINTR);
    return;
  }
  napi_value argv[11];
  if (ufs_handler_args(env, argv, 11, r->op, r, r->uid, r->gid, r->pid, r->path) != 0) goto fail;
  argv[6] = ufs_str_or_null(env, r->path2);
  argv[7] = ufs_num(env, r->n[0]);
  argv[8] = ufs_num(env, r->n[1]);
  argv[9] = ufs_num(env, r->n[2]);
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
  if (ufs_call_handler(env, handler, 11, argv) != 0) goto fail;
  return;
fail:
  /* not answered: nothing else will (the handler answers only after a successful call) */
  if (r->req) fail(r, EIO);
  else lreq_free(r);
}

/* Answers a lookup-like request with the node for (parent, name) or, for link, node r->ino; 0 when
   the kernel took the answer. follow: a narrow change (keep_created keeps the new node's attributes,
   pst its directory's, xn/xl its xattr names). */
static int reply_entry(lreq_t *r, struct stat *st, struct fuse_file_info *fi, int follow, const struct stat *pst, const char *xn, size_t xl) {
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
    if (n && (l || name_add(t, n, r->parent, r->name) == 0)) { n->nlookup++; n->nlink = st->st_nlink; e.ino = n->id; }
  } else e.ino = attach(t, r->parent, r->name, st);
  if (e.ino && r->op == OP_LOOKUP && keep_on(r, r->parent)) {   /* nothing changed under the parent meanwhile */
    node_t *k = keep_on(r, e.ino);
    if (k) { k->st = *st; k->has_st = 1; }
  }
  if (e.ino && follow && r->op != OP_LOOKUP && r->op != OP_LINK) { node_t *k = node_get(t, e.ino); if (k) keep_created(r, k, st, pst, xn, xl); }
  if (e.ino && fi) { node_t *n = node_get(t, e.ino); if (n) node_add_fh(n, fi->fh); }
  pthread_mutex_unlock(&t->lock);
  if (!e.ino) { fuse_reply_err(r->req, ENOMEM); return -1; }
  int sent = fi ? fuse_reply_create(r->req, &e, fi) : fuse_reply_entry(r->req, &e);
  if (sent != 0) {                 /* the kernel did not take the reference (interrupted) */
    pthread_mutex_lock(&t->lock);
    node_t *n = node_get(t, e.ino);
    if (n && fi) node_drop_fh(t, n, fi->fh);
    forget_one(t, e.ino, 1);
    pthread_mutex_unlock(&t->lock);
  }
  return sent;
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
      if (l) name_move(t, l, r->parent2, r->name2);
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

/* JavaScript's answer to a request answered EINTR already (its caller was killed): what it changed
   on the node's attributes is made to show (the kernel keeps them for long); names are never
   answered early (on_interrupt), and after the session's end nothing is sent. */
static void late_answer(lreq_t *r, int res) {
  if (res < 0 || !mutates(r) || !r->ino || !late_begin(r->m)) return;
  fuse_lowlevel_notify_inval_inode(r->m->ch, r->ino, -1, 0);
  late_end(r->m);
}

/* getxattr may bring the file's xattr names too (reply's 4th argument, a NUL-separated list). */
static void keep_names(napi_env env, lreq_t *r, size_t argc, napi_value *argv) {
  void *data;
  size_t n;
  if (r->op == OP_GETXATTR && argc >= 4 && napi_get_buffer_info(env, argv[3], &data, &n) == napi_ok && (n == 0 || ((char *)data)[n - 1] == 0))
    keep_xattr(r, NULL, 0, data, n);
}

/* reply(req, result, x, y, z) -> boolean: answers one request (x, y, z depend on the op; see
   ufs-ll-binding.ts). False when the answer did not reach the kernel: the request was abandoned at
   the session's end or answered EINTR after an interrupt, or its caller is gone; an open or create
   answered false leaves its handle to JavaScript to close. */
napi_value js_reply(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  lreq_t *r;
  if (argc < 2 || napi_get_value_external(env, argv[0], (void **)&r) != napi_ok || r == NULL) {
    napi_throw_type_error(env, NULL, "reply(request, result, ...)");
    return NULL;
  }
  int32_t res = -EIO;
  napi_get_value_int32(env, argv[1], &res);
  napi_value delivered;
  if (!r->req) { lreq_free(r); napi_get_boolean(env, true, &delivered); return delivered; }  /* INIT, EXIT */
  if (!claim(r)) { late_answer(r, res); drop(r); napi_get_boolean(env, false, &delivered); return delivered; }
  int sent = 0;                    /* what fuse_reply_* said: 0 when the kernel took the answer */
  char *created_x = NULL;          /* CREATE: the new file's xattr names, kept after done() */
  size_t created_len = 0;
  uint64_t created_id = 0;
  if (r->mut) gen_move(r->m);      /* before the kernel sees the answer */
  fuse_req_t req = r->req;
  mount_state_t *m = r->m;
  /* A narrow change (not r->mut): followed node by node before its answer goes out, or (failed, or
     keep_change could not) every kept answer dropped. */
  int follow = m->cache_on && !r->mut && mutates(r);
  if (follow && res < 0) { gen_move(m); r->mut = 1; follow = 0; }
  if (follow && r->op != OP_CREATE && r->op != OP_MKNOD && r->op != OP_MKDIR && r->op != OP_SYMLINK &&
      r->op != OP_UNLINK && r->op != OP_RMDIR && !keep_change(r, NULL, NULL, NULL, 0)) { r->mut = 1; follow = 0; }
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
      sent = fuse_reply_entry(req, &e);
    } else sent = fuse_reply_err(req, -res);
    if ((r->op == OP_GETXATTR || r->op == OP_LISTXATTR) && (res == -ENODATA || res == -EOPNOTSUPP))
      keep_xattr(r, r->op == OP_GETXATTR ? r->path2 : NULL, res, NULL, 0);
    keep_names(env, r, argc, argv);
    done(r);
    napi_get_boolean(env, sent == 0, &delivered);
    return delivered;
  }
  struct stat st, pst;
  double *d;
  size_t n;
  /* a narrow change's directory attributes after it: argv[3] (argv[6] for create, argv[2] for unlink, rmdir) */
  size_t pat = r->op == OP_CREATE ? 6 : (r->op == OP_UNLINK || r->op == OP_RMDIR) ? 2 : 3;
  int entry_op = r->op == OP_CREATE || r->op == OP_MKNOD || r->op == OP_MKDIR || r->op == OP_SYMLINK || r->op == OP_UNLINK || r->op == OP_RMDIR;
  const struct stat *pstp = follow && entry_op && argc > pat && ufs_fill_stat(env, argv[pat], &pst) == 0 ? &pst : NULL;
  switch (r->op) {
    case OP_LOOKUP: case OP_MKNOD: case OP_MKDIR: case OP_SYMLINK: case OP_LINK:
      if (argc < 3 || ufs_fill_stat(env, argv[2], &st) != 0) { fuse_reply_err(req, EIO); if (follow) { gen_move(m); r->mut = 1; } }
      else {
        if (follow && !keep_change(r, &st, pstp, NULL, 0)) { r->mut = 1; follow = 0; }
        sent = reply_entry(r, &st, NULL, follow, pstp, NULL, 0);
      }
      break;
    case OP_CREATE: {
      double fh = 0;
      int32_t flags = 0;
      if (argc < 5 || napi_get_value_double(env, argv[2], &fh) != napi_ok || ufs_fill_stat(env, argv[4], &st) != 0) {
        fuse_reply_err(req, EIO);
        if (follow) { gen_move(m); r->mut = 1; }
        sent = -1;                 /* not opened: JavaScript closes its handle */
        break;
      }
      napi_get_value_int32(env, argv[3], &flags);
      r->fi.fh = (uint64_t)fh;
      r->fi.keep_cache = (flags & 1) ? 1 : 0;
      r->fi.direct_io = (flags & 2) ? 1 : 0;
      /* argv[5], optional: the new file's xattr names (kept now when followed, else once done below) */
      void *xd;
      size_t xn;
      int has_x = m->cache_on && argc >= 6 && napi_get_buffer_info(env, argv[5], &xd, &xn) == napi_ok && (xn == 0 || ((char *)xd)[xn - 1] == 0);
      if (has_x && xn == 0) xd = "";     /* no names (an empty buffer may have no data pointer) */
      if (follow && !keep_change(r, &st, pstp, has_x ? xd : NULL, has_x ? xn : 0)) { r->mut = 1; follow = 0; }
      sent = reply_entry(r, &st, &r->fi, follow, pstp, has_x ? xd : NULL, has_x ? xn : 0);
      if (sent == 0 && !follow && has_x && (created_x = malloc(xn ? xn : 1))) {
        memcpy(created_x, xd, xn);
        created_len = xn;
        pthread_mutex_lock(&m->t->lock);
        lname_t *l = name_find(m->t, r->parent, r->name);
        created_id = l ? l->node->id : 0;
        pthread_mutex_unlock(&m->t->lock);
      }
      break;
    }
    case OP_GETATTR: case OP_FGETATTR: case OP_SETATTR:
      if (argc < 3 || ufs_fill_stat(env, argv[2], &st) != 0) fuse_reply_err(req, EIO);
      else {
        pthread_mutex_lock(&m->t->lock);
        node_t *nd = node_get(m->t, r->ino);
        if (nd) nd->nlink = st.st_nlink;
        node_t *k = r->op == OP_GETATTR ? keep_on(r, r->ino) : NULL;
        if (k) { k->st = st; k->has_st = 1; }
        pthread_mutex_unlock(&m->t->lock);
        fuse_reply_attr(req, &st, m->attr_to);
      }
      break;
    case OP_READLINK: {
      size_t len;
      char *buf = NULL;
      if (argc >= 3 && napi_get_value_string_utf8(env, argv[2], NULL, 0, &len) == napi_ok && (buf = malloc(len + 1))) {
        napi_get_value_string_utf8(env, argv[2], buf, len + 1, &len);
        pthread_mutex_lock(&m->t->lock);
        node_t *k = keep_on(r, r->ino);
        if (k && !k->link) k->link = strdup(buf);
        pthread_mutex_unlock(&m->t->lock);
        fuse_reply_readlink(req, buf);
      } else fuse_reply_err(req, EIO);
      free(buf);
      break;
    }
    case OP_OPEN: {
      double fh = 0;
      int32_t flags = 0;
      if (argc < 3 || napi_get_value_double(env, argv[2], &fh) != napi_ok) { fuse_reply_err(req, EIO); sent = -1; break; }
      if (argc >= 4) napi_get_value_int32(env, argv[3], &flags);
      r->fi.fh = (uint64_t)fh;
      r->fi.keep_cache = (flags & 1) ? 1 : 0;
      r->fi.direct_io = (flags & 2) ? 1 : 0;
      pthread_mutex_lock(&m->t->lock);
      node_t *nd = node_get(m->t, r->ino);
      if (nd) node_add_fh(nd, r->fi.fh);
      pthread_mutex_unlock(&m->t->lock);
      if ((sent = fuse_reply_open(req, &r->fi)) != 0) {
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
    {
      struct statvfs s;
      if (argc >= 3 && ufs_fill_statvfs(env, argv[2], &s) == 0) fuse_reply_statfs(req, &s);
      else fuse_reply_err(req, EIO);
    }
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
      if (argc < 4 || napi_get_array_length(env, argv[2], &count) != napi_ok || ufs_get_f64(env, argv[3], &d, &n) != 0 || n < 2 * (size_t)count) {
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
      /* Optional, kept for lookups, getxattr and listxattr answered in C: argv[4] the entries'
         attributes (16 doubles each), argv[5] their xattr names, at argv[6] [offset, length]. */
      struct stat *sts = NULL;
      char *xblob = NULL;
      double *xat = NULL, *sd, *xd;
      size_t sn, xn;
      void *bd;
      if (argc >= 5 && dh->n == count && ufs_get_f64(env, argv[4], &sd, &sn) == 0 && sn >= 16 * (size_t)count &&
          (sts = malloc((count ? count : 1) * sizeof *sts)))
        for (uint32_t i = 0; i < count; i++) ufs_stat_from(sd + 16 * (size_t)i, &sts[i]);
      if (sts && argc >= 7 && napi_get_buffer_info(env, argv[5], &bd, &sn) == napi_ok &&
          ufs_get_f64(env, argv[6], &xd, &xn) == 0 && xn >= 2 * (size_t)count &&
          (xblob = malloc(sn ? sn : 1)) && (xat = malloc((count ? 2 * count : 1) * sizeof *xat))) {
        memcpy(xblob, bd, sn);
        for (uint32_t i = 0; i < count; i++) {   /* each range within the buffer, or unknown */
          int ok = xd[2 * i + 1] >= 0 && xd[2 * i] >= 0 && xd[2 * i] + xd[2 * i + 1] <= (double)sn;
          xat[2 * i] = ok ? xd[2 * i] : 0;
          xat[2 * i + 1] = ok ? xd[2 * i + 1] : -1;
        }
      } else { free(xblob); xblob = NULL; }
      pthread_mutex_lock(&m->t->lock);
      node_t *k = keep_on(r, r->ino);
      if (k && !k->list && (k->list = calloc(1, sizeof *k->list)) && dirh_copy(k->list, dh) != 0) { free(k->list); k->list = NULL; }
      if (k && sts && k->list && !k->list->sts) {
        dirh_index(k->list, sts, xblob, xblob ? sn : 0, xat);
        sts = NULL; xblob = NULL; xat = NULL;
      }
      pthread_mutex_unlock(&m->t->lock);
      free(sts); free(xblob); free(xat);
      serve_dir(req, r->ino, dh, (size_t)r->n[0], (off_t)r->n[1]);
      break;
    }
    case OP_RENAME: case OP_UNLINK: case OP_RMDIR:
      if (follow && !keep_change(r, NULL, pstp, NULL, 0)) { r->mut = 1; follow = 0; }
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
  done(r);
  /* A created file's xattr names (the kernel asks for security.capability at its first write):
     kept after done() moved the generation on for the last time, so they hold until the next
     change. No change can have finished meanwhile (they are all answered on this thread). */
  if (created_x) {
    pthread_mutex_lock(&m->t->lock);
    node_t *k = created_id ? cnode(m, created_id) : NULL;
    if (k) node_keep_xattr(k, NULL, 0, created_x, created_len);
    pthread_mutex_unlock(&m->t->lock);
    free(created_x);
  }
  napi_get_boolean(env, sent == 0, &delivered);
  return delivered;
}


