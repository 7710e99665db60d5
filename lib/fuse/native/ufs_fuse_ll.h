// ufs's binding to libfuse 2's LOW-level API, its shared types: the inode table (ufs_ll_table.c),
// the answers kept per node (ufs_ll_keep.c), listings read in C (ufs_ll_scan.c), the requests handed from libfuse's threads to JavaScript (ufs_ll_ops.c), the answers from
// JavaScript (ufs_ll_reply.c), and the mount, session and its end (ufs_fuse_ll.c).
#ifndef UFS_FUSE_LL_H
#define UFS_FUSE_LL_H
#define FUSE_USE_VERSION 29
#include "ufs_fuse_napi.h"
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdint.h>

enum op {
  OP_INIT, OP_LOOKUP, OP_GETATTR, OP_FGETATTR, OP_SETATTR, OP_READLINK, OP_MKNOD, OP_MKDIR, OP_UNLINK,
  OP_RMDIR, OP_SYMLINK, OP_RENAME, OP_LINK, OP_OPEN, OP_READ, OP_WRITE, OP_FLUSH, OP_RELEASE, OP_FSYNC,
  OP_READDIR, OP_STATFS, OP_SETXATTR, OP_GETXATTR, OP_LISTXATTR, OP_REMOVEXATTR, OP_ACCESS, OP_CREATE,
  OP_EXIT
};

/* ---- the inode table (ufs_ll_table.c) ---- */

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
  uint32_t n, cap;                  /* entries (dead ones included, see DEAD_MODE), room for */
  int loaded;
  int plus;                         /* an open directory's: the request being served is a READDIRPLUS */
  /* Kept on a node only: every entry's attributes and the entries in name order, so that lookups
     of listed names are answered in C (NULL when JavaScript did not send the attributes). */
  struct stat *sts;
  uint32_t *order;
  char *xblob;                      /* every entry's xattr names, NUL-ended, at xat[2i] (length */
  double *xat;                      /* xat[2i+1], -1: not known) */
  size_t xlen;                      /* bytes in xblob */
  char **links;                     /* symlinks' targets, when read with the listing (NULL: not known) */
} dirh_t;

/* A kept listing's entry removed since it was read (its name stays for the sorted lookup); an entry
   whose attributes went stale has sts[i].st_ino == 0. */
#define DEAD_MODE 0xffffffffu

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
  uint64_t stamp;                  /* the tick of its last change (answers begun before are not kept) */
  uint64_t nlink;                  /* its link count when last seen (0: not known) */
  int has_st;
  struct stat st;                  /* getattr / lookup answer */
  xent_t *xs;
  dirh_t *list;                    /* readdir answer */
  char *link;                      /* readlink answer */
  int *lsrc;                       /* a directory's lower layers, as the union merges them (ufs_ll_scan.c): */
  int nlsrc;                       /* known in generation lsrc_gen (renames move it on) */
  uint64_t lsrc_gen;
} node_t;

#define BUCKETS 65536

typedef struct table {
  pthread_mutex_t lock;
  node_t *byid[BUCKETS];
  node_t *byino[BUCKETS];
  lname_t *names[BUCKETS];
  uint64_t next_id;
} table_t;

/* ---- a mount and its requests ---- */

typedef struct lreq lreq_t;
typedef struct layout layout_t;    /* the layers on disk, for listings read in C (ufs_ll_scan.c) */

typedef struct mount_state {
  struct fuse_session *se;
  struct fuse_chan *ch;             /* the session's channel (ufs_ll_chan.c) */
  struct fuse_chan *kch;            /* fuse_mount's (it unmounts) */
  int want_acl, acl;                /* POSIX ACLs asked for (mount flags bit 2) / granted */
  int want_plus, plus;              /* READDIRPLUS asked for (answers kept; flags bit 3 clear) / granted */
  int want_splice, splice;          /* READs answered by splice(2) asked for (flags bit 4 clear) / possible */
  uint32_t init_add;                /* INIT flags libfuse cannot ask for, added to its answer */
  uint64_t init_unique;             /* INIT in progress, when flags are added */
  char *mountpoint;
  napi_threadsafe_function tsfn;
  pthread_t thread;
  table_t *t;
  double entry_to, attr_to, neg_to;
  int debug;                       /* -o debug: also log each write as the high-level API does */
  int cache_on;                    /* keep getattr/readdir/xattr answers per node (ufs_ll_keep.c) */
  int follow;                      /* JavaScript reports copy-ups (copiedUp): changes followed node by node */
  uint64_t gen;                    /* moved on by changes that drop every kept answer */
  uint64_t tick;                   /* moved on by each change kept answers were brought up to date with */
  /* Requests handed to JavaScript and not answered yet (ufs_fuse_ll.c): their callers may interrupt
     them, and when the session ends they are answered there and then (abandoned). */
  pthread_mutex_t qlock;
  lreq_t *pending;
  int replying;                    /* answers being passed to libfuse right now */
  int ended;                       /* the session is over */
  layout_t *layout;                /* set once by scanLayers (NULL: every listing is JavaScript's) */
  struct fds *fds;                 /* open files' descriptors for reads served in C (ufs_ll_fds.c) */
  uint64_t in_c[OP_EXIT + 1];      /* per op: requests answered in C / handed to JavaScript (readStats) */
  uint64_t in_js[OP_EXIT + 1];
  uint64_t scans;                  /* listings read from the layers in C (ufs_ll_scan.c) */
  uint64_t plus_entries;           /* entries handed out with their attributes by READDIRPLUS */
} mount_state_t;

#define COUNT_C(m, op) __atomic_add_fetch(&(m)->in_c[op], 1, __ATOMIC_RELAXED)

struct lreq {
  int op;
  fuse_req_t req;                  /* NULL for INIT and EXIT */
  mount_state_t *m;
  lreq_t *prev, *next;             /* in m->pending while JavaScript has it */
  int interrupted;                 /* the kernel sent FUSE_INTERRUPT for it */
  int abandoned;                   /* answered at the session's end: JavaScript's answer is dropped */
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
  uint64_t tick;                   /* and the tick */
};

/* ufs_ll_table.c: every call with t->lock held */
node_t *node_get(table_t *t, uint64_t id);
node_t *node_new(table_t *t, uint64_t id, uint64_t ino, int is_dir);
lname_t *name_find(table_t *t, uint64_t parent, const char *name);
int name_add(table_t *t, node_t *n, uint64_t parent, const char *name);
void name_remove(table_t *t, lname_t *l);
void name_move(table_t *t, lname_t *l, uint64_t parent, const char *name);
uint64_t attach(table_t *t, uint64_t parent, const char *name, const struct stat *st);
void forget_one(table_t *t, uint64_t id, uint64_t count);
char *path_of(table_t *t, uint64_t id, const char *child);
void node_add_fh(node_t *n, uint64_t fh);
void node_drop_fh(table_t *t, node_t *n, uint64_t fh);
void dirh_clear(dirh_t *d);
int dirh_copy(dirh_t *to, const dirh_t *from);   /* names, inos and modes of the live entries */
/* takes sts (n entries) and xblob/xat (may be NULL), sorts names; -1 (all freed): not kept */
int dirh_index(dirh_t *d, struct stat *sts, char *xblob, size_t xlen, double *xat);
int64_t dirh_find(const dirh_t *d, const char *name);   /* a listed name's index (maybe dead), or -1 */
/* an entry set (added, or revived/updated in place), its xattr names (xn NULL: not known); -1: out of memory */
int dirh_upsert(dirh_t *d, const char *name, const struct stat *st, const char *xn, size_t xl);

/* ufs_ll_keep.c, the answers kept per node: cnode/keep_on/node_* with t->lock held; the others take it */
uint64_t gen_now(mount_state_t *m);
void gen_move(mount_state_t *m);  /* drops every kept answer */
node_t *cnode(mount_state_t *m, uint64_t id);
node_t *keep_on(lreq_t *r, uint64_t id);
void node_cache_drop(node_t *n);
void keep_xattr(lreq_t *r, const char *name, int res, const void *data, size_t len);
void node_keep_xattr(node_t *n, const char *name, int res, const void *data, size_t len);
/* Node k was found as entry i (live, attributes known) of listing l: what the listing knows of it
   (attributes, xattr names, a symlink's target) is kept on it too. */
void node_from_listing(node_t *k, const dirh_t *l, int64_t i);
int cached_xattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
int narrow(const lreq_t *r);      /* a change keep_change can follow node by node */
/* Before the answer of narrow change r that succeeded goes out: brings the answers kept on the nodes
   it touched up to date (st: the new entry's attributes, pst: its directory's, xn/xl: the new file's
   xattr names, each NULL when not known); 0 when it could not (the caller drops every kept answer). */
int keep_change(lreq_t *r, const struct stat *st, const struct stat *pst, const char *xn, size_t xl);
/* Within reply_entry, for a narrow create-like change: the new node's attributes (and for a
   directory, its empty listing); lock held. */
void keep_created(lreq_t *r, node_t *k, const struct stat *st, const struct stat *pst, const char *xn, size_t xl);
/* The union copied `path` up: what was kept about it goes (0: could not tell which node; the caller
   drops every kept answer). */
int keep_copied_up(mount_state_t *m, const char *path);
/* Before (and after) a write of node ino served in C: its kept attributes go stale; 0 when it has
   other names (or is unknown): the write is then JavaScript's. Takes the lock. */
int keep_written(mount_state_t *m, uint64_t ino);

/* ufs_ll_ops.c */
int mutates(const lreq_t *r);     /* whether it can change what getattr, readdir, the xattr calls answer */
void ll_set_ops(struct fuse_lowlevel_ops *ops);
/* Answers a READDIR of directory node ino from its open listing d (READDIRPLUS when d->plus: with
   the attributes of the entries its kept listing knows, each a lookup the kernel will forget). */
void serve_dir(fuse_req_t req, fuse_ino_t ino, dirh_t *d, size_t size, off_t off);

/* ufs_ll_reply.c */
void call_js(napi_env env, napi_value handler, void *context, void *data);
napi_value js_reply(napi_env env, napi_callback_info info);

/* ufs_ll_loop.c: reads and answers the session's requests until it ends */
void session_loop(mount_state_t *m);

/* ufs_ll_chan.c: the channel to the kernel (NULL: out of memory) */
struct fuse_chan *chan_wrap(mount_state_t *m, struct fuse_chan *kch);

/* Handles of C's own (ufs_ll_open.c) are numbered from here; JavaScript's are below 2^31. */
#define C_FH_BASE (1ull << 32)
#define C_FH(fh) ((uint64_t)(fh) >= C_FH_BASE)

/* ufs_ll_fds.c: reads served from the layer file's descriptor */
int fds_init(mount_state_t *m);
int fds_read(mount_state_t *m, fuse_req_t req, uint64_t fh, size_t size, off_t off);  /* 1: answered */
int fds_write(mount_state_t *m, fuse_req_t req, uint64_t ino, uint64_t fh, const char *buf, size_t size, off_t off);
void fds_forget(mount_state_t *m, uint64_t fh);
int fds_adopt(mount_state_t *m, uint64_t fh, int fd);   /* an open file of C's own (ufs_ll_open.c) */
int fds_swap(mount_state_t *m, uint64_t fh, int fd);    /* it reads fd from now on */
int fds_call(mount_state_t *m, uint64_t fh, int op, struct stat *st);   /* 0 fstat, 1 fdatasync, 2 fsync */
napi_value js_open_fd(napi_env env, napi_callback_info info);
napi_value js_set_fd(napi_env env, napi_callback_info info);
napi_value js_read_stats(napi_env env, napi_callback_info info);
napi_value js_copied_up(napi_env env, napi_callback_info info);

/* ufs_ll_scan.c: a listing of a directory only lower layers hold, answered from the layers on disk
   (1), or left to JavaScript (0) */
int scan_readdir(mount_state_t *m, fuse_req_t req, fuse_ino_t ino, dirh_t *d, size_t size, off_t off);
napi_value js_scan_layers(napi_env env, napi_callback_info info);

/* ufs_fuse_ll.c: a request's way through JavaScript */
void lreq_free(lreq_t *r);         /* before it was submitted (or abandoned): frees it */
void submit(lreq_t *r);            /* hands it to JavaScript (or answers it EIO) */
int claim(lreq_t *r);              /* 1: the caller answers it now and then calls done(); 0: abandoned */
void hold(lreq_t *r);              /* C serves it, and it may wait: a killed caller is answered EINTR meanwhile */
int unhold(lreq_t *r);             /* C will not answer a held request (frees it): 0 when it was answered EINTR */
void done(lreq_t *r);              /* after the answer: moves the generation on, frees it */
void drop(lreq_t *r);              /* frees an abandoned request (JavaScript's answer is not passed on) */
void fail(lreq_t *r, int err);     /* answers a submitted request -err (or drops it if abandoned) */
/* Around a notification to the kernel outside any answer: 0 when the session is over (do not send). */
int late_begin(mount_state_t *m);
void late_end(mount_state_t *m);
int interrupted(lreq_t *r);        /* abandoned, or interrupted and its caller is being killed */
#endif
