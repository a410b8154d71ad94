#!/bin/sh
# `make coverage`: the test suite against a -O0 --coverage build (through
# covr), then line coverage per file of R/ and src/, ending with the line
# "C core: N% of lines". Forked children that end with _exit() or die by
# the fault hooks' SIGKILL are flushed first (tools/coverage/flush.c); the
# writers the crash tests kill from outside are not (their lines run in
# other tests too). Test failures do not stop the report: they are listed.
# covr's traces of the R code that a killed child left truncated are named
# and left out of the merge, and counted (tools/coverage/traces.R).
set -u
R_BIN="${R:-R}"
RSCRIPT="$(dirname "$(command -v "$R_BIN")")/Rscript"
[ -x "$RSCRIPT" ] || RSCRIPT=Rscript
top="$(cd "$(dirname "$0")/.." && pwd)"
out="$top/.coverage"
rm -rf "$out"
mkdir -p "$out/tmp"

sh "$top/tools/install-deps.sh" --coverage-tools || exit 1
# covr's traces that cannot be read are left out of its merge
# (tools/coverage/traces.R): check that first, in seconds.
"$RSCRIPT" --vanilla "$top/tools/coverage/check-traces.R" "$top/tools/coverage/traces.R" || exit 1

cd "$out" || exit 1
sh "$top/tools/check-tree-links.sh" "$top" || exit 1
"$R_BIN" CMD build --no-build-vignettes --no-manual "$top" >build.log 2>&1 || {
  cat build.log; exit 1; }
tar xzf warmstart_*.tar.gz
cp "$top/tools/coverage/flush-hook.c" warmstart/src/zz_coverage_flush.c
# src/Makevars.in lists its objects: add the hook's.
sed -i 's/^GLUE = /GLUE = zz_coverage_flush.o /' warmstart/src/Makevars.in
# Every test runs, failing or not (the default stops at the first file
# with a failure).
cat > warmstart/tests/testthat.R <<'RCODE'
library(testthat)
library(warmstart)
test_check("warmstart", stop_on_failure = FALSE)
RCODE
cc="$("$R_BIN" CMD config CC)"
# shellcheck disable=SC2086
$cc -shared -fPIC -O1 -o "$out/flush.so" "$top/tools/coverage/flush.c" -ldl || exit 1

echo "coverage: running the tests against a -O0 --coverage build (covr)"
TMPDIR="$out/tmp" NOT_CRAN=true COVR_FIX_PARALLEL_MCEXIT=true \
  LD_PRELOAD="$out/flush.so" \
  "$RSCRIPT" --vanilla "$top/tools/coverage/report.R" "$out/warmstart" "$out" \
  "$top/tools/coverage/traces.R" \
  >"$out/run.log" 2>&1
status=$?
rout="$(find "$out" -name 'testthat.Rout*' 2>/dev/null | head -n 1)"
[ -n "$rout" ] && grep -E '^\[ FAIL [0-9]+ \| WARN [0-9]+ \| SKIP [0-9]+ \| PASS [0-9]+ \]' "$rout" | tail -n 1
[ -n "$rout" ] && grep -E "^── (Failure|Error) \(" "$rout" | sed 's/^/  /'
[ $status -eq 0 ] || { tail -n 40 "$out/run.log"; exit $status; }
# Branches (within a line: `a != 0 || b != 0`) of the store's files that
# no test took, from the same counters.
# gcov runs from src/, where the objects were compiled (as core/x.c): run
# from src/core/ it cannot open the sources and its .gcov lists nothing.
(
  cd "$out/warmstart/src" &&
  for f in write.c scan.c sweep.c store.c walk.c fsio.c; do
    gcov -b -o core "core/$f" >/dev/null 2>&1
    awk -v f="$f" '
      /^ *[-#=0-9*]+: *[0-9]+:/ { split($0, a, ":"); line = a[2] + 0; text = $0
                                  sub(/^[^:]*:[^:]*:/, "", text) }
      /^branch +[0-9]+ (taken 0%|never executed)/ { if (!(line in seen)) {
          seen[line] = 1; gsub(/^ +/, "", text); printf "src/core/%s:%d: %s\n", f, line, text } }
    ' "$f.gcov"
  done
) >"$out/untaken-branches.txt"
echo "branches of the store's files no test took: $out/untaken-branches.txt ($(wc -l <"$out/untaken-branches.txt") lines)"
sed -n '/^R code (covr)/,$p' "$out/run.log"
