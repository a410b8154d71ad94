#!/bin/sh
# make test-windows: the C core built for Windows with Debian's MinGW-w64
# cross-compiler, and its test program (tools/windows/core_test.c: save,
# lookup, a damaged payload, files held open, the sweep, concurrent writers
# and readers, killed writers, claims, pins, long and non-ASCII paths) run
# under Wine. The same program is first built and run natively, as a
# control: a case that fails on both is a test or core bug, one that fails
# only under Wine is the Windows layer's (src/core/platform_win.c).
#
# Installs what is missing with apt-get (gcc-mingw-w64-x86-64, wine64).
# cJSON is the copy the package bundles (src/cjson/, built in by
# configure.win when Rtools has none), on both sides.
#
# Everything this makes -- the Wine prefix (whose dosdevices/z: is a link
# to /), objects, programs, logs, the stores the runs write -- lives
# outside the source tree, in
#   WARMSTART_WINDOWS_DIR, or ${XDG_CACHE_HOME:-$HOME/.cache}/warmstart/windows/<key>
# (<key>: a checksum of this tree's path, so two checkouts do not share a
# Wine server), kept between runs for the prefix. `sh tools/windows/test.sh
# --dir` prints it; `make clean` removes it. R CMD build copies the tree
# following links, so a prefix inside it would copy the whole filesystem.
# Output ends with "N passed, N failed".
set -eu
cd "$(dirname "$0")/../.."
top="$(pwd)"
key="$(printf '%s' "$top" | cksum | cut -d' ' -f1)"
out="${WARMSTART_WINDOWS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/warmstart/windows/$key}"
if [ "${1:-}" = "--dir" ]; then
  echo "$out"
  exit 0
fi
case "$out/" in
  "$top"/*) echo "test-windows: $out is inside the source tree; choose a directory outside it" >&2
            exit 2 ;;
esac
mkdir -p "$out"
echo "test-windows: building and running in $out"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

need=""
command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 || need="$need gcc-mingw-w64-x86-64"
command -v wine >/dev/null 2>&1 || need="$need wine64 wine"
if [ -n "$need" ]; then
  echo "test-windows: installing$need"
  as_root apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq \
    -o DPkg::Lock::Timeout=600 $need >/dev/null
fi

# meta.c includes <cjson/cJSON.h>: src/cjson/cJSON.h with -Isrc. The
# defines are configure.win's: the locale's decimal point handled, and no
# dllexport of cJSON's functions.
cjson_flags="-Isrc -DENABLE_LOCALES -DCJSON_HIDE_SYMBOLS"

# ---- builds ----
warn="-Wall -Wextra -Werror"
core="$(ls src/core/*.c)"

echo "== native build (control)"
# shellcheck disable=SC2086
${CC:-cc} -std=gnu99 -O2 -g $warn -Isrc/core $cjson_flags $(pkg-config --cflags libcrypto) \
  $core tools/windows/core_test.c src/cjson/cJSON.c \
  $(pkg-config --libs libcrypto) -pthread -o "$out/core_test"

echo "== Windows build (x86_64-w64-mingw32-gcc)"
wcc=x86_64-w64-mingw32-gcc
command -v x86_64-w64-mingw32-gcc-posix >/dev/null 2>&1 && wcc=x86_64-w64-mingw32-gcc-posix
rm -rf "$out/obj" && mkdir -p "$out/obj"
# MinGW's own printf for %zu and %lld under the old msvcrt (R's toolchain
# uses UCRT, which has them).
wflags="-std=gnu99 -O2 -D__USE_MINGW_ANSI_STDIO=1 -Isrc/core $cjson_flags"
for f in $core tools/windows/core_test.c; do
  # shellcheck disable=SC2086
  $wcc $wflags $warn -c "$f" -o "$out/obj/$(basename "$f" .c).o"
done
# shellcheck disable=SC2086
$wcc $wflags -c src/cjson/cJSON.c -o "$out/obj/cJSON.o"
$wcc -static "$out"/obj/*.o -lbcrypt -ladvapi32 -lntdll -o "$out/core_test.exe"

# ---- runs ----
status=0
total_pass=0
total_fail=0
tally() { # label, log
  line="$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$2" | tail -n 1)"
  if [ -z "$line" ]; then
    echo "$1: no result line"
    total_fail=$((total_fail + 1))
    status=1
    return
  fi
  p="${line%% passed*}"
  f="${line#*passed, }"
  f="${f%% failed}"
  total_pass=$((total_pass + p))
  total_fail=$((total_fail + f))
  echo "$1: $line"
}

echo "== native run"
rm -rf "$out/run-native"
"$out/core_test" run "$out/run-native" >"$out/native.log" 2>&1 || status=1
sed 's/^/  /' "$out/native.log"
tally "native" "$out/native.log"

echo "== Windows run under Wine ($(wine --version 2>/dev/null || echo wine))"
export WINEPREFIX="$out/wineprefix" WINEDEBUG=-all
rm -rf "$out/run-wine"
start=$(date +%s)
wine "$out/core_test.exe" run "Z:$out/run-wine" >"$out/wine.log" 2>&1 || status=1
tr -d '\r' <"$out/wine.log" >"$out/wine.txt"
sed 's/^/  /' "$out/wine.txt"
tally "Windows (Wine)" "$out/wine.txt"
echo "Wine run: $(( $(date +%s) - start )) s"
# Links: made by the native build (Windows needs a privilege to make one,
# and Wine cannot), checked by each build; Wine shows a host symlink to
# Windows code as a reparse point.
echo "== links in a store, not followed"
for side in native wine; do
  rm -rf "$out/links-$side"
  "$out/core_test" links-prepare "$out/links-$side/root" "$out/links-$side/outside" || {
    echo "links: cannot prepare"; status=1; continue; }
  if [ "$side" = native ]; then
    "$out/core_test" links-check "$out/links-$side/root" "$out/links-$side/outside" \
      >"$out/links-$side.log" 2>&1 || status=1
  else
    wine "$out/core_test.exe" links-check "Z:$out/links-$side/root" \
      "Z:$out/links-$side/outside" >"$out/links-$side.raw" 2>&1 || status=1
    tr -d '\r' <"$out/links-$side.raw" >"$out/links-$side.log"
  fi
  sed 's/^/  /' "$out/links-$side.log"
  tally "links ($side)" "$out/links-$side.log"
done

# Wine's server lingers a few seconds after the last program; stop it so
# that the make step ends when the test does.
wineserver -k >/dev/null 2>&1 || true

echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ] || status=1
exit $status
