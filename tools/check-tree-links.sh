#!/bin/sh
# Fails, naming each one, when a symbolic link in the source tree leads out
# of it, cannot be resolved (dangling, a loop), or leads to a directory
# that holds the link itself. R CMD build copies the whole tree following
# links (cp -L) before it applies .Rbuildignore: through such a link it
# copies whatever the link reaches -- through a Wine prefix's
# dosdevices/z: -> /, the whole filesystem, recursively. Build outputs and
# tool prefixes belong outside the tree (see tools/windows/test.sh).
#
#   sh tools/check-tree-links.sh [DIR]   # DIR: the tree, by default this one
set -u
top="$(cd "${1:-$(dirname "$0")/..}" && pwd -P)"

resolve() {
  if command -v realpath >/dev/null 2>&1; then
    realpath "$1" 2>/dev/null
  else
    readlink -f "$1" 2>/dev/null
  fi
}

bad=0
list="$(mktemp "${TMPDIR:-/tmp}/warmstart-links.XXXXXX")" || exit 2
trap 'rm -f "$list"' EXIT INT TERM
find "$top" -type l >"$list"
while IFS= read -r link; do
  rel="${link#"$top"/}"
  to="$(resolve "$link")"
  if [ -z "$to" ] || [ ! -e "$to" ]; then
    echo "check-tree-links: $rel -> $(readlink "$link"): cannot be resolved (dangling or a loop)"
    bad=1
    continue
  fi
  case "$to/" in
    "$top"/*) ;;
    *) echo "check-tree-links: $rel -> $(readlink "$link"): leads out of the tree (to $to)"
       bad=1
       continue ;;
  esac
  if [ -d "$to" ]; then
    case "$(resolve "$(dirname "$link")")/" in
      "$to"/*) echo "check-tree-links: $rel -> $(readlink "$link"): leads to a directory holding it (a loop)"
               bad=1 ;;
    esac
  fi
done <"$list"
if [ $bad -ne 0 ]; then
  echo "check-tree-links: remove these links (or what made them: make clean) before R CMD build"
  exit 1
fi
echo "check-tree-links: no link leads out of $top"
exit 0
