#!/bin/sh
# make check-posix: does the C code build on a POSIX system that is not
# Linux? Two parts, both must pass:
#  1. compile src/core/*.c (but the Windows layer), and the R glue src/*.c with R's headers, as
#     strict C99 + POSIX.1-2008 (-std=c99 -D_POSIX_C_SOURCE=200809L,
#     -pedantic-errors: no GNU extensions, no GNU or BSD declarations)
#     with -Wall -Werror; the core also once per stat-time variant that
#     configure can choose (src/core/platform.h);
#  2. list every use of a name that is Linux-only or otherwise outside
#     POSIX (glibc declares some, e.g. flock, whatever the feature macros,
#     so compiling alone cannot catch them). Each use must be listed in
#     tools/posix-allow.txt (file, name, why); any other use fails.
# Needs a C compiler, pkg-config with libcrypto and libcjson, R's headers.
set -u
cd "$(dirname "$0")/.."
CC="${CC:-cc}"
STRICT="-std=c99 -D_POSIX_C_SOURCE=200809L -pedantic-errors -Wall -Werror"
DEPS="$(pkg-config --cflags libcrypto libcjson)" || {
  echo "check-posix: pkg-config cannot find libcrypto and libcjson" >&2
  exit 2
}
RINC="$(${R:-R} CMD config --cppflags)" || exit 2
status=0

compile() { # label, extra flags, files...
  label="$1"
  extra="$2"
  shift 2
  for f in "$@"; do
    # shellcheck disable=SC2086
    if ! out="$($CC $STRICT $extra $DEPS -fsyntax-only "$f" 2>&1)"; then
      echo "FAIL compile ($label): $f"
      printf '%s\n' "$out" | sed -n '/error/p' | sed 's/^/    /'
      status=1
    fi
  done
}

echo "== 1. strict C99 + POSIX.1-2008 compile ($CC $STRICT)"
# The Windows layer (platform_win.c) is compiled only under _WIN32: here it
# would be an empty file. make test-windows builds it.
core="$(ls src/core/*.c | grep -v '/platform_win\.c$')"
# shellcheck disable=SC2086
compile "core" "" $core
compile "core, whole-second stat times" "-DWS_STAT_SECONDS" src/core/fsio.c
compile "glue, R headers" "$RINC" src/*.c
[ "$status" -eq 0 ] && echo "ok: src/core/*.c and src/*.c compile"

echo "== 2. names outside POSIX (allowed uses: tools/posix-allow.txt)"
# One extended regex per name; \b marks a word edge (GNU and BSD grep).
NAMES='\bflock\b|\bLOCK_(SH|EX|UN|NB)\b|/proc/|\bMAP_POPULATE\b|\bMAP_ANON(YMOUS)?\b|\bmadvise\b|\bMADV_[A-Z_]+|\bst_[amc]tim\b|\bst_[amc]timespec\b|\bF_FULLFSYNC\b|\bsyncfs\b|\bfdatasync\b|\bO_TMPFILE\b|\bO_PATH\b|\brenameat2\b|\bstatx\b|\bgetrandom\b|\bpipe2\b|\baccept4\b|\bmemfd_create\b|\bcopy_file_range\b|\bsendfile\b|\bsplice\b|\bfallocate\b|\bgettid\b|\bprctl\b|\bepoll_[a-z]+|\binotify_[a-z]+|\bd_type\b|\bDT_[A-Z]+\b|\basprintf\b|\bqsort_r\b|\bstrchrnul\b|\bmemrchr\b|\bmempcpy\b|\bmemmem\b|\bstrlcpy\b|\bstrlcat\b|\bsysctl[a-z]*\b|\bprogram_invocation_[a-z_]+|\b__linux__\b|\b__APPLE__\b|\b_GNU_SOURCE\b|\b_DEFAULT_SOURCE\b|\b_BSD_SOURCE\b|\b_DARWIN_C_SOURCE\b'
# Not the Windows layer (src/core/platform_win.*): it is compiled only
# under _WIN32, where it defines these names itself (make test-windows
# builds and tests it).
files="$(ls src/core/*.c src/core/*.h src/*.c src/*.h | grep -v '/platform_win\.')"
# shellcheck disable=SC2086
hits="$(grep -nEo "$NAMES" $files)"
# file:line:name, one per use -> one line per file and name, with its lines;
# allowed when the allow list has a line "file name why...".
report="$(printf '%s\n' "$hits" | awk -F: '
  FILENAME != "-" { if ($0 !~ /^#/ && NF) { split($0, w, /[ \t]+/); k = w[1] " " w[2]
              why = $0; sub(/^[^ \t]+[ \t]+[^ \t]+[ \t]+/, "", why); allow[k] = why }
              next }
  NF >= 3 { k = $1 " " $3
            if (k in lines) lines[k] = lines[k] "," $2
            else { order[n++] = k; lines[k] = $2 } }
  END { for (i = 0; i < n; i++) { k = order[i]; split(k, w, " ")
          if (k in allow) printf "allowed  %s:%s %s -- %s\n", w[1], lines[k], w[2], allow[k]
          else printf "NOT OK   %s:%s %s -- not in tools/posix-allow.txt\n", w[1], lines[k], w[2] } }
' tools/posix-allow.txt -)"
[ -n "$report" ] && printf '%s\n' "$report"
if printf '%s\n' "$report" | grep -q '^NOT OK'; then
  echo "FAIL: a name outside POSIX is used where tools/posix-allow.txt does not allow it"
  status=1
fi

if [ "$status" -eq 0 ]; then
  echo "check-posix: passed"
else
  echo "check-posix: FAILED"
fi
exit "$status"
