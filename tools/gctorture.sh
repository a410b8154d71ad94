#!/bin/sh
# `make gctorture`: build the package into a private library and run
# tools/gctorture.R, which calls every .Call entry point on a small store
# normally and under gctorture(TRUE) and requires identical results.
set -u
R_BIN="${R:-R}"
RSCRIPT="$(dirname "$(command -v "$R_BIN")")/Rscript"
top="$(cd "$(dirname "$0")/.." && pwd)"
out="$top/.gctorture"
rm -rf "$out"
mkdir -p "$out/lib" "$out/tmp"
cd "$out" || exit 1
"$R_BIN" CMD build --no-build-vignettes --no-manual "$top" >build.log 2>&1 || {
  cat build.log; exit 1; }
"$R_BIN" CMD INSTALL --no-test-load --library="$out/lib" warmstart_*.tar.gz \
  >install.log 2>&1 || { cat install.log; exit 1; }
TMPDIR="$out/tmp" R_LIBS="$out/lib" "$RSCRIPT" --vanilla "$top/tools/gctorture.R"
