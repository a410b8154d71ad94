#!/bin/sh
# Build the libFuzzer targets from the C core alone (no R) with ASan and
# UBSan, and run each for FUZZ_SECONDS (default 600) from its seed corpus.
# Needs clang with libFuzzer (Debian: clang-14 libclang-rt-14-dev).
#   sh tools/fuzz/run.sh             # every target
#   FUZZ_SECONDS=60 sh tools/fuzz/run.sh meta
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
top="$(cd "$here/../.." && pwd)"
work="$top/.fuzz"
seconds="${FUZZ_SECONDS:-600}"
# clang and its libFuzzer runtime, installed with apt-get when missing (as
# root), as the other targets install what they need: clang-14 alone links
# no -fsanitize=fuzzer program without libclang-rt-14-dev.
fuzzer_links() {
  [ -n "${1:-}" ] && printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' |
    "$1" -fsanitize=fuzzer,address,undefined -x c - -o "${TMPDIR:-/tmp}/ws-fuzz-probe.$$" >/dev/null 2>&1
  ok=$?
  rm -f "${TMPDIR:-/tmp}/ws-fuzz-probe.$$"
  return $ok
}
CC="${FUZZ_CC:-$(command -v clang-14 || command -v clang || true)}"
if ! fuzzer_links "$CC"; then
  if [ -z "${FUZZ_CC:-}" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "fuzz: apt-get install clang-14 libclang-rt-14-dev"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o DPkg::Lock::Timeout=600 clang-14 libclang-rt-14-dev >/dev/null
    CC="$(command -v clang-14)"
  fi
  fuzzer_links "$CC" || {
    echo "fuzz: ${CC:-clang} cannot link a libFuzzer program (Debian: apt-get install clang-14 libclang-rt-14-dev)" >&2
    exit 2; }
fi
targets="${*:-meta scan rstream}"
# The C core: src/core/, compiled as a unit (it includes no R header).
core="$(cd "$top/src/core" && ls *.c)"
mkdir -p "$work"
flags="-g -O1 -pthread -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
for t in $targets; do
  srcs=""
  for f in $core; do srcs="$srcs $top/src/core/$f"; done
  # shellcheck disable=SC2086
  "$CC" $flags -I"$top/src/core" $(pkg-config --cflags libcjson libcrypto) \
    "$here/fuzz_$t.c" $srcs -o "$work/fuzz_$t" $(pkg-config --libs libcjson libcrypto)
  mkdir -p "$work/corpus_$t" "$work/artifacts_$t"
  cp "$here/corpus/$t/"* "$work/corpus_$t/"
  echo "== fuzz_$t: $seconds s"
  ASAN_OPTIONS=detect_leaks=1 "$work/fuzz_$t" -max_total_time="$seconds" \
    -print_final_stats=1 -artifact_prefix="$work/artifacts_$t/" \
    -max_len=4096 "$work/corpus_$t" 2>"$work/fuzz_$t.log" || {
      tail -n 60 "$work/fuzz_$t.log"; exit 1; }
  grep -E '^(#[0-9]+.*DONE|Done|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' \
    "$work/fuzz_$t.log" || tail -n 5 "$work/fuzz_$t.log"
  echo "corpus: $(ls "$work/corpus_$t" | wc -l) inputs; crashes: $(ls "$work/artifacts_$t" | wc -l)"
done
