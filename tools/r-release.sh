#!/bin/sh
# make test-r-release: the whole suite and R CMD check --as-cran on a
# current R release with current CRAN packages (mgcv among them), beside
# the distribution's R that `make test` uses.
#
# 1. R itself, version R_RELEASE below, built from R's own source tarball
#    into a cache outside the tree,
#      ${XDG_CACHE_HOME:-$HOME/.cache}/warmstart/R-<version>,
#    and reused from there (a stamp written after a complete install marks
#    it usable: an interrupted build is never reused, it is redone). The
#    tarball comes from the configured CRAN repository
#    (getOption("repos"), src/base/R-4/); where the repository does not
#    serve it, from Debian's source package of r-base (whose .orig tarball
#    is that same upstream tarball), fetched with apt-get from the archive
#    the system's apt sources name, with a private apt directory (the
#    system's apt configuration is not changed), checked against the .dsc's
#    SHA-256. Built with R's recommended packages and cairo, without X11.
# 2. The package's dependencies from the configured CRAN repository, into a
#    library beside that R (R-<version>-library); current versions: the
#    library is brought up to date on every run.
# 3. tools/check.sh with R set to that R: R CMD check --as-cran of the
#    package's tarball, the whole suite; ends with "N passed, N failed".
#
# Installs what the build needs with apt-get (as root, when missing).
# First run: about 16 minutes for R on 2 cores plus 6 for the packages;
# later runs: only the check.
set -eu

# The R release tested (current CRAN mgcv, 1.9-4, needs R >= 4.4.0).
R_RELEASE="${WARMSTART_R_RELEASE:-4.5.0}"
# Debian suites searched, in order, for r-base $R_RELEASE when CRAN's
# repository does not serve R's tarball.
DEBIAN_SUITES="${WARMSTART_DEBIAN_SUITES:-trixie}"

cd "$(dirname "$0")/.."
top="$(pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/warmstart"
prefix="$cache/R-$R_RELEASE"
stamp="$prefix/.complete"
lib="$cache/R-$R_RELEASE-library"
work="$cache/build-R-$R_RELEASE"
mkdir -p "$cache"

# The system's R: what reads the configured repository, and what runs
# roxygen2 for the docs check (the docs are made by one roxygen2 version,
# RoxygenNote, whatever R checks the package).
SYS_R="${R:-R}"
SYS_RSCRIPT="$(dirname "$(command -v "$SYS_R")")/Rscript"
[ -x "$SYS_RSCRIPT" ] || SYS_RSCRIPT=Rscript
repos="$("$SYS_RSCRIPT" -e 'r <- getOption("repos")[["CRAN"]]
  if (is.null(r) || identical(r, "@CRAN@")) r <- ""
  cat(sub("/+$", "", r))' 2>/dev/null || true)"
if [ -z "$repos" ]; then
  echo "r-release: no CRAN repository configured (options(repos = c(CRAN = ...)) in Rprofile.site)" >&2
  exit 2
fi

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# ---- what building R and the packages needs ----
build_deps="build-essential gfortran pkg-config libpcre2-dev libbz2-dev liblzma-dev
  zlib1g-dev libcurl4-openssl-dev libreadline-dev libblas-dev liblapack-dev
  libicu-dev libdeflate-dev libuv1-dev libssl-dev libcjson-dev libxml2-dev
  libcairo2-dev libpango1.0-dev pandoc qpdf devscripts xz-utils curl
  ca-certificates dpkg-dev"
need=""
for p in $build_deps; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
    need="$need $p"
done
if [ -n "$need" ]; then
  echo "r-release: apt-get install$need"
  as_root apt-get update -qq >/dev/null
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq \
    --no-install-recommends $need >/dev/null
fi

# ---- R's source tarball ----
# Prints the path of R-$R_RELEASE.tar.gz (or Debian's .orig of it) and, on
# stderr, where it came from.
fetch_r_source() {
  dl="$work/download"
  rm -rf "$dl" && mkdir -p "$dl"
  url="$repos/src/base/R-${R_RELEASE%%.*}/R-$R_RELEASE.tar.gz"
  if curl -fsSL --retry 2 -o "$dl/R-$R_RELEASE.tar.gz" "$url" 2>/dev/null; then
    echo "r-release: R $R_RELEASE source: $url" >&2
    echo "$dl/R-$R_RELEASE.tar.gz"
    return 0
  fi
  echo "r-release: $url is not served; trying Debian's r-base source package" >&2

  # The archive URIs of the system's apt sources (one-line and deb822
  # forms), Debian's own archive only (not its security archive).
  uris="$(
    { cat /etc/apt/sources.list 2>/dev/null
      find /etc/apt/sources.list.d -name '*.list' -exec cat {} + 2>/dev/null; } |
      sed -n 's/^[[:space:]]*deb\(-src\)\{0,1\}[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]\{1,\}\)\{0,1\}\([^[:space:]]*\).*/\3/p'
    find /etc/apt/sources.list.d -name '*.sources' -exec cat {} + 2>/dev/null |
      sed -n 's/^URIs:[[:space:]]*//p' | tr ' ' '\n'
  )"
  uris="$(printf '%s\n' "$uris" | grep -E '^(https?|file|mirror\+[a-z]+)://' |
    grep -v -- '-security' | sort -u)"
  apt="$work/apt"
  for uri in $uris; do
    for suite in $DEBIAN_SUITES; do
      rm -rf "$apt" && mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
      keyring=/usr/share/keyrings/debian-archive-keyring.gpg
      opt=""
      [ -f "$keyring" ] && opt="[signed-by=$keyring] "
      echo "deb-src $opt$uri $suite main" >"$apt/sources.list"
      # shellcheck disable=SC2086
      set -- -o Dir::Etc::SourceList="$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null \
        -o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt/cache" -o Debug::NoLocking=1
      apt-get "$@" update -qq >"$apt/update.log" 2>&1 || continue
      # The newest r-base of this suite whose upstream version is R_RELEASE.
      ver="$(apt-cache "$@" showsrc r-base 2>/dev/null | sed -n 's/^Version: //p' |
        grep -E "^([0-9]+:)?$(echo "$R_RELEASE" | sed 's/\./\\./g')-" | sort -V | tail -n 1)"
      [ -n "$ver" ] || continue
      (cd "$dl" && apt-get "$@" source --download-only "r-base=$ver") >"$apt/source.log" 2>&1 ||
        continue
      orig="$(ls "$dl"/r-base_*.orig.tar.gz 2>/dev/null | head -n 1)"
      dsc="$(ls "$dl"/r-base_*.dsc 2>/dev/null | head -n 1)"
      [ -n "$orig" ] && [ -n "$dsc" ] || continue
      # apt-get checked the files against the suite's signed index; check
      # the .orig against the .dsc too, as dpkg-source would.
      want="$(sed -n '/^Checksums-Sha256:/,/^[^ ]/p' "$dsc" |
        awk -v f="$(basename "$orig")" '$3 == f { print $1 }')"
      have="$(sha256sum "$orig" | cut -d' ' -f1)"
      if [ -z "$want" ] || [ "$want" != "$have" ]; then
        echo "r-release: $(basename "$orig"): SHA-256 does not match its .dsc" >&2
        return 1
      fi
      echo "r-release: R $R_RELEASE source: Debian $suite r-base $ver ($(basename "$orig"), SHA-256 checked against its .dsc) from $uri" >&2
      echo "$orig"
      return 0
    done
  done
  echo "r-release: no source of R $R_RELEASE found (CRAN: $url; Debian: r-base $R_RELEASE in $DEBIAN_SUITES)" >&2
  return 1
}

# How R is configured; the stamp holds it, so that an R built another way
# (an older version of this script) is rebuilt, not reused. Cairo: the svg
# device knitr draws the vignettes' chunks with.
configure_args="--with-x=no --with-cairo --with-recommended-packages --disable-java --without-tcltk"

build_r() {
  rm -rf "$work"
  mkdir -p "$work"
  tarball="$(fetch_r_source)"
  tar -xzf "$tarball" -C "$work"
  src="$work/R-$R_RELEASE"
  [ -f "$src/configure" ] || src="$(dirname "$(ls "$work"/*/configure | head -n 1)")"
  echo "r-release: building R $R_RELEASE into $prefix (log: $work/build.log)"
  start=$(date +%s)
  (cd "$src" &&
    # shellcheck disable=SC2086
    nice -n 10 ./configure --prefix="$prefix" $configure_args >"$work/build.log" 2>&1 &&
    nice -n 10 make -j2 >>"$work/build.log" 2>&1 &&
    # Staged, then moved in place: an R already there stays whole until then.
    make install DESTDIR="$work/stage" >>"$work/build.log" 2>&1) || {
    tail -n 40 "$work/build.log" >&2
    echo "r-release: the R build failed (see $work/build.log)" >&2
    exit 1
  }
  rm -rf "$prefix"
  mv "$work/stage$prefix" "$prefix"
  "$prefix/bin/Rscript" --vanilla -e 'q(status = !capabilities("cairo"))' || {
    echo "r-release: R $R_RELEASE was built without cairo (see $work/build.log)" >&2
    exit 1
  }
  echo "r-release: R $R_RELEASE built in $(( $(date +%s) - start )) s"
  { date -u '+%Y-%m-%dT%H:%M:%SZ'; echo "$configure_args"; } >"$stamp"
  rm -rf "$work"
}

# One build at a time per cache: another checkout's run waits for this
# one's R and library instead of building into the same directories.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$cache/.lock-R-$R_RELEASE"
  flock 9
fi

if [ -f "$stamp" ] && [ -x "$prefix/bin/R" ] && grep -qxF -- "$configure_args" "$stamp"; then
  echo "r-release: R $R_RELEASE from $prefix (built $(head -n 1 "$stamp"))"
else
  build_r
fi
NEW_R="$prefix/bin/R"
NEW_RSCRIPT="$prefix/bin/Rscript"

# ---- the committed docs, by the system's R ----
# The docs are made by one roxygen2 version (DESCRIPTION's RoxygenNote),
# whatever R checks the package: checked here, before R_LIBS points at a
# library the system's R cannot load from.
docs=0
R="$SYS_R" sh tools/docs.sh --check || docs=1

# ---- the package's dependencies, current from CRAN ----
# Only this library and that R's own: no library of the system's R (built
# for another R) may be found by the check.
unset R_LIBS_SITE R_LIBS_USER
R_LIBS="$lib"
export R_LIBS
mkdir -p "$lib"
# Imports and Suggests of DESCRIPTION, and what the tests and the check
# use beside them. mgcv is installed here even though R comes with one:
# the current CRAN mgcv is tested, not the one R $R_RELEASE shipped with.
pkgs="$("$NEW_RSCRIPT" --vanilla -e '
  d <- read.dcf("DESCRIPTION", c("Imports", "Suggests"))
  p <- trimws(sub("\\(.*", "", unlist(strsplit(d[!is.na(d)], ","))))
  base <- rownames(installed.packages(priority = "base"))
  cat(setdiff(unique(c(p, "mgcv", "callr", "digest")), c("", base)))')"
echo "r-release: packages from $repos into $lib"
nice -n 10 "$NEW_RSCRIPT" --vanilla -e '
  a <- commandArgs(TRUE)
  lib <- a[1]
  options(repos = c(CRAN = a[2]), Ncpus = 2L)
  want <- a[-(1:2)]
  av <- available.packages()
  here <- installed.packages(lib.loc = lib)
  stale <- function(p) !p %in% rownames(here) || (p %in% rownames(av) &&
    package_version(here[p, "Version"]) < package_version(av[p, "Version"]))
  todo <- want[vapply(want, stale, TRUE)]
  # What the packages here depend on, brought up to date as well.
  old <- old.packages(lib.loc = lib, available = av)
  todo <- union(todo, rownames(old))
  if (length(todo)) {
    message("r-release: installing ", paste(todo, collapse = " "))
    install.packages(todo, lib = lib, quiet = TRUE)
  }
  missing <- want[!vapply(want, requireNamespace, TRUE, quietly = TRUE)]
  if (length(missing)) {
    message("r-release: could not install: ", paste(missing, collapse = " "))
    quit(status = 1)
  }
  v <- function(p) paste(p, packageVersion(p))
  message("r-release: ", R.version.string, "; ",
          paste(vapply(c("mgcv", "Matrix", "nlme", "testthat", want[!want %in%
            c("mgcv", "testthat")]), v, ""), collapse = ", "))' "$lib" "$repos" $pkgs

# ---- the check ----
# tools/check.sh with that R: R CMD check --as-cran of the package's
# tarball, the whole suite (NOT_CRAN=true).
status=0
R="$NEW_R" WARMSTART_DOCS_CHECKED=true CHECK_DIR="$top/.check-r-release" \
  sh tools/check.sh --as-cran || status=1
if [ $docs -ne 0 ]; then
  echo "r-release: committed docs are stale or roxygen2 failed (make docs)"
  status=1
fi
exit $status
