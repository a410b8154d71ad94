#!/bin/sh
# Run the test suite with R under valgrind (memcheck) and fail on any error
# or definite leak in warmstart's code. Forked children stay under
# valgrind; Rscript subprocesses the tests start do not.
set -u
R_BIN="${R:-R}"
top="$(cd "$(dirname "$0")/.." && pwd)"
out="$top/.valgrind"
rm -rf "$out"
mkdir -p "$out/lib" "$out/tmp" "$out/logs"
cd "$out" || exit 1
"$R_BIN" CMD build --no-build-vignettes --no-manual "$top" >build.log 2>&1 || {
  cat build.log; exit 1; }
"$R_BIN" CMD INSTALL --library="$out/lib" warmstart_*.tar.gz >install.log 2>&1 || {
  cat install.log; exit 1; }
cat > run-tests.R <<'RCODE'
library(testthat)
res <- as.data.frame(test_dir(file.path(Sys.getenv("WS_TOP"), "tests", "testthat"),
                              package = "warmstart", load_package = "installed",
                              reporter = "summary", stop_on_failure = FALSE))
cat(sprintf("%d passed, %d failed\n", sum(res$passed), sum(res$failed)))
quit(status = if (sum(res$failed) > 0 || any(res$error)) 1 else 0)
RCODE
echo "valgrind: running the tests under memcheck (slow)"
WS_TOP="$top" TMPDIR="$out/tmp" NOT_CRAN=true R_LIBS="$out/lib" \
  WARMSTART_UNDER_VALGRIND=1 \
  "$R_BIN" --vanilla -d "valgrind --tool=memcheck --leak-check=full \
    --errors-for-leak-kinds=definite --show-leak-kinds=definite \
    --log-file=$out/logs/vg.%p" -f run-tests.R
status=$?
# Errors and definite leaks whose stack passes through warmstart.so.
bad=0
for f in "$out"/logs/vg.*; do
  if awk '/^==[0-9]+== [A-Z]/ {blk=$0; next} /warmstart\.so/ {print FILENAME": "blk; exit 1}' "$f" \
      >/dev/null; then :; else bad=1; echo "== $f"; cat "$f"; fi
done
summary="$(grep -h 'ERROR SUMMARY' "$out"/logs/vg.* | sort | uniq -c)"
echo "valgrind error summaries (count, line):"
echo "$summary"
[ $bad -eq 0 ] || { echo "valgrind: reports in warmstart's code"; exit 1; }
echo "valgrind: nothing in warmstart's code"
exit $status
