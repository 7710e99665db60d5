// What both libfuse bindings (ufs_fuse.c, high-level API; ufs_fuse_ll*.c, low-level API) share on
// the N-API side: values to and from JavaScript, struct stat/statvfs from Float64Arrays, the
// mount(...) arguments (mountpoint, libfuse option list), and the module's exports.
#ifndef UFS_FUSE_NAPI_H
#define UFS_FUSE_NAPI_H
#define NAPI_VERSION 8
#include <node_api.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

/* A JavaScript string (null for NULL) / number. */
napi_value ufs_str_or_null(napi_env env, const char *s);
napi_value ufs_num(napi_env env, double d);
/* The doubles of a Float64Array; -1 when `v` is not one. */
int ufs_get_f64(napi_env env, napi_value v, double **out, size_t *n);
/* struct stat from the 16 doubles of lib/fuse/ufs-binding.ts statArray(); -1 when malformed. */
int ufs_fill_stat(napi_env env, napi_value v, struct stat *st);
void ufs_stat_from(const double *s, struct stat *st);   /* the same from 16 doubles */
/* struct statvfs from [bsize, frsize, blocks, bfree, bavail, files, ffree, favail, fsid, flag, namemax]. */
int ufs_fill_statvfs(napi_env env, napi_value v, struct statvfs *s);
/* The handler's first arguments, as both bindings pass them: (op, request, uid, gid, pid, path),
   the other argc - 6 undefined. -1 when N-API fails. */
int ufs_handler_args(napi_env env, napi_value *argv, size_t argc, int op, void *req, uid_t uid, gid_t gid, pid_t pid, const char *path);
/* Calls the handler; -1 (its exception cleared) when it threw. */
int ufs_call_handler(napi_env env, napi_value handler, size_t argc, napi_value *argv);
/* A JavaScript string as a malloc'd C string; NULL when `v` is not a string or out of memory. */
char *ufs_get_string(napi_env env, napi_value v);

/* The argv libfuse parses: "ufsmount" and the strings of the JavaScript array `list`. *debug is set
   when an option is "debug" or "-d". -1 (with a JavaScript exception pending) when malformed. */
int ufs_mount_args(napi_env env, napi_value list, int *argc, char ***argv, int *debug);
void ufs_free_args(int argc, char **argv);
/* Whether UFS_FUSE_NOCACHE=1 turns the binding's own answer cache off. */
int ufs_nocache(void);
/* The module's exports: mount, reply, version (1) and any extra functions (name, fn; NULL-ended). */
napi_value ufs_exports(napi_env env, napi_value exports, napi_callback mount, napi_callback reply, ...);
#endif
