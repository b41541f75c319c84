#!/usr/bin/env bash
# test_install.sh BUILD_DIR SOURCE_DIR: install the build into a temporary
# prefix, then build a small program against it twice: with pkg-config and
# with CMake's find_package, and run both.
set -euo pipefail
build=$1
here=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

cmake --install "$build" --prefix "$prefix" >/dev/null
for f in include/mtask/mtask.h include/mtask/process.h include/mtask/thread.h \
	 lib/libmtask.a lib/libmtask.so lib/pkgconfig/mtask.pc \
	 lib/cmake/mtask/mtaskConfig.cmake bin/mtask; do
	[[ -e $prefix/$f ]] || { echo "not installed: $f" >&2; exit 1; }
done

# pkg-config, against the shared library.
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
cc -o "$tmp/via-pkg-config" "$here/consumer/main.c" $(pkg-config --cflags --libs mtask)
out=$(LD_LIBRARY_PATH=$prefix/lib "$tmp/via-pkg-config")
[[ $out == "process 42 thread 42" ]] || { echo "pkg-config build printed: $out" >&2; exit 1; }

# find_package(mtask), shared and static.
cmake -S "$here/consumer" -B "$tmp/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
for exe in consumer_shared consumer_static; do
	out=$("$tmp/consumer/$exe")
	[[ $out == "process 42 thread 42" ]] || { echo "$exe printed: $out" >&2; exit 1; }
done
"$prefix/bin/mtask" --version >/dev/null
echo "install: pkg-config and find_package builds work"
