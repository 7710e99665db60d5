// Entry point of ufs_native.node: runs each call synchronously or as a Promise on the libuv pool,
// and exports mknod, the l*xattr calls, renameat2 and flock (each also as ...Sync).
#include <utility>

#include "ufs_native.h"

namespace ufs {
namespace {

Napi::Value ToJs(Napi::Env env, ResultKind kind, const Result& r) {
  switch (kind) {
    case ResultKind::kBuffer:
      if (r.bytes.empty()) return Napi::Buffer<char>::New(env, 0);
      return Napi::Buffer<char>::Copy(env, r.bytes.data(), r.bytes.size());
    case ResultKind::kNames: {
      Napi::Array a = Napi::Array::New(env, r.names.size());
      for (size_t i = 0; i < r.names.size(); i++) {
        a.Set(static_cast<uint32_t>(i), Napi::String::New(env, r.names[i]));
      }
      return a;
    }
    case ResultKind::kUndefined:
      break;
  }
  return env.Undefined();
}

Napi::Error CallError(Napi::Env env, const Call& call, int err) {
  return ErrnoError(env, err, call.syscall, call.path, call.has_dest ? &call.dest : nullptr);
}

// Runs one Call on the libuv thread pool and settles a Promise with its outcome.
class CallWorker : public Napi::AsyncWorker {
 public:
  CallWorker(Napi::Env env, Call call)
      : Napi::AsyncWorker(env, call.syscall),
        deferred_(Napi::Promise::Deferred::New(env)),
        call_(std::move(call)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override { err_ = call_.op(&result_); }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (err_ != 0) {
      deferred_.Reject(CallError(env, call_, err_).Value());
    } else {
      deferred_.Resolve(ToJs(env, call_.kind, result_));
    }
  }

  // Execute never calls SetError, so this runs only if node-addon-api itself fails.
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Call call_;
  Result result_;
  int err_ = 0;
};

}  // namespace

Napi::Value RunSync(const Napi::CallbackInfo& info, Parser parse) {
  Napi::Env env = info.Env();
  Call call;
  Napi::Error error;
  if (!parse(info, &call, &error)) {
    error.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Result result;
  int err = call.op(&result);
  if (err != 0) {
    CallError(env, call, err).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return ToJs(env, call.kind, result);
}

Napi::Value RunAsync(const Napi::CallbackInfo& info, Parser parse) {
  Napi::Env env = info.Env();
  Call call;
  Napi::Error error;
  if (!parse(info, &call, &error)) {
    // Like node:fs/promises: bad arguments reject rather than throw.
    Napi::Promise::Deferred d = Napi::Promise::Deferred::New(env);
    d.Reject(error.Value());
    return d.Promise();
  }
  CallWorker* worker = new CallWorker(env, std::move(call));
  Napi::Promise promise = worker->Promise();
  worker->Queue();  // the worker deletes itself after OnOK/OnError
  return promise;
}

}  // namespace ufs

namespace {

using ufs::RunAsync;
using ufs::RunSync;

#define UFS_EXPORT(name, parser)                                                        \
  exports.Set(#name, Napi::Function::New(                                              \
                         env, [](const Napi::CallbackInfo& info) {                     \
                           return RunAsync(info, parser);                              \
                         },                                                            \
                         #name));                                                      \
  exports.Set(#name "Sync", Napi::Function::New(                                       \
                                env, [](const Napi::CallbackInfo& info) {              \
                                  return RunSync(info, parser);                        \
                                },                                                     \
                                #name "Sync"))

Napi::Object InitUfsNative(Napi::Env env, Napi::Object exports) {
  UFS_EXPORT(mknod, ufs::ParseMknod);
  UFS_EXPORT(lgetxattr, ufs::ParseLgetxattr);
  UFS_EXPORT(lsetxattr, ufs::ParseLsetxattr);
  UFS_EXPORT(llistxattr, ufs::ParseLlistxattr);
  UFS_EXPORT(lremovexattr, ufs::ParseLremovexattr);
  UFS_EXPORT(renameat2, ufs::ParseRenameat2);
  UFS_EXPORT(flock, ufs::ParseFlock);
  return exports;
}

#undef UFS_EXPORT

}  // namespace

NODE_API_MODULE(ufs_native, InitUfsNative)
