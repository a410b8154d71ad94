#!/bin/sh
# Build the package, run R CMD check on the tarball (tests and vignettes
# included) and end with one line "N passed, N failed" counted from the
# testthat results. Extra arguments go to R CMD check (e.g. --as-cran).
# Exit status: 0 only when the check has no ERROR or WARNING and no test
# failed.
set -u
R_BIN="${R:-R}"
top="$(cd "$(dirname "$0")/.." && pwd)"
out="${CHECK_DIR:-$top/.check}"
rm -rf "$out"
mkdir -p "$out"
cd "$out" || exit 1

"$R_BIN" CMD build --no-resave-data "$top" >build.log 2>&1
status=$?
cat build.log
tarball="$(ls warmstart_*.tar.gz 2>/dev/null | head -n 1)"
if [ $status -ne 0 ] || [ -z "$tarball" ]; then
  echo "R CMD build failed"
  echo "0 passed, 1 failed"
  exit 1
fi

# Run every test (testthat skips some "on CRAN" unless NOT_CRAN is true);
# `make check-cran` passes NOT_CRAN=false to check as CRAN would.
NOT_CRAN="${NOT_CRAN:-true}"
export NOT_CRAN
# Figures the reliability tests measured (see the README's RELIABILITY).
WARMSTART_FIGURES="$out/figures.txt"
export WARMSTART_FIGURES
# mgcv >= 1.9-0 for the bam() warm-start test, when install-deps.sh put one
# there (the test skips otherwise).
if [ -z "${WARMSTART_MGCV19_LIB:-}" ] && [ -f "$top/.deps/mgcv-1.9/mgcv/DESCRIPTION" ]; then
  WARMSTART_MGCV19_LIB="$top/.deps/mgcv-1.9"
  export WARMSTART_MGCV19_LIB
fi
# Checks must write nothing outside tempdir(): give them a private one.
TMPDIR="$out/tmp"
mkdir -p "$TMPDIR"
export TMPDIR
"$R_BIN" CMD check --no-manual "$@" "$tarball" 2>&1 | tee check.log
rcheck="$out/warmstart.Rcheck"

# testthat's check reporter ends with "[ FAIL f | WARN w | SKIP s | PASS p ]".
rout="$(ls "$rcheck"/tests/testthat.Rout "$rcheck"/tests/testthat.Rout.fail \
  2>/dev/null | head -n 1)"
summary=""
[ -n "$rout" ] && summary="$(grep -E '^\[ FAIL [0-9]+ \| WARN [0-9]+ \| SKIP [0-9]+ \| PASS [0-9]+ \]' "$rout" | tail -n 1)"
if [ -z "$summary" ]; then
  [ -n "$rout" ] && tail -n 40 "$rout"
  echo "the test run did not finish (no testthat summary)"
  echo "0 passed, 1 failed"
  exit 1
fi
failed="$(echo "$summary" | sed -E 's/.*FAIL ([0-9]+).*/\1/')"
passed="$(echo "$summary" | sed -E 's/.*PASS ([0-9]+).*/\1/')"
skipped="$(echo "$summary" | sed -E 's/.*SKIP ([0-9]+).*/\1/')"
[ "$failed" -gt 0 ] && [ -f "$rout" ] && tail -n 60 "$rout"

bad=0
if grep -qE '^Status: .*(ERROR|WARNING)' check.log; then
  echo "R CMD check reported:"
  grep -E '^\* checking .*(ERROR|WARNING)$' check.log || true
  bad=1
fi
[ -s "$out/figures.txt" ] && { echo "figures measured by the tests:"; sed 's/^/  /' "$out/figures.txt"; }
echo "(skipped: $skipped; details in $out)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ $bad -eq 0 ]
