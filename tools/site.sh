#!/bin/sh
# Builds the pkgdown site (_pkgdown.yml) into .site/ (or WARMSTART_SITE_DIR),
# which R CMD build leaves out (.Rbuildignore), then checks every internal
# link of it (tools/site-links.R): fails, naming each, when a page links to
# a file or an anchor that is not there. `make site`.
#
# pkgdown runs on a copy of the tracked and untracked-but-not-ignored files
# in a temporary directory, so no build output lands in the tree. In that
# copy the README's links to vignettes/*.Rmd (right on GitHub) become
# links to the site's articles/*.html. pkgdown installs the package into
# a temporary library of its own to run the examples and articles.
set -eu
R_BIN="${R:-R}"
RSCRIPT="$(dirname "$(command -v "$R_BIN")")/Rscript"
[ -x "$RSCRIPT" ] || RSCRIPT=Rscript
top="$(cd "$(dirname "$0")/.." && pwd)"
out="${WARMSTART_SITE_DIR:-$top/.site}"

if ! "$RSCRIPT" -e 'quit(status = !requireNamespace("pkgdown", quietly = TRUE))' >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "site: apt-get install r-cran-pkgdown"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends r-cran-pkgdown >/dev/null
  else
    echo "site: pkgdown is not installed (Debian: apt-get install r-cran-pkgdown)" >&2
    exit 1
  fi
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/warmstart-site.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir "$tmp/warmstart" "$tmp/tmp"
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  (cd "$top" && git ls-files -co --exclude-standard -z) |
    (cd "$top" && tar cf - --null -T -) | (cd "$tmp/warmstart" && tar xf -)
else
  echo "site: $top is not a git checkout" >&2
  exit 1
fi
# Links that point into the source tree on GitHub point into the site.
sed -E 's#\(vignettes/(articles/)?([A-Za-z0-9_-]+)\.Rmd\)#(articles/\2.html)#g' \
  "$top/README.md" >"$tmp/warmstart/README.md"

rm -rf "$out"
TMPDIR="$tmp/tmp" "$RSCRIPT" --vanilla -e '
  args <- commandArgs(trailingOnly = TRUE)
  # Offline: otherwise pkgdown asks CRAN and Bioconductor whether the
  # package is theirs (for a sidebar link), and stops where DNS fails.
  options(pkgdown.internet = FALSE)
  pkgdown::build_site(args[1], override = list(destination = args[2]),
                      preview = FALSE, new_process = FALSE, install = TRUE)
' "$tmp/warmstart" "$out"
"$RSCRIPT" --vanilla "$top/tools/site-links.R" "$out"
