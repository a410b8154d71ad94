#!/bin/sh
# The Slurm harness (tests/testthat/test-slurm.R), which `make test` skips:
# starts munged, slurmctld and three slurmd nodes (each in its own UTS, pid
# and mount namespace, so each is its own host; node 1 mounts the store
# through sshfs), submits jobs through batchtools and future.batchtools,
# and stops everything it started. The package is installed from a built
# tarball into a private library under .slurm/. Ends with "N passed, N
# failed"; exit status 0 only when nothing failed. Needs root; installs
# nothing (Debian: slurm-wlm munge sshfs openssh-server r-cran-batchtools
# r-cran-future.batchtools r-cran-future.apply): it says what is missing.
set -u
R_BIN="${R:-R}"
RSCRIPT="$(dirname "$(command -v "$R_BIN")")/Rscript"
[ -x "$RSCRIPT" ] || RSCRIPT=Rscript
top="$(cd "$(dirname "$0")/.." && pwd)"
out="$top/.slurm"
rm -rf "$out"
mkdir -p "$out/lib" "$out/tmp"
pids="$out/pids"
: > "$pids"
# Every daemon the R side starts is noted in $pids as it starts; the R side
# stops them itself, and this trap stops (by pid) any left, whatever way
# the run ends.
stop_started() {
  while read -r pid; do
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  done < "$pids"
}
trap stop_started EXIT
trap 'exit 130' INT TERM HUP
start=$(date +%s)
cd "$out" || exit 1
if ! "$R_BIN" CMD build --no-build-vignettes --no-manual "$top" >build.log 2>&1 ||
   ! "$R_BIN" CMD INSTALL --library="$out/lib" warmstart_*.tar.gz >install.log 2>&1; then
  cat build.log install.log 2>/dev/null | tail -n 30
  echo "0 passed, 1 failed"
  exit 1
fi
cd "$top/tests/testthat" || exit 1
WARMSTART_TEST_SLURM=true NOT_CRAN=true WARMSTART_FIGURES="$out/figures.txt" \
WARMSTART_SLURM_PIDS="$pids" \
TMPDIR="$out/tmp" R_LIBS="$out/lib${R_LIBS:+:$R_LIBS}" "$RSCRIPT" --vanilla -e '
  res <- as.data.frame(testthat::test_file("test-slurm.R", package = "warmstart",
                                           load_package = "installed"))
  failed <- sum(res$failed) + sum(res$error)
  fig <- Sys.getenv("WARMSTART_FIGURES")
  if (file.exists(fig)) {
    cat("figures measured by the tests:\n")
    cat(paste0("  ", readLines(fig)), sep = "\n")
  }
  if (sum(res$skipped) > 0 && sum(res$passed) == 0) cat("(skipped: see the reason above)\n")
  cat(sprintf("%d passed, %d failed\n", sum(res$passed), failed))
  quit(status = if (failed > 0) 1 else 0)' 2>&1 | tee "$out/test.log"
echo "make test-slurm took $(( $(date +%s) - start )) s (build and install included)"
# The exit status of R, not of tee.
tail -n 1 "$out/test.log" | grep -q ' 0 failed$'
