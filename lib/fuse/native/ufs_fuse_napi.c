// The N-API helpers both libfuse bindings share (see ufs_fuse_napi.h).
#include "ufs_fuse_napi.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

napi_value ufs_str_or_null(napi_env env, const char *s) {
  napi_value v;
  if (s == NULL) napi_get_null(env, &v);
  else napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  return v;
}

napi_value ufs_num(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}

int ufs_get_f64(napi_env env, napi_value v, double **out, size_t *n) {
  napi_typedarray_type type;
  void *data;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &type, n, &data, &ab, &off) != napi_ok || type != napi_float64_array) return -1;
  *out = (double *)data;
  return 0;
}

void ufs_stat_from(const double *s, struct stat *st) {
  memset(st, 0, sizeof *st);
  st->st_mode = (mode_t)s[0]; st->st_uid = (uid_t)s[1]; st->st_gid = (gid_t)s[2]; st->st_size = (off_t)s[3];
  st->st_dev = (dev_t)s[4]; st->st_nlink = (nlink_t)s[5]; st->st_ino = (ino_t)s[6]; st->st_rdev = (dev_t)s[7];
  st->st_blksize = (blksize_t)s[8]; st->st_blocks = (blkcnt_t)s[9];
  st->st_atim.tv_sec = (time_t)s[10]; st->st_atim.tv_nsec = (long)s[11];
  st->st_mtim.tv_sec = (time_t)s[12]; st->st_mtim.tv_nsec = (long)s[13];
  st->st_ctim.tv_sec = (time_t)s[14]; st->st_ctim.tv_nsec = (long)s[15];
}

int ufs_fill_stat(napi_env env, napi_value v, struct stat *st) {
  double *s;
  size_t n;
  if (ufs_get_f64(env, v, &s, &n) != 0 || n < 16) return -1;
  ufs_stat_from(s, st);
  return 0;
}

int ufs_fill_statvfs(napi_env env, napi_value v, struct statvfs *s) {
  double *d;
  size_t n;
  if (ufs_get_f64(env, v, &d, &n) != 0 || n < 11) return -1;
  memset(s, 0, sizeof *s);
  s->f_bsize = (unsigned long)d[0]; s->f_frsize = (unsigned long)d[1];
  s->f_blocks = (fsblkcnt_t)d[2]; s->f_bfree = (fsblkcnt_t)d[3]; s->f_bavail = (fsblkcnt_t)d[4];
  s->f_files = (fsfilcnt_t)d[5]; s->f_ffree = (fsfilcnt_t)d[6]; s->f_favail = (fsfilcnt_t)d[7];
  s->f_fsid = (unsigned long)d[8]; s->f_flag = (unsigned long)d[9]; s->f_namemax = (unsigned long)d[10];
  return 0;
}

int ufs_handler_args(napi_env env, napi_value *argv, size_t argc, int op, void *req, uid_t uid, gid_t gid, pid_t pid, const char *path) {
  napi_value undef;
  napi_get_undefined(env, &undef);
  for (size_t i = 0; i < argc; i++) argv[i] = undef;
  if (napi_create_external(env, req, NULL, NULL, &argv[1]) != napi_ok) return -1;
  argv[0] = ufs_num(env, op);
  argv[2] = ufs_num(env, uid);
  argv[3] = ufs_num(env, gid);
  argv[4] = ufs_num(env, pid);
  argv[5] = ufs_str_or_null(env, path);
  return 0;
}

int ufs_call_handler(napi_env env, napi_value handler, size_t argc, napi_value *argv) {
  napi_value global, result;
  napi_get_global(env, &global);
  if (napi_call_function(env, global, handler, argc, argv, &result) == napi_ok) return 0;
  napi_value exc;
  napi_get_and_clear_last_exception(env, &exc);
  return -1;
}

char *ufs_get_string(napi_env env, napi_value v) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  if (s) napi_get_value_string_utf8(env, v, s, len + 1, &len);
  return s;
}

int ufs_mount_args(napi_env env, napi_value list, int *argc, char ***argv, int *debug) {
  uint32_t n = 0;
  if (napi_get_array_length(env, list, &n) != napi_ok) {
    napi_throw_type_error(env, NULL, "libfuse arguments must be an array of strings");
    return -1;
  }
  char **args = calloc(n + 2, sizeof(char *));
  if (!args || !(args[0] = strdup("ufsmount"))) { free(args); napi_throw_error(env, NULL, "out of memory"); return -1; }
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    if (napi_get_element(env, list, i, &v) != napi_ok || !(args[i + 1] = ufs_get_string(env, v))) {
      ufs_free_args((int)i + 1, args);
      napi_throw_type_error(env, NULL, "libfuse arguments must be an array of strings");
      return -1;
    }
    char *dup = strdup(args[i + 1]), *save = NULL;
    for (char *tok = dup ? strtok_r(dup, ",", &save) : NULL; tok; tok = strtok_r(NULL, ",", &save))
      if (debug && (strcmp(tok, "debug") == 0 || strcmp(tok, "-d") == 0)) *debug = 1;
    free(dup);
  }
  *argc = (int)n + 1;
  *argv = args;
  return 0;
}

void ufs_free_args(int argc, char **argv) {
  if (!argv) return;
  for (int i = 0; i < argc; i++) free(argv[i]);
  free(argv);
}

int ufs_nocache(void) {
  const char *v = getenv("UFS_FUSE_NOCACHE");
  return v && strcmp(v, "1") == 0;
}

napi_value ufs_exports(napi_env env, napi_value exports, napi_callback mount, napi_callback reply, ...) {
  napi_value f;
  napi_create_function(env, "mount", NAPI_AUTO_LENGTH, mount, NULL, &f);
  napi_set_named_property(env, exports, "mount", f);
  napi_create_function(env, "reply", NAPI_AUTO_LENGTH, reply, NULL, &f);
  napi_set_named_property(env, exports, "reply", f);
  va_list ap;
  va_start(ap, reply);
  for (const char *name; (name = va_arg(ap, const char *)) != NULL;) {
    napi_callback fn = va_arg(ap, napi_callback);
    napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &f);
    napi_set_named_property(env, exports, name, f);
  }
  va_end(ap);
  napi_value v;
  napi_create_int32(env, 1, &v);
  napi_set_named_property(env, exports, "version", v);
  return exports;
}
