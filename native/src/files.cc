// mknod (device nodes, fifos, whiteouts), renameat2 (RENAME_NOREPLACE/EXCHANGE/WHITEOUT) and flock
// (the store's inter-process lock without a flock(1) process per lock).
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <utility>

#include "ufs_native.h"

namespace ufs {

// mknod(path, mode, dev) -> undefined; mode includes the type (S_IFCHR | 0o644 ...), dev is the
// encoded device number as fs.Stats#rdev shows it (0 for a whiteout).
bool ParseMknod(const Napi::CallbackInfo& info, Call* call, Napi::Error* error) {
  double mode = 0;
  double dev = 0;
  if (!StringArg(info, 0, "path", &call->path, error)) return false;
  if (!UintArg(info, 1, "mode", 0xffffffff, &mode, error)) return false;
  if (!UintArg(info, 2, "dev", 9007199254740991.0, &dev, error)) return false;
  call->syscall = "mknod";
  call->op = [path = call->path, m = static_cast<mode_t>(mode),
              d = static_cast<dev_t>(dev)](Result*) {
    return ::mknod(path.c_str(), m, d) < 0 ? errno : 0;
  };
  return true;
}

// renameat2(oldPath, newPath, flags) -> undefined; both paths relative to the cwd (AT_FDCWD).
bool ParseRenameat2(const Napi::CallbackInfo& info, Call* call, Napi::Error* error) {
  double flags = 0;
  if (!StringArg(info, 0, "oldPath", &call->path, error)) return false;
  if (!StringArg(info, 1, "newPath", &call->dest, error)) return false;
  if (info.Length() > 2 && !info[2].IsUndefined() &&
      !UintArg(info, 2, "flags", 0xffffffff, &flags, error)) {
    return false;
  }
  call->syscall = "renameat2";
  call->has_dest = true;
  call->op = [from = call->path, to = call->dest,
              f = static_cast<unsigned int>(flags)](Result*) {
#ifdef SYS_renameat2
    return syscall(SYS_renameat2, AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), f) < 0 ? errno
                                                                                          : 0;
#else
    (void)f;
    return ENOSYS;
#endif
  };
  return true;
}

// flock(fd, operation) -> undefined; operation is LOCK_SH (1) or LOCK_EX (2), | LOCK_NB (4), or
// LOCK_UN (8). With LOCK_NB a held lock fails with EAGAIN (EWOULDBLOCK on Linux).
bool ParseFlock(const Napi::CallbackInfo& info, Call* call, Napi::Error* error) {
  double fd = 0;
  double op = 0;
  if (!UintArg(info, 0, "fd", 2147483647.0, &fd, error)) return false;
  if (!UintArg(info, 1, "operation", 15, &op, error)) return false;
  call->syscall = "flock";
  call->op = [f = static_cast<int>(fd), o = static_cast<int>(op)](Result*) {
    return ::flock(f, o) < 0 ? errno : 0;
  };
  return true;
}

}  // namespace ufs
