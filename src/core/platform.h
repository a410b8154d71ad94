/* What differs between the POSIX systems the core builds on (Linux, macOS,
 * the BSDs), chosen by feature tests rather than by system names where a
 * feature test exists. Windows is the other platform family: under _WIN32,
 * platform_win.h gives the POSIX calls the core makes Windows semantics
 * (platform_win.c), so the rest of the core is the same code. `make check-posix` compiles the core with
 * -std=c99 -D_POSIX_C_SOURCE=200809L and lists every call outside POSIX;
 * tools/posix-allow.txt says why each one that stays is there.
 *
 * Kept on purpose, outside POSIX:
 * - flock (4.4BSD; Linux, macOS, the BSDs, illumos). POSIX's fcntl locks
 *   belong to the process, not the descriptor: any close of the file in
 *   the process drops them and two handles of one process never conflict,
 *   so two stores opened in one R session could not exclude each other.
 *   glibc declares flock whatever the feature macros; we do not define
 *   _DEFAULT_SOURCE or _DARWIN_C_SOURCE for it, since that would also hide
 *   other non-POSIX calls from the check. The package build itself uses
 *   each system's default (full) declarations.
 * - /proc reads (boot id, pid namespace, zombie state): Linux only, each
 *   with a fallback where they are absent (see names.c, fsio.c).
 */
#ifndef WS_PLATFORM_H
#define WS_PLATFORM_H

#include <stdlib.h>
#include <sys/stat.h>

/* Windows: the POSIX calls below in Windows terms (platform_win.c). */
#ifdef _WIN32
#include "platform_win.h"
#endif

/* File times with nanoseconds. POSIX.1-2008 names them st_mtim/st_ctim;
 * macOS calls them st_mtimespec/st_ctimespec. configure compiles a probe
 * and defines WS_STAT_TIMESPEC (macOS) or WS_STAT_SECONDS (neither: whole
 * seconds, which ws_stamp_settled already treats as a coarse clock). */
#if defined(WS_STAT_TIMESPEC)
#define WS_ST_MTIME_S(st) ((st)->st_mtimespec.tv_sec)
#define WS_ST_MTIME_NS(st) ((st)->st_mtimespec.tv_nsec)
#define WS_ST_CTIME_S(st) ((st)->st_ctimespec.tv_sec)
#define WS_ST_CTIME_NS(st) ((st)->st_ctimespec.tv_nsec)
#elif defined(WS_STAT_SECONDS)
#define WS_ST_MTIME_S(st) ((st)->st_mtime)
#define WS_ST_MTIME_NS(st) 0
#define WS_ST_CTIME_S(st) ((st)->st_ctime)
#define WS_ST_CTIME_NS(st) 0
#else
#define WS_ST_MTIME_S(st) ((st)->st_mtim.tv_sec)
#define WS_ST_MTIME_NS(st) ((st)->st_mtim.tv_nsec)
#define WS_ST_CTIME_S(st) ((st)->st_ctim.tv_sec)
#define WS_ST_CTIME_NS(st) ((st)->st_ctim.tv_nsec)
#endif

/* realpath is base POSIX since Issue 7 (2008), but glibc declares it only
 * for X/Open or its default mode, not under _POSIX_C_SOURCE alone. */
#if defined(__GLIBC__) && !defined(__USE_XOPEN_EXTENDED) && !defined(__USE_MISC)
char *realpath(const char *restrict path, char *restrict resolved);
#endif

#endif
