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

# The committed man/ and NAMESPACE must be what roxygen2 makes of R/
# (tools/docs.sh; `make docs` regenerates them). Reported, and fails the
# run, after the tests.
docs_stale=0
# (WARMSTART_DOCS_CHECKED=true: the caller checked them with another R,
# as tools/r-release.sh does.)
if [ "${WARMSTART_DOCS_CHECKED:-}" = true ]; then
  echo "docs: checked by the caller" >docs.log
else
  sh "$top/tools/docs.sh" --check >docs.log 2>&1 || docs_stale=1
fi
cat docs.log

# R CMD build copies the tree following links: one leading out of it (a
# Wine prefix's z: -> /) would copy the filesystem. Named, and no build.
if ! sh "$top/tools/check-tree-links.sh" "$top"; then
  echo "0 passed, 1 failed"
  exit 1
fi
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
# The Rust reference store, for the interop tests, where its sources are
# beside this checkout (../shared/reference/refstore); built once into
# .refstore/ and reused. Elsewhere those tests skip with a message.
if [ -z "${WARMSTART_REFSTORE:-}" ]; then
  build="$top/../shared/reference/refstore/build.sh"
  if [ -f "$build" ] && command -v cargo >/dev/null 2>&1; then
    WARMSTART_REFSTORE="$(REFSTORE_DIR="$top/.refstore" sh "$build" 2>"$out/refstore.log" | tail -n 1)"
    [ -x "$WARMSTART_REFSTORE" ] || { echo "refstore did not build (see $out/refstore.log)"; WARMSTART_REFSTORE=""; }
  fi
fi
export WARMSTART_REFSTORE
# The CRAN repository R is configured with (Rprofile.site, ~/.Rprofile),
# for tests that fetch from it (test-suites.R): R CMD check runs them with
# --vanilla, which reads neither.
if [ -z "${WARMSTART_REPOS:-}" ]; then
  WARMSTART_REPOS="$("$(dirname "$(command -v "$R_BIN")")/Rscript" -e \
    'r <- getOption("repos"); if ("CRAN" %in% names(r)) cat(r[["CRAN"]])' 2>/dev/null || true)"
fi
export WARMSTART_REPOS
# Figures the reliability tests measured (see the README's RELIABILITY).
WARMSTART_FIGURES="$out/figures.txt"
export WARMSTART_FIGURES
# Run the CI proof (tests/testthat/test-ci-proof.R: R CMD check of
# inst/ci-example twice with one WARMSTART_DIR); skipped on CRAN.
WARMSTART_CI_PROOF=true
export WARMSTART_CI_PROOF
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
if [ $docs_stale -ne 0 ]; then
  echo "committed docs are stale or roxygen2 failed (see $out/docs.log; make docs)"
  bad=1
fi
# A test may skip only for what this machine lacks: a tool or package, a
# privilege (helper-shim.R: skip_no_tool(), skip_no_privilege(); or "...
# is not installed", "... not permitted"), when checking as CRAN, or when
# it runs in a make target of its own ("... runs with `make ..."). Any other skip (a child that never started, an empty
# test) is a test that silently stopped testing: it fails the run.
if [ -n "$rout" ]; then
  skips="$(sed -n '/Skipped tests/,/^\[ FAIL/p' "$rout" | grep -E '^(•|\*) ' || true)"
  bad_skips="$(printf '%s\n' "$skips" | grep -vE \
    '^(•|\*) (no tool: |no privilege: |On CRAN \(|On (Windows|Mac|Solaris) \(|.+ cannot be loaded \(|.+ is not installed|.+ not permitted|.+ runs with `make )' \
    | grep -v '^$' || true)"
  if [ -n "$bad_skips" ]; then
    echo "tests skipped for a reason other than a missing tool or privilege:"
    printf '%s\n' "$bad_skips"
    bad=1
  fi
fi
if grep -qE '^Status: .*(ERROR|WARNING)' check.log; then
  echo "R CMD check reported:"
  grep -E '^\* checking .*(ERROR|WARNING)$' check.log || true
  bad=1
fi
# Every .Call entry point under gctorture(TRUE), against the package the
# check installed (about a minute and a half; `make gctorture` alone).
if [ -d "$rcheck/warmstart" ] && [ "${WARMSTART_SKIP_GCTORTURE:-}" != true ]; then
  R_LIBS="$rcheck${R_LIBS:+:$R_LIBS}" "$(dirname "$(command -v "$R_BIN")")/Rscript" \
    --vanilla "$top/tools/gctorture.R" >"$out/gctorture.log" 2>&1 || {
      cat "$out/gctorture.log"; bad=1; }
  grep '^gctorture:' "$out/gctorture.log" || true
fi
[ -s "$out/figures.txt" ] && { echo "figures measured by the tests:"; sed 's/^/  /' "$out/figures.txt"; }
echo "(skipped: $skipped; details in $out)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ $bad -eq 0 ]
