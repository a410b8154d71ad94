#!/bin/sh
# Install what building, checking and demonstrating warmstart needs and this
# machine lacks. System libraries come from apt-get (when run as root on a
# Debian-like system); R packages from Debian's r-cran-* packages when
# possible, otherwise from CRAN. Does nothing when everything is present.
set -eu

R_BIN="${R:-R}"
RSCRIPT="$(dirname "$(command -v "$R_BIN")")/Rscript"
[ -x "$RSCRIPT" ] || RSCRIPT=Rscript

# Needed to build and check the package (tests and vignette included).
R_REQUIRED="testthat withr knitr markdown mgcv"
# Used by tests, examples and benchmarks when present (skipped otherwise).
R_OPTIONAL="callr cachem memoise digest data.table"

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
  "$RSCRIPT" --vanilla -e '
    p <- commandArgs(TRUE)
    lib <- .libPaths()[file.access(.libPaths(), 2) == 0][1]
    if (is.na(lib)) {
      lib <- Sys.getenv("R_LIBS_USER")
      dir.create(lib, recursive = TRUE, showWarnings = FALSE)
      .libPaths(c(lib, .libPaths()))
    }
    install.packages(p, lib = lib, repos = "https://cloud.r-project.org",
                     quiet = TRUE)' $r_missing || true
fi

# mgcv >= 1.9-0 (bam() takes in.out) in a private library, for the test
# that shows ws_gam() seeding bam(): Debian's mgcv may be older, and
# current CRAN mgcv may need a newer R. Optional: the test skips without it.
mgcv19="$(cd "$(dirname "$0")/.." && pwd)/.deps/mgcv-1.9"
if [ ! -f "$mgcv19/mgcv/DESCRIPTION" ] &&
   ! "$RSCRIPT" --vanilla -e 'q(status = packageVersion("mgcv") < "1.9.0")' >/dev/null 2>&1; then
  echo "install-deps: mgcv 1.9-1 into $mgcv19 (for the bam in.out test)"
  mkdir -p "$mgcv19"
  "$RSCRIPT" --vanilla -e '
    install.packages("https://cloud.r-project.org/src/contrib/Archive/mgcv/mgcv_1.9-1.tar.gz",
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
