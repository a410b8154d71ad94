#!/bin/sh
# Install what building, checking and demonstrating warmstart needs and this
# machine lacks. System libraries come from apt-get (when run as root on a
# Debian-like system); R packages from Debian's r-cran-* packages when
# possible, otherwise from the CRAN repository R is configured with
# (getOption("repos"), from Rprofile.site or ~/.Rprofile: these R calls do
# not use --vanilla, which would skip both). Does nothing when everything
# is present.
# --cran-tools: only the tools of `make check-cran`; --network: also what
# `make test-network` needs (sshfs, openssh-server); --slurm: also what
# `make test-slurm` needs (those, slurm-wlm, munge).
set -eu

R_BIN="${R:-R}"
RSCRIPT="$(dirname "$(command -v "$R_BIN")")/Rscript"
[ -x "$RSCRIPT" ] || RSCRIPT=Rscript

# R code that sets `cran` to the configured CRAN repository, or stops
# asking for one.
CRAN_REPO='cran <- getOption("repos")[["CRAN"]]
if (is.null(cran) || is.na(cran) || !nzchar(cran) || identical(cran, "@CRAN@"))
  stop("no CRAN repository is set: set one with options(repos = c(CRAN = \"...\")) ",
       "in Rprofile.site or ~/.Rprofile, or install the packages named above yourself",
       call. = FALSE)
cran <- sub("/+$", "", cran)'

# Needed to build and check the package (tests and vignette included), and
# roxygen2 to check that man/ and NAMESPACE match R/ (tools/docs.sh).
R_REQUIRED="testthat withr knitr markdown mgcv roxygen2"
# Used by tests, examples and benchmarks when present (skipped otherwise).
R_OPTIONAL="callr cachem memoise digest data.table batchtools future future.apply future.batchtools"

can_apt() {
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1
}

apt_updated=no
apt_install() {
  if [ "$apt_updated" = no ]; then
    echo "install-deps: apt-get update"
    apt-get update -qq >/dev/null
    apt_updated=yes
  fi
  echo "install-deps: apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends "$@" >/dev/null
}

# ---- tools R CMD check --as-cran wants (make check-cran) ----
if [ "${1:-}" = "--cran-tools" ]; then
  tools=""
  command -v pandoc >/dev/null 2>&1 || tools="$tools pandoc"
  command -v qpdf >/dev/null 2>&1 || tools="$tools qpdf"
  command -v checkbashisms >/dev/null 2>&1 || tools="$tools devscripts"
  if [ -n "$tools" ]; then
    if can_apt; then
      # shellcheck disable=SC2086
      apt_install $tools
    else
      echo "install-deps: R CMD check --as-cran wants:$tools" >&2
    fi
  fi
  exit 0
fi

# ---- what `make coverage` needs: covr (and gcov, which comes with gcc) ----
if [ "${1:-}" = "--coverage-tools" ]; then
  if ! "$RSCRIPT" --vanilla -e 'quit(status = !requireNamespace("covr", quietly = TRUE))'; then
    if can_apt; then
      apt_install r-cran-covr || true
    fi
    "$RSCRIPT" -e "$CRAN_REPO" -e 'if (!requireNamespace("covr", quietly = TRUE))
      install.packages("covr", repos = cran, quiet = TRUE)'
  fi
  command -v gcov >/dev/null 2>&1 || {
    if can_apt; then apt_install gcc; else echo "install-deps: gcov is missing" >&2; fi; }
  "$RSCRIPT" --vanilla -e 'quit(status = !requireNamespace("covr", quietly = TRUE))' || {
    echo "install-deps: could not install covr" >&2; exit 1; }
  exit 0
fi

# ---- system libraries ----
sys_missing=""
if ! command -v pkg-config >/dev/null 2>&1; then
  sys_missing="pkg-config libssl-dev libcjson-dev"
else
  pkg-config --exists libcrypto || sys_missing="$sys_missing libssl-dev"
  pkg-config --exists libcjson || sys_missing="$sys_missing libcjson-dev"
fi
if [ -n "$sys_missing" ]; then
  if can_apt; then
    # shellcheck disable=SC2086
    apt_install $sys_missing
  else
    echo "install-deps: missing system packages:$sys_missing" >&2
    echo "install-deps: run as root, or: sudo apt-get install$sys_missing" >&2
    exit 1
  fi
fi

# ---- tools the tests use to make hostile conditions: locales (a
# comma-decimal locale built with localedef), strace, unshare and flock
# (util-linux), inotifywait (the multi-host harness, test-hosts.R);
# test-network.R (make test-network, which passes --network) also wants an
# sshfs client and an sshd of its own. Each test skips with a message
# where its tool is missing; CI installs them. ----
install_tools() {
  if [ -z "$1" ]; then return 0; fi
  if can_apt; then
    # One at a time: a name this distribution lacks must not stop the others.
    for p in $1; do
      apt_install "$p" || echo "install-deps: could not install $p" >&2
    done
  else
    echo "install-deps: some tests want:$1 (they skip without)" >&2
  fi
}
tools_missing=""
{ command -v localedef >/dev/null 2>&1 && [ -d /usr/share/i18n/locales ]; } || tools_missing="$tools_missing locales"
command -v strace >/dev/null 2>&1 || tools_missing="$tools_missing strace"
{ command -v unshare >/dev/null 2>&1 && command -v flock >/dev/null 2>&1; } || tools_missing="$tools_missing util-linux"
command -v inotifywait >/dev/null 2>&1 || tools_missing="$tools_missing inotify-tools"
if [ "${1:-}" = "--network" ] || [ "${1:-}" = "--slurm" ]; then
  command -v sshfs >/dev/null 2>&1 || tools_missing="$tools_missing sshfs"
  [ -x /usr/sbin/sshd ] || tools_missing="$tools_missing openssh-server"
  command -v ssh-keygen >/dev/null 2>&1 || tools_missing="$tools_missing openssh-client"
fi
if [ "${1:-}" = "--slurm" ]; then
  [ -x /usr/sbin/slurmctld ] && [ -x /usr/sbin/slurmd ] && command -v sbatch >/dev/null 2>&1 ||
    tools_missing="$tools_missing slurm-wlm"
  [ -x /usr/sbin/munged ] || tools_missing="$tools_missing munge"
fi
install_tools "$tools_missing"

# ---- R packages ----
missing_r() {
  "$RSCRIPT" --vanilla -e '
    p <- commandArgs(TRUE)
    cat(p[!vapply(p, requireNamespace, TRUE, quietly = TRUE)])' "$@"
}

r_missing="$(missing_r $R_REQUIRED $R_OPTIONAL)"
if [ -n "$r_missing" ] && can_apt; then
  debs=""
  for p in $r_missing; do
    debs="$debs r-cran-$(echo "$p" | tr 'A-Z' 'a-z')"
  done
  # One package at a time: a name Debian lacks must not stop the others.
  for d in $debs; do apt_install "$d" || echo "install-deps: no $d; trying CRAN"; done
  r_missing="$(missing_r $R_REQUIRED $R_OPTIONAL)"
fi
if [ -n "$r_missing" ]; then
  echo "install-deps: installing from CRAN: $r_missing"
  "$RSCRIPT" -e "$CRAN_REPO" -e '
    p <- commandArgs(TRUE)
    lib <- .libPaths()[file.access(.libPaths(), 2) == 0][1]
    if (is.na(lib)) {
      lib <- Sys.getenv("R_LIBS_USER")
      dir.create(lib, recursive = TRUE, showWarnings = FALSE)
      .libPaths(c(lib, .libPaths()))
    }
    install.packages(p, lib = lib, repos = cran, quiet = TRUE)' $r_missing || true
fi

# mgcv >= 1.9-0 (bam() takes in.out) in a private library, for the test
# that shows ws_gam() seeding bam(): Debian's mgcv may be older, and
# current CRAN mgcv may need a newer R. Optional: the test skips without it.
mgcv19="$(cd "$(dirname "$0")/.." && pwd)/.deps/mgcv-1.9"
if [ ! -f "$mgcv19/mgcv/DESCRIPTION" ] &&
   ! "$RSCRIPT" --vanilla -e 'q(status = packageVersion("mgcv") < "1.9.0")' >/dev/null 2>&1; then
  echo "install-deps: mgcv 1.9-1 into $mgcv19 (for the bam in.out test)"
  mkdir -p "$mgcv19"
  "$RSCRIPT" -e "$CRAN_REPO" -e '
    install.packages(paste0(cran, "/src/contrib/Archive/mgcv/mgcv_1.9-1.tar.gz"),
                     lib = commandArgs(TRUE)[1], repos = NULL, type = "source",
                     quiet = TRUE)' "$mgcv19" >/dev/null 2>&1 ||
    echo "install-deps: could not install mgcv 1.9-1 (its test will skip)"
fi

still="$(missing_r $R_REQUIRED)"
if [ -n "$still" ]; then
  echo "install-deps: could not install required R packages: $still" >&2
  exit 1
fi
exit 0
