#!/bin/sh
# make check-all: every make target that backs a claim of the README, each
# run in a fresh clone of HEAD with its time limit, one line per target --
# passed / failed / skipped and why, its figure, its minutes -- ending with
# "N passed, N failed" (exit status 0 only when none failed).
#
#   sh tools/check-all.sh                      # every target, default order
#   sh tools/check-all.sh fuzz check-posix     # these, in this order
#   CHECK_ALL_TARGETS="fuzz check-posix" sh tools/check-all.sh   # the same
#   CHECK_ALL_ORDER=reverse sh tools/check-all.sh                # last first
#
# Isolation: each target gets its own clone (git clone of this repository,
# HEAD checked out; uncommitted changes are not in it and a warning says
# so), removed after its run, so no build output, .deps/ library or test
# store of one target is seen by another. What they share, and why that
# is safe:
#  - the machine's installed packages (apt, R's site library): the first
#    target that needs one installs it (tools/install-deps.sh), later ones
#    find it; it changes how long a target takes, not its result;
#  - test-r-release's R build, ~/.cache/warmstart/R-<version> (built once,
#    ~20 minutes, marked complete by a stamp; no other target uses it);
#  - the reference Rust store, built once into the run directory from
#    ../shared/reference/refstore beside this checkout when that exists
#    (as tools/check.sh would), read-only for the interop tests.
# test-windows's Wine prefix goes to the run directory
# (WARMSTART_WINDOWS_DIR) and is removed with it, not to ~/.cache.
#
# Time limits (minutes) are below; CHECK_ALL_LIMITS="coverage=40 fuzz=5"
# overrides some. A target past its limit is stopped (timeout: SIGTERM to
# its process group, SIGKILL a minute later) and counted failed.
# CHECK_ALL_FUZZ_SECONDS (default 60) is the fuzz run per fuzz target.
# CHECK_ALL_MIN_CORE (default 95): `coverage` fails below this C core
# figure. Logs: CHECK_ALL_DIR (default a new directory under $TMPDIR),
# kept; the clones and the reference store's build are removed
# (CHECK_ALL_KEEP=true keeps them).
set -u
top="$(cd "$(dirname "$0")/.." && pwd)"
ALL="test check-cran coverage sanitize valgrind fuzz check-posix test-windows test-network test-r-release test-slurm"
targets="${*:-${CHECK_ALL_TARGETS:-$ALL}}"
if [ "${CHECK_ALL_ORDER:-}" = reverse ]; then
  r=""; for t in $targets; do r="$t $r"; done; targets="$r"
fi
fuzz_seconds="${CHECK_ALL_FUZZ_SECONDS:-60}"
min_core="${CHECK_ALL_MIN_CORE:-95}"

limit() {
  for kv in ${CHECK_ALL_LIMITS:-}; do
    [ "${kv%%=*}" = "$1" ] && { echo "${kv#*=}"; return; }
  done
  case "$1" in
    test|check-cran) echo 45 ;;
    coverage) echo 40 ;;
    sanitize) echo 60 ;;
    valgrind) echo 180 ;;
    fuzz) echo 20 ;;
    check-posix) echo 10 ;;
    test-windows) echo 30 ;;
    test-network) echo 20 ;;
    test-r-release) echo 90 ;;   # a first run builds R: about 22 minutes
    *) echo 60 ;;
  esac
}

for t in $targets; do
  case " $ALL " in *" $t "*) ;; *)
    echo "check-all: unknown target '$t' (known: $ALL)" >&2; exit 2 ;; esac
done

sha="$(git -C "$top" rev-parse HEAD)" || exit 2
[ -n "$(git -C "$top" status --porcelain --untracked-files=no)" ] &&
  echo "check-all: warning: the tree has uncommitted changes; they are not checked (HEAD is)"
run="${CHECK_ALL_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/warmstart-check-all.XXXXXX")}"
mkdir -p "$run/logs" || exit 2
case "$run" in "$top"|"$top"/*)
  echo "check-all: $run is inside the tree; choose a directory outside it" >&2; exit 2 ;; esac
echo "check-all: $(git -C "$top" log -1 --format='%h %s' | cut -c1-70)"
echo "check-all: targets: $targets"
echo "check-all: logs in $run/logs"

# The reference store, as tools/check.sh finds it beside a checkout.
if [ -z "${WARMSTART_REFSTORE:-}" ] && [ -f "$top/../shared/reference/refstore/build.sh" ] &&
   command -v cargo >/dev/null 2>&1; then
  WARMSTART_REFSTORE="$(REFSTORE_DIR="$run/refstore" sh "$top/../shared/reference/refstore/build.sh" \
    2>"$run/logs/refstore.log" | tail -n 1)"
  [ -x "$WARMSTART_REFSTORE" ] || { echo "check-all: refstore did not build ($run/logs/refstore.log)"; WARMSTART_REFSTORE=""; }
fi
export WARMSTART_REFSTORE="${WARMSTART_REFSTORE:-}"

# The figure a target's output states.
figure() { # target log
  case "$1" in
    coverage)
      c="$(grep -E '^C core: [0-9.]+% of lines' "$2" | tail -n 1 | sed 's/ of lines//')"
      tr="$(grep -E '^covr traces: ' "$2" | tail -n 1 | sed -E 's/^covr traces: ([0-9]+) read, ([0-9]+) left out.*/\2 of \1 traces left out/')"
      tf="$(grep -E '^\[ FAIL [0-9]+ ' "$2" | tail -n 1 | sed -E 's/^\[ FAIL ([0-9]+) .* PASS ([0-9]+) \]/\2 passed, \1 failed/')"
      echo "${c:-no C core figure}${tr:+; $tr}${tf:+; tests $tf}" ;;
    fuzz)
      awk '/^== fuzz_/ {n++} /crashes:/ {c += $NF; i += $2}
           /^stat::number_of_executed_units/ {x += $NF}
           END {printf "%d targets x %s s, %d runs, %d crashes\n", n, s, x, c}' \
        s="$fuzz_seconds" "$2" ;;
    check-posix)
      a="$(grep -c '^allowed ' "$2")"
      if grep -q '^check-posix: passed' "$2"; then echo "compiles; $a allowed non-POSIX uses"
      else echo "$(grep -c -E '^(FAIL|NOT OK)' "$2") failures"; fi ;;
    *)
      # test-network names the tests it skipped (no FUSE, no sshd): a pass
      # with everything skipped says so.
      sk="$(grep -E '^\(skipped: [0-9]+' "$2" | tail -n 1 | sed -E 's/^\(skipped: ([0-9]+).*/\1 skipped/')"
      p="$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$2" | tail -n 1)"
      echo "$p${sk:+, $sk}" ;;
  esac
}

lines=""
npass=0; nfail=0; nskip=0
row() { # target verdict figure minutes
  l="$(printf '%-15s %-8s %-52s %6s min' "$1" "$2" "$3" "$4")"
  echo "$l"
  lines="$lines$l
"
}

for t in $targets; do
  clone="$run/clone-$t"
  log="$run/logs/$t.log"
  start="$(date +%s)"
  rm -rf "$clone"
  if ! { git clone -q --no-checkout "$top" "$clone" && git -C "$clone" checkout -q --detach "$sha"; } \
       >"$log" 2>&1; then
    row "$t" failed "could not clone HEAD (see $log)" 0.0; nfail=$((nfail + 1)); continue
  fi
  # make -n: does the target exist on this commit?
  if make -C "$clone" -n "$t" >/dev/null 2>"$run/logs/$t.make-n"; then :; else
    if grep -q 'No rule to make target' "$run/logs/$t.make-n"; then
      row "$t" skipped "target absent" 0.0; nskip=$((nskip + 1))
    else
      row "$t" failed "make -n: $(head -n 1 "$run/logs/$t.make-n")" 0.0; nfail=$((nfail + 1))
    fi
    [ "${CHECK_ALL_KEEP:-}" = true ] || rm -rf "$clone"
    continue
  fi
  mins="$(limit "$t")"
  echo "== $t (limit $mins min): started $(date -u +%H:%M) UTC" >>"$log"
  # The Wine prefix of test-windows: in the run directory, removed with it.
  WARMSTART_WINDOWS_DIR="$run/windows" FUZZ_SECONDS="$fuzz_seconds" \
    timeout --kill-after=60 "${mins}m" make -C "$clone" "$t" >>"$log" 2>&1 </dev/null
  status=$?
  took="$(awk -v s="$start" -v e="$(date +%s)" 'BEGIN {printf "%.1f", (e - s) / 60}')"
  fig="$(figure "$t" "$log")"
  verdict=passed
  if [ $status -eq 124 ] || [ $status -eq 137 ]; then
    verdict=failed; fig="timed out after $mins min${fig:+; $fig}"
  elif [ $status -ne 0 ]; then
    verdict=failed; fig="exit status $status${fig:+; $fig}"
  elif [ "$t" = coverage ]; then
    pct="$(grep -E '^C core: [0-9.]+% of lines' "$log" | tail -n 1 | sed -E 's/^C core: ([0-9.]+)%.*/\1/')"
    if [ -z "$pct" ]; then verdict=failed
    elif awk -v p="$pct" -v m="$min_core" 'BEGIN {exit !(p < m)}'; then
      verdict=failed; fig="$fig (below $min_core%)"
    fi
  fi
  if [ $verdict = passed ]; then npass=$((npass + 1)); else nfail=$((nfail + 1)); fi
  row "$t" "$verdict" "${fig:-(no figure; see $log)}" "$took"
  if [ "$t" = test-windows ]; then
    WINEPREFIX="$run/windows/wineprefix" wineserver -k >/dev/null 2>&1 || true
    rm -rf "$run/windows"
  fi
  [ "${CHECK_ALL_KEEP:-}" = true ] || rm -rf "$clone"
done

[ "${CHECK_ALL_KEEP:-}" = true ] || rm -rf "$run/refstore"
echo
echo "check-all of $(git -C "$top" rev-parse --short "$sha"), $(date -u +%Y-%m-%d) (logs: $run/logs)"
printf '%s' "$lines"
[ $nskip -gt 0 ] && echo "($nskip skipped)"
echo "$npass passed, $nfail failed"
[ $nfail -eq 0 ]
