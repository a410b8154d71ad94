/* Windows: the POSIX calls the core makes, given Windows semantics by
 * platform_win.c, so that the rest of the core is the same code on every
 * platform. Included by platform.h only under _WIN32, after the system
 * headers that declare the names redefined here (a header included later
 * is already guarded and does not see the macros).
 *
 * What each guarantee rests on here (the article "Platforms and filesystems",
 * vignettes/platforms.Rmd, says the same to users):
 * - atomic replace: MoveFileExW(MOVEFILE_REPLACE_EXISTING |
 *   MOVEFILE_WRITE_THROUGH); where a reader holds the target open, a rename
 *   with POSIX semantics (FILE_RENAME_FLAG_POSIX_SEMANTICS) instead, and
 *   where there are none, the old file moved aside first (put back if the
 *   rename then fails). Renames and removals that meet a file another
 *   program holds for a moment without delete sharing (a virus scanner)
 *   are tried again a few times.
 * - exclusive create: CreateFileW(CREATE_NEW).
 * - every file is opened with FILE_SHARE_DELETE, so that a sweep can remove
 *   or replace an entry that another process is reading, as on POSIX;
 *   removal asks for POSIX semantics (the name goes at once) where the
 *   filesystem has them.
 * - durable flush: FlushFileBuffers. A directory cannot be flushed through
 *   a read-only handle (fsync answers EINVAL, which the core takes as a
 *   filesystem that cannot); MOVEFILE_WRITE_THROUGH and NTFS's journal
 *   carry the rename.
 * - advisory locks: LockFileEx on files, released by the kernel when the
 *   process dies. Windows cannot lock a directory's bytes, so a directory's
 *   shared lock is a second handle to it (ReOpenFile) that denies delete
 *   sharing (nobody can remove the dir while it is open) and its exclusive
 *   lock one that holds delete access (nobody can pin it meanwhile); both
 *   go with the process.
 * - links: symlinks and junctions (name-surrogate reparse points) are
 *   links; other reparse points (cloud files) are the files themselves.
 *   There is no openat: an *at call goes by the path of the directory the
 *   descriptor holds (GetFinalPathNameByHandleW), resolved at the call,
 *   and what it opens must be named by that directory plus one name (a
 *   directory swapped for a junction meanwhile gives ELOOP).
 * - paths: UTF-8 in, normalized (GetFullPathNameW) and given the "\\?\"
 *   prefix, so MAX_PATH does not apply.
 * - process liveness: OpenProcess + GetExitCodeProcess; host identity:
 *   hostname, MachineGuid and the boot count (names.c's host token).
 * - owner: the owner SID of the file against the process's user; there
 *   are no permission bits, so files read as 0600 and dirs as 0700 and
 *   the trust check is by owner only.
 * - SHA-256 and HMAC-SHA256: CNG (BCrypt), part of Windows.
 */
#ifndef WS_PLATFORM_WIN_H
#define WS_PLATFORM_WIN_H

#include <dirent.h>
#include <direct.h>
#include <errno.h>
#include <fcntl.h>
#include <io.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* Open flags the CRT lacks; bits its own flags do not use. O_CLOEXEC is
 * the CRT's "not inherited". */
#define O_NOFOLLOW 0x01000000
#define O_DIRECTORY 0x02000000
#define O_NONBLOCK 0x04000000
#ifndef O_CLOEXEC
#define O_CLOEXEC O_NOINHERIT
#endif

#ifndef NAME_MAX
#define NAME_MAX 255
#endif
/* The CRT's PATH_MAX is MAX_PATH (260), shorter than a root, a key and a
 * temp name together; the wide calls take "\\?\" paths of any length. */
#undef PATH_MAX
#define PATH_MAX 4096
#define AT_FDCWD (-100)
#define AT_SYMLINK_NOFOLLOW 0x100
#define AT_EACCESS 0x200
#ifndef W_OK
#define W_OK 2
#endif

#define S_IFLNK 0120000
#define S_ISLNK(m) (((m) & S_IFMT) == S_IFLNK)
#ifndef S_IWGRP
#define S_IWGRP 0020
#endif
#ifndef S_IWOTH
#define S_IWOTH 0002
#endif

#define LOCK_SH 1
#define LOCK_EX 2
#define LOCK_NB 4
#define LOCK_UN 8

#ifndef SIGKILL
#define SIGKILL 9
#endif
#ifndef SIGSTOP
#define SIGSTOP 19
#endif

typedef unsigned int ws_win_id;
#define uid_t ws_win_id
#define gid_t ws_win_id

/* struct stat with what the core compares: a 64-bit file index (the CRT's
 * st_ino is 16 bits and always 0), the link count, change time and owner.
 * `stat` names both the struct and the function, as in POSIX. */
struct ws_win_stat {
  uint64_t st_dev, st_ino;
  unsigned int st_mode, st_nlink, st_uid, st_gid;
  int64_t st_size;
  struct timespec st_mtim, st_ctim;
};
#define stat ws_win_stat
#define lstat ws_win_lstat
#define fstat ws_win_fstat
#define fstatat ws_win_fstatat
int ws_win_stat(const char *path, struct ws_win_stat *st);
int ws_win_lstat(const char *path, struct ws_win_stat *st);
int ws_win_fstat(int fd, struct ws_win_stat *st);
int ws_win_fstatat(int dirfd, const char *name, struct ws_win_stat *st,
                   int flags);

#define open ws_win_open
#define openat ws_win_openat
#define close ws_win_close
#define unlink ws_win_unlink
#define unlinkat ws_win_unlinkat
#define renameat ws_win_renameat
#define rmdir ws_win_rmdir
#define mkdir(path, mode) ws_win_mkdir(path, mode)
#define fsync ws_win_fsync
#define flock ws_win_flock
#define faccessat ws_win_faccessat
#define readlink ws_win_readlink
#define realpath ws_win_realpath
#define kill ws_win_kill
#define raise ws_win_raise
#define gethostname ws_win_gethostname
#define geteuid ws_win_geteuid
#define fchmod ws_win_fchmod
int ws_win_open(const char *path, int flags, ...);
int ws_win_openat(int dirfd, const char *name, int flags, ...);
int ws_win_close(int fd);
int ws_win_unlink(const char *path);
int ws_win_unlinkat(int dirfd, const char *name, int flags);
int ws_win_renameat(int olddirfd, const char *oldname, int newdirfd,
                    const char *newname);
int ws_win_rmdir(const char *path);
int ws_win_mkdir(const char *path, unsigned int mode);
int ws_win_fsync(int fd);
int ws_win_flock(int fd, int op);
int ws_win_faccessat(int dirfd, const char *name, int mode, int flags);
ssize_t ws_win_readlink(const char *path, char *buf, size_t cap);
char *ws_win_realpath(const char *path, char *resolved);
int ws_win_kill(long pid, int sig);
int ws_win_raise(int sig);
int ws_win_gethostname(char *buf, size_t cap);
ws_win_id ws_win_geteuid(void);
int ws_win_fchmod(int fd, unsigned int mode);

/* Directory listings in UTF-8 (the CRT's are in the ANSI code page). No
 * d_type: the core then opens what it needs to judge. */
struct ws_win_dirent {
  char d_name[NAME_MAX * 3 + 1];
};
typedef struct ws_win_dir ws_win_dir;
#define DIR ws_win_dir
#define dirent ws_win_dirent
#define opendir ws_win_opendir
#define fdopendir ws_win_fdopendir
#define readdir ws_win_readdir
#define rewinddir ws_win_rewinddir
#define closedir ws_win_closedir
ws_win_dir *ws_win_opendir(const char *path);
ws_win_dir *ws_win_fdopendir(int fd);
struct ws_win_dirent *ws_win_readdir(ws_win_dir *d);
void ws_win_rewinddir(ws_win_dir *d);
int ws_win_closedir(ws_win_dir *d);

/* No passwd or group database: no user is anyone's group member, so
 * trust = "group" trusts the user's own files only. */
struct passwd {
  char *pw_name;
  ws_win_id pw_gid;
};
struct group {
  char *gr_name;
  char **gr_mem;
};
int ws_win_getpwuid_r(ws_win_id uid, struct passwd *pw, char *buf, size_t cap,
                      struct passwd **res);
int ws_win_getgrgid_r(ws_win_id gid, struct group *gr, char *buf, size_t cap,
                      struct group **res);
#define getpwuid_r ws_win_getpwuid_r
#define getgrgid_r ws_win_getgrgid_r

/* This boot of this machine, for the host token (names.c): "" when it
 * cannot be told. */
void ws_win_boot_id(char *buf, size_t cap);

#endif
