// Shared declarations of the ufs addon: one "call" (a syscall plus the paths it names) that runs
// either on the JS thread (the ...Sync functions) or on the libuv pool (the Promise functions).
#ifndef UFS_NATIVE_H_
#define UFS_NATIVE_H_

#include <napi.h>

#include <functional>
#include <string>
#include <vector>

namespace ufs {

// What a call hands back to JavaScript on success.
enum class ResultKind { kUndefined, kBuffer, kNames };

struct Result {
  std::vector<char> bytes;         // kBuffer
  std::vector<std::string> names;  // kNames
};

// One syscall with everything it needs copied in, so it can run off the JS thread.
struct Call {
  const char* syscall = "";
  std::string path;
  std::string dest;
  bool has_dest = false;
  ResultKind kind = ResultKind::kUndefined;
  // Runs the syscall; returns 0 or a positive errno. Must not touch JavaScript.
  std::function<int(Result*)> op;
};

// Reads the arguments into *call; on a bad argument stores a Node-shaped TypeError/RangeError
// in *error and returns false.
using Parser = bool (*)(const Napi::CallbackInfo& info, Call* call, Napi::Error* error);

// An Error like node:fs throws: code, errno (negative), syscall, path, dest and the message
// "ENOENT: no such file or directory, lgetxattr '/x'".
Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const std::string& path,
                       const std::string* dest);

// A TypeError/RangeError with a Node-style `code` (ERR_INVALID_ARG_TYPE, ...).
Napi::Error ArgError(Napi::Env env, const char* code, const std::string& message, bool range);

// Argument readers shared by the functions; each stores an ArgError and returns false on failure.
bool StringArg(const Napi::CallbackInfo& info, size_t i, const char* name, std::string* out,
               Napi::Error* error);
bool UintArg(const Napi::CallbackInfo& info, size_t i, const char* name, double max, double* out,
             Napi::Error* error);
bool BytesArg(const Napi::CallbackInfo& info, size_t i, const char* name, std::vector<char>* out,
              Napi::Error* error);

// Runs the call now (throws on error) or on the libuv pool (returns a Promise).
Napi::Value RunSync(const Napi::CallbackInfo& info, Parser parse);
Napi::Value RunAsync(const Napi::CallbackInfo& info, Parser parse);

// Parsers of each exported function (xattr.cc, files.cc).
bool ParseLgetxattr(const Napi::CallbackInfo& info, Call* call, Napi::Error* error);
bool ParseLsetxattr(const Napi::CallbackInfo& info, Call* call, Napi::Error* error);
bool ParseLlistxattr(const Napi::CallbackInfo& info, Call* call, Napi::Error* error);
bool ParseLremovexattr(const Napi::CallbackInfo& info, Call* call, Napi::Error* error);
bool ParseMknod(const Napi::CallbackInfo& info, Call* call, Napi::Error* error);
bool ParseRenameat2(const Napi::CallbackInfo& info, Call* call, Napi::Error* error);
bool ParseFlock(const Napi::CallbackInfo& info, Call* call, Napi::Error* error);

}  // namespace ufs

#endif  // UFS_NATIVE_H_
