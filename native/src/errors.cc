// Node-shaped errors for the addon (errno errors like node:fs, argument errors like Node's
// validators) and the readers of the functions' arguments.
#include <uv.h>

#include <cmath>
#include <cstring>

#include "ufs_native.h"

namespace ufs {

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const std::string& path,
                       const std::string* dest) {
  // libuv's error numbers are the negated errno values on Linux; its names and texts are the
  // ones node:fs uses ("ENOENT", "no such file or directory").
  std::string code = uv_err_name(-err);
  std::string text = uv_strerror(-err);
  if (code.rfind("Unknown", 0) == 0) {
    code = "UNKNOWN";
    text = std::strerror(err);
  }
  std::string message = code + ": " + text + ", " + syscall + " '" + path + "'";
  if (dest != nullptr) message += " -> '" + *dest + "'";
  Napi::Error e = Napi::Error::New(env, message);
  Napi::Object o = e.Value();
  o.Set("errno", Napi::Number::New(env, -err));
  o.Set("code", Napi::String::New(env, code));
  o.Set("syscall", Napi::String::New(env, syscall));
  o.Set("path", Napi::String::New(env, path));
  if (dest != nullptr) o.Set("dest", Napi::String::New(env, *dest));
  return e;
}

Napi::Error ArgError(Napi::Env env, const char* code, const std::string& message, bool range) {
  Napi::Error e = range ? static_cast<Napi::Error>(Napi::RangeError::New(env, message))
                        : static_cast<Napi::Error>(Napi::TypeError::New(env, message));
  e.Value().Set("code", Napi::String::New(env, code));
  return e;
}

bool StringArg(const Napi::CallbackInfo& info, size_t i, const char* name, std::string* out,
               Napi::Error* error) {
  if (info.Length() <= i || !info[i].IsString()) {
    *error = ArgError(info.Env(), "ERR_INVALID_ARG_TYPE",
                      std::string("The \"") + name + "\" argument must be of type string", false);
    return false;
  }
  *out = info[i].As<Napi::String>().Utf8Value();
  if (out->find('\0') != std::string::npos) {
    *error = ArgError(info.Env(), "ERR_INVALID_ARG_VALUE",
                      std::string("The argument '") + name +
                          "' must be a string without null bytes",
                      false);
    return false;
  }
  return true;
}

bool UintArg(const Napi::CallbackInfo& info, size_t i, const char* name, double max, double* out,
             Napi::Error* error) {
  if (info.Length() <= i || !info[i].IsNumber()) {
    *error = ArgError(info.Env(), "ERR_INVALID_ARG_TYPE",
                      std::string("The \"") + name + "\" argument must be of type number", false);
    return false;
  }
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(v) || std::floor(v) != v || v < 0 || v > max) {
    *error = ArgError(info.Env(), "ERR_OUT_OF_RANGE",
                      std::string("The value of \"") + name +
                          "\" is out of range. It must be an integer >= 0 and <= " +
                          std::to_string(static_cast<unsigned long long>(max)),
                      true);
    return false;
  }
  *out = v;
  return true;
}

static void CopyBytes(const void* data, size_t offset, size_t length, std::vector<char>* out) {
  out->clear();
  if (length == 0 || data == nullptr) return;
  const char* base = static_cast<const char*>(data) + offset;
  out->assign(base, base + length);
}

bool BytesArg(const Napi::CallbackInfo& info, size_t i, const char* name, std::vector<char>* out,
              Napi::Error* error) {
  if (info.Length() > i && info[i].IsTypedArray()) {
    Napi::TypedArray t = info[i].As<Napi::TypedArray>();
    CopyBytes(t.ArrayBuffer().Data(), t.ByteOffset(), t.ByteLength(), out);
    return true;
  }
  if (info.Length() > i && info[i].IsDataView()) {
    Napi::DataView d = info[i].As<Napi::DataView>();
    CopyBytes(d.ArrayBuffer().Data(), d.ByteOffset(), d.ByteLength(), out);
    return true;
  }
  if (info.Length() > i && info[i].IsArrayBuffer()) {
    Napi::ArrayBuffer a = info[i].As<Napi::ArrayBuffer>();
    CopyBytes(a.Data(), 0, a.ByteLength(), out);
    return true;
  }
  *error = ArgError(info.Env(), "ERR_INVALID_ARG_TYPE",
                    std::string("The \"") + name +
                        "\" argument must be an instance of Buffer, TypedArray or DataView",
                    false);
  return false;
}

}  // namespace ufs
