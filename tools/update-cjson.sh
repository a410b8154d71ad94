#!/bin/sh
# Remake src/cjson/cJSON.c and cJSON.h, the cJSON that configure and
# configure.win build into the package when no system cJSON is found, from
# Debian's own cjson source package (the one libcjson-dev is built from):
# the upstream release's two files with Debian's patches applied (security
# fixes), and one local change (the "-Wcast-qual" pragma, which R CMD check
# reports, removed; see inst/COPYRIGHTS).
#
#   sh tools/update-cjson.sh [VERSION]   # e.g. 1.7.15-1+deb12u4
#   sh tools/update-cjson.sh --check     # fails when src/cjson differs
#
# The source package comes through this machine's own apt sources (their
# URIs, as deb-src), with a private apt state in a temporary directory: the
# system's apt configuration is not changed, and no host is written here.
set -eu
cd "$(dirname "$0")/.."
top="$(pwd)"
check=no
version=""
case "${1:-}" in
  --check) check=yes ;;
  "") ;;
  *) version="$1" ;;
esac

work="$(mktemp -d "${TMPDIR:-/tmp}/warmstart-cjson.XXXXXX")"
trap 'rm -rf "$work"' EXIT INT TERM
apt="$work/apt"
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/sources.list.d" "$work/src"

# The system's sources, each turned into a deb-src entry.
: >"$apt/sources.list"
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
  [ -f "$f" ] && sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$f" >>"$apt/sources.list"
done
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] && sed 's/^Types:.*/Types: deb-src/' "$f" >"$apt/sources.list.d/$(basename "$f")"
done
opts="-o Dir::Etc::SourceList=$apt/sources.list -o Dir::Etc::SourceParts=$apt/sources.list.d
      -o Dir::State::Lists=$apt/lists -o Dir::Cache=$apt/cache -o Debug::NoLocking=1"
# A source without deb-src entries makes update fail; apt-get source below
# says whether cjson was found in the others.
# shellcheck disable=SC2086
apt-get $opts update -qq >"$work/update.log" 2>&1 || true
# shellcheck disable=SC2086
if ! (cd "$work/src" && apt-get $opts source --download-only "cjson${version:+=$version}") \
    >"$work/source.log" 2>&1; then
  cat "$work/update.log" "$work/source.log" >&2
  echo "update-cjson: apt-get cannot fetch the cjson source package" >&2
  exit 1
fi

cd "$work/src"
dsc="$(ls cjson_*.dsc)"
got="$(sed -n 's/^Version: *//p' "$dsc")"
tar -xzf cjson_*.orig.tar.gz
tar -xJf cjson_*.debian.tar.xz
dir="$(find . -maxdepth 1 -type d -name 'cJSON-*' | head -n 1)"
if [ -f debian/patches/series ]; then
  for p in $(grep -v '^#' debian/patches/series); do
    (cd "$dir" && patch -s -p1 --no-backup-if-mismatch <"../debian/patches/$p")
  done
fi
# Drop the three #if/#pragma GCC diagnostic/#endif blocks around
# cast_away_const().
sed -e '/^#if.*__clang__/{N;N;/diagnostic/d;}' -e '/^#ifdef __GNUC__$/{N;N;/diagnostic/d;}' \
  "$dir/cJSON.c" >"$work/cJSON.c"
cp "$dir/cJSON.h" "$work/cJSON.h"
if grep -q 'pragma GCC diagnostic' "$work/cJSON.c"; then
  echo "update-cjson: the diagnostic pragmas moved; edit this script" >&2
  exit 1
fi

if [ "$check" = yes ]; then
  if cmp -s "$work/cJSON.c" "$top/src/cjson/cJSON.c" && cmp -s "$work/cJSON.h" "$top/src/cjson/cJSON.h"; then
    echo "update-cjson: src/cjson is Debian's cjson $got"
    exit 0
  fi
  echo "update-cjson: src/cjson differs from Debian's cjson $got" >&2
  exit 1
fi
cp "$work/cJSON.c" "$work/cJSON.h" "$top/src/cjson/"
echo "update-cjson: src/cjson is now Debian's cjson $got; update inst/COPYRIGHTS"
