// The layers on disk (ufs_ll_layout.c), shared by the listings (ufs_ll_scan.c) and the read-only
// opens (ufs_ll_open.c) served in C.
#ifndef UFS_LL_LAYOUT_H
#define UFS_LL_LAYOUT_H
#include "ufs_fuse_ll.h"
#include <limits.h>
#include <sys/stat.h>

struct layout {
  int n;                   /* layers: [0] the upper (NULL root: none), [1..n-1] the lowers, topmost first */
  char **roots;
  int aufs;                /* whiteouts: 0 overlay (0/0 devices, overlay.opaque), 1 aufs (.wh. names) */
  int same_fs;             /* union inode numbers are the layers' own (lib/stats.ts InoMapper) */
  dev_t *devs;             /* else each filesystem's range, in the order the union numbered them */
  int ndev;
  dev_t udev;              /* the union's st_dev */
  int opens;               /* read-only opens of lower files are served in C (ufs_ll_open.c) */
};

#define AUFS_WH ".wh."
#define AUFS_OPQ ".wh..wh..opq"

/* A path under a layer root (name NULL: rel itself); 0 when it does not fit PATH_MAX. */
int layer_path(char *out, const char *root, const char *rel, const char *name);
/* Whether a layer directory is opaque (-1: could not tell). */
int is_opaque(const layout_t *L, const char *dir);
/* Of layers `in` (n, topmost first) holding directory `prefix`, those holding `name` under it as a
   directory, down to the first that hides the rest, into out: their count, or -1. */
int step(const layout_t *L, const int *in, int n, const char *prefix, const char *name, int *out);
/* rel's next component at *at into name (and the prefix before it); 0: none, -1: too long. */
int next_component(const char *rel, size_t *at, char *prefix, char *name);
/* The lower layers whose directory `rel` the union would merge if the upper had nothing on the way. */
int lower_sources(const layout_t *L, const char *rel, int *out);
/* Whether the upper layer holds or hides `rel` or a directory on its way (1 when it cannot tell). */
int upper_involved(const layout_t *L, const char *rel);
/* A lower layer's lstat as the union gives it (inode number, st_dev, times); 0: JavaScript's. */
int union_stat(const layout_t *L, struct stat *st);
/* The union's inode number of its root (0: unknown). */
uint64_t root_ino(const layout_t *L);

/* ufs_ll_open.c: read-only opens of lower files, with handles of C's own (1: answered here) */
int copen_open(mount_state_t *m, fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
int copen_release(mount_state_t *m, fuse_req_t req, fuse_ino_t ino, uint64_t fh);
int copen_fsync(mount_state_t *m, fuse_req_t req, uint64_t fh, int datasync);
int copen_getattr(mount_state_t *m, fuse_req_t req, fuse_ino_t ino, uint64_t fh);
void copen_copied_up(mount_state_t *m, const char *path);
#endif
