// The l*xattr calls: extended attributes of a path itself, never of a symlink's target.
#include <errno.h>
#include <sys/xattr.h>

#include <utility>

#include "ufs_native.h"

namespace ufs {
namespace {

constexpr int kMaxRetries = 16;  // ERANGE retries when the value grows between the two calls

int GetXattr(const std::string& path, const std::string& name, Result* r) {
  for (int attempt = 0; attempt < kMaxRetries; attempt++) {
    ssize_t size = lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    if (size < 0) return errno;
    r->bytes.resize(static_cast<size_t>(size));
    if (size == 0) return 0;
    ssize_t got = lgetxattr(path.c_str(), name.c_str(), r->bytes.data(), r->bytes.size());
    if (got >= 0) {
      r->bytes.resize(static_cast<size_t>(got));
      return 0;
    }
    if (errno != ERANGE) return errno;
  }
  return ERANGE;
}

int ListXattr(const std::string& path, Result* r) {
  std::vector<char> buf;
  for (int attempt = 0; attempt < kMaxRetries; attempt++) {
    ssize_t size = llistxattr(path.c_str(), nullptr, 0);
    if (size < 0) return errno;
    if (size == 0) return 0;
    buf.resize(static_cast<size_t>(size));
    ssize_t got = llistxattr(path.c_str(), buf.data(), buf.size());
    if (got >= 0) {
      // "user.a\0trusted.b\0": NUL-terminated names, one after another.
      size_t start = 0;
      for (size_t i = 0; i < static_cast<size_t>(got); i++) {
        if (buf[i] != '\0') continue;
        if (i > start) r->names.emplace_back(buf.data() + start, i - start);
        start = i + 1;
      }
      return 0;
    }
    if (errno != ERANGE) return errno;
  }
  return ERANGE;
}

}  // namespace

// lgetxattr(path, name) -> Buffer
bool ParseLgetxattr(const Napi::CallbackInfo& info, Call* call, Napi::Error* error) {
  std::string name;
  if (!StringArg(info, 0, "path", &call->path, error)) return false;
  if (!StringArg(info, 1, "name", &name, error)) return false;
  call->syscall = "lgetxattr";
  call->kind = ResultKind::kBuffer;
  call->op = [path = call->path, name = std::move(name)](Result* r) {
    return GetXattr(path, name, r);
  };
  return true;
}

// lsetxattr(path, name, value, flags) -> undefined; flags: XATTR_CREATE (1), XATTR_REPLACE (2)
bool ParseLsetxattr(const Napi::CallbackInfo& info, Call* call, Napi::Error* error) {
  std::string name;
  std::vector<char> value;
  double flags = 0;
  if (!StringArg(info, 0, "path", &call->path, error)) return false;
  if (!StringArg(info, 1, "name", &name, error)) return false;
  if (!BytesArg(info, 2, "value", &value, error)) return false;
  if (info.Length() > 3 && !info[3].IsUndefined() &&
      !UintArg(info, 3, "flags", 0x7fffffff, &flags, error)) {
    return false;
  }
  call->syscall = "lsetxattr";
  call->op = [path = call->path, name = std::move(name), value = std::move(value),
              f = static_cast<int>(flags)](Result*) {
    return lsetxattr(path.c_str(), name.c_str(), value.data(), value.size(), f) < 0 ? errno : 0;
  };
  return true;
}

// llistxattr(path) -> string[]
bool ParseLlistxattr(const Napi::CallbackInfo& info, Call* call, Napi::Error* error) {
  if (!StringArg(info, 0, "path", &call->path, error)) return false;
  call->syscall = "llistxattr";
  call->kind = ResultKind::kNames;
  call->op = [path = call->path](Result* r) { return ListXattr(path, r); };
  return true;
}

// lremovexattr(path, name) -> undefined
bool ParseLremovexattr(const Napi::CallbackInfo& info, Call* call, Napi::Error* error) {
  std::string name;
  if (!StringArg(info, 0, "path", &call->path, error)) return false;
  if (!StringArg(info, 1, "name", &name, error)) return false;
  call->syscall = "lremovexattr";
  call->op = [path = call->path, name = std::move(name)](Result*) {
    return lremovexattr(path.c_str(), name.c_str()) < 0 ? errno : 0;
  };
  return true;
}

}  // namespace ufs
