#!/bin/sh
# Build the package with AddressSanitizer and UndefinedBehaviorSanitizer
# (gcc) into a private library, run the test suite against it, and fail on
# any sanitizer report from any process (tests fork). R itself is not
# instrumented, so the ASan runtime is preloaded; leak checking is left to
# `make valgrind` (R does not free everything at exit).
set -u
R_BIN="${R:-R}"
RSCRIPT="$(dirname "$(command -v "$R_BIN")")/Rscript"
top="$(cd "$(dirname "$0")/.." && pwd)"
out="$top/.sanitize"
rm -rf "$out"
mkdir -p "$out/lib" "$out/logs" "$out/tmp"
flags="-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined"
cat > "$out/Makevars" <<MAKEVARS
CFLAGS = $flags
LDFLAGS = -fsanitize=address,undefined
MAKEVARS
cd "$out" || exit 1
"$R_BIN" CMD build --no-build-vignettes --no-manual "$top" >build.log 2>&1 || {
  cat build.log; exit 1; }
R_MAKEVARS_USER="$out/Makevars" "$R_BIN" CMD INSTALL --no-test-load --library="$out/lib" \
  warmstart_*.tar.gz >install.log 2>&1 || { cat install.log; exit 1; }
asan="$(gcc -print-file-name=libasan.so)"
echo "sanitize: running the tests (ASan + UBSan, runtime $asan)"
cd "$top/tests/testthat" || exit 1
TMPDIR="$out/tmp" NOT_CRAN=true R_LIBS="$out/lib" LD_PRELOAD="$asan" \
  ASAN_OPTIONS="detect_leaks=0:log_path=$out/logs/asan:abort_on_error=1" \
  UBSAN_OPTIONS="print_stacktrace=1:log_path=$out/logs/ubsan" \
  "$RSCRIPT" --vanilla -e '
    library(testthat)
    res <- as.data.frame(test_dir(".", package = "warmstart",
                                  load_package = "installed",
                                  reporter = "summary", stop_on_failure = FALSE))
    cat(sprintf("%d passed, %d failed\n", sum(res$passed), sum(res$failed)))
    quit(status = if (sum(res$failed) > 0 || any(res$error)) 1 else 0)'
status=$?
reports="$(ls "$out/logs")"
if [ -n "$reports" ]; then
  echo "sanitizer reports:"
  for f in "$out"/logs/*; do echo "== $f"; cat "$f"; done
  exit 1
fi
echo "sanitize: no ASan or UBSan reports"
exit $status
