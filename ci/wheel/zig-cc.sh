#!/usr/bin/env bash
# rustc's linker for the wheel (ci/build-wheel.sh sets it with
# CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER).  The extension (libpyomp_pass.so) is
# linked by `zig cc` against glibc $PYOMP_WHEEL_GLIBC's symbol stubs, with GCC 12's
# libstdc++, libffi, zlib and zstd linked in statically (LLVM's Debian archives use libstdc++'s ABI,
# and manylinux_2_28 allows only an older libstdc++) and glibc_compat.c's object.
# (ci/build-wheel.sh then checks that nothing but CPython's API is left undefined without a
# glibc version: a symbol newer than the stubs would fail the import on a user's machine.)  Every
# other link (build scripts, proc macros) is the host's `cc`, unchanged.  (The file's name
# ends in `cc` on purpose: rustc picks the linker's flavour by its name, and takes a
# `link.sh` for MSVC's link.exe.)
set -euo pipefail
case " $* " in
  *"/libpyomp_pass.so "*) ;;
  *) exec cc "$@" ;;
esac
gcc_lib=$(dirname "$(gcc -print-file-name=libstdc++.a)")
multiarch=/usr/lib/$(gcc -print-multiarch)
args=()
for arg in "$@"; do
  case "$arg" in
    -lstdc++) args+=("$gcc_lib/libstdc++.a") ;;
    -lffi) args+=("$multiarch/libffi.a") ;;
    -lgcc_s) args+=("$multiarch/libgcc_s.so.1") ;;
    # LLVM's compression support, which code emission (the NVPTX kernels of
    # pass-plugin/src/gpu.rs) reaches: linked in statically, as libffi is
    -lz) args+=("$multiarch/libz.a") ;;
    -lzstd) args+=("$multiarch/libzstd.a") ;;
    # llvm-config lists them; nothing the extension keeps after --gc-sections uses them
    # (ci/wheel/check_symbols.py would say so)
    -lz3 | -lxml2) ;;
    *) args+=("$arg") ;;
  esac
done
exec "$PYOMP_ZIG_PYTHON" -m ziglang cc -target "x86_64-linux-gnu.$PYOMP_WHEEL_GLIBC" \
  "${args[@]}" "$PYOMP_WHEEL_COMPAT_OBJ"
