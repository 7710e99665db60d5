# Builds ufs_native.node (native/src/*.cc) with node-addon-api; run by scripts/build-native.mjs.
{
  "targets": [
    {
      "target_name": "ufs_native",
      "sources": [
        "src/addon.cc",
        "src/errors.cc",
        "src/xattr.cc",
        "src/files.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "_GNU_SOURCE"
      ],
      "cflags_cc": [ "-std=c++17", "-Wall", "-Wextra" ]
    }
  ]
}
