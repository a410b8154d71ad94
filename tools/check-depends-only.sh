#!/bin/sh
# R CMD check with only the package's strong dependencies (and its
# vignette builders) installed, as CRAN's "noSuggests" check runs it:
# suggested packages must be used conditionally. _R_CHECK_DEPENDS_ONLY_
# alone is not enough where a site library (Debian's) holds the suggested
# packages, so the check gets a site library of its own: links to the
# installed vignette builders, in a temporary directory outside the tree
# (R CMD build copies the tree following links).
set -u
R_BIN="${R:-R}"
top="$(cd "$(dirname "$0")/.." && pwd)"
out="$top/.check-depends-only"
rm -rf "$out"
mkdir -p "$out/tmp"
lib="$(mktemp -d "${TMPDIR:-/tmp}/warmstart-depends-only.XXXXXX")" || exit 1
trap 'rm -rf "$lib"' EXIT INT TERM
cd "$out" || exit 1
"$(dirname "$(command -v "$R_BIN")")/Rscript" --vanilla -e '
  ip <- installed.packages()
  builders <- c("knitr", "markdown")
  deps <- unlist(tools::package_dependencies(builders, db = ip, recursive = TRUE))
  p <- setdiff(unique(c(builders, deps)),
               rownames(ip)[ip[, "Priority"] %in% c("base", "recommended")])
  for (x in p) file.symlink(file.path(ip[x, "LibPath"], x), file.path(commandArgs(TRUE)[1], x))' \
  "$lib" || exit 1
sh "$top/tools/check-tree-links.sh" "$top" || exit 1
"$R_BIN" CMD build "$top" >build.log 2>&1 || { cat build.log; exit 1; }
TMPDIR="$out/tmp" R_LIBS_SITE="$lib" R_LIBS_USER="$lib" \
  _R_CHECK_FORCE_SUGGESTS_=false _R_CHECK_DEPENDS_ONLY_=true \
  "$R_BIN" CMD check --no-manual warmstart_*.tar.gz 2>&1 | tee check.log
# The one NOTE expected here lists the suggested packages left out.
! grep -qE '^Status: .*(ERROR|WARNING)' check.log
