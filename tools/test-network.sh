#!/bin/sh
# The multi-host harness over a network filesystem (sshfs), which `make test`
# skips: install the package from a built tarball into a private library
# under .network/ and run tests/testthat/test-network.R alone. Ends with
# "N passed, N failed"; exit status 0 only when nothing failed.
set -u
R_BIN="${R:-R}"
RSCRIPT="$(dirname "$(command -v "$R_BIN")")/Rscript"
[ -x "$RSCRIPT" ] || RSCRIPT=Rscript
top="$(cd "$(dirname "$0")/.." && pwd)"
out="$top/.network"
rm -rf "$out"
mkdir -p "$out/lib" "$out/tmp"
cd "$out" || exit 1
if ! "$R_BIN" CMD build --no-build-vignettes --no-manual "$top" >build.log 2>&1 ||
   ! "$R_BIN" CMD INSTALL --library="$out/lib" warmstart_*.tar.gz >install.log 2>&1; then
  cat build.log install.log 2>/dev/null | tail -n 30
  echo "0 passed, 1 failed"
  exit 1
fi
cd "$top/tests/testthat" || exit 1
WARMSTART_TEST_NETWORK=true NOT_CRAN=true WARMSTART_FIGURES="$out/figures.txt" \
TMPDIR="$out/tmp" R_LIBS="$out/lib${R_LIBS:+:$R_LIBS}" "$RSCRIPT" --vanilla -e '
  res <- as.data.frame(testthat::test_file("test-network.R", package = "warmstart",
                                           load_package = "installed"))
  failed <- sum(res$failed) + sum(res$error)
  fig <- Sys.getenv("WARMSTART_FIGURES")
  if (file.exists(fig)) {
    cat("figures measured by the tests:\n")
    cat(paste0("  ", readLines(fig)), sep = "\n")
  }
  cat(sprintf("(skipped: %d; details in %s)\n", sum(res$skipped),
              dirname(fig)))
  cat(sprintf("%d passed, %d failed\n", sum(res$passed), failed))
  quit(status = if (failed > 0) 1 else 0)' 2>&1 | tee "$out/test.log"
# The exit status of R, not of tee.
tail -n 1 "$out/test.log" | grep -q ' 0 failed$'
