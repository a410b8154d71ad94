/* An LD_PRELOAD shim for the tests: it records the file system calls a
 * process makes on paths under a watched pattern, and makes chosen calls
 * fail, so that the tests can check the order of a durable save's syscalls
 * and run the error paths a real disk seldom takes (a failing fsync or
 * close, a payload read that fails or comes back short).
 *
 * Driven by environment variables, read once:
 *   WS_SHIM_LOG     file to append a line per recorded call to:
 *                   "<op>\t<path>[\t<second path or detail>]\t<result>"
 *   WS_SHIM_WATCH   fnmatch(3) pattern of the paths to record ('*' matches
 *                   '/' too); nothing is recorded without it
 *   WS_SHIM_FAULTS  ';'-separated "op:pattern:nth:action":
 *                   op      open read write fsync close rename fstat stat
 *                           mkdir unlink rmdir opendir flock fchmod (fsync covers
 *                           fdatasync, open openat, rename renameat,
 *                           stat lstat and fstatat, opendir fdopendir)
 *                   pattern fnmatch(3) pattern of the path (for rename the
 *                           source); fd calls match the fd's path
 *                   nth     the nth matching call (1-based), "N+" for the
 *                           nth and every later one
 *                   action  an errno name (EIO, ENOSPC, EACCES, EINTR...):
 *                           the call fails with it (close closes first, as
 *                           Linux does); "short": a read returns half of
 *                           what is left of the file and the fd then reads
 *                           as at its end; "eof": a read returns 0 (the file seems
 *                           to end there); "zero": a read or write returns 0;
 *                           "stop": SIGSTOP this process just before
 *                           the call (it goes on after SIGCONT); "touch":
 *                           set the path's times to now just before it;
 *                           "remove": rmdir (or unlink) the path just
 *                           before it, as a sibling process would
 * Paths of fd calls come from /proc/self/fd; relative paths of *at calls
 * are joined to their directory fd's path. Only calls that go through the
 * dynamic linker are seen: the store's own, not libc's internal ones. */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#define MAX_FAULTS 8
#define MAX_FDS 4096

typedef struct fault {
  char op[16];
  char pattern[PATH_MAX];
  long nth, seen;
  int and_later;
  int errnum; /* 0 for the actions below */
  char action[16];
} fault;

static int ready = 0, log_fd = -1;
static char watch[PATH_MAX];
static fault faults[MAX_FAULTS];
static int nfaults = 0;
static unsigned char at_eof[MAX_FDS]; /* fds a "short" read left at EOF */

static const struct { const char *name; int value; } errnos[] = {
    {"EIO", EIO},       {"ENOSPC", ENOSPC}, {"EACCES", EACCES},
    {"EINTR", EINTR},   {"EINVAL", EINVAL}, {"ENOENT", ENOENT},
    {"EROFS", EROFS},   {"EPERM", EPERM},   {"ENOMEM", ENOMEM},
    {"EBADF", EBADF},   {"EMFILE", EMFILE}, {"ENOTSUP", ENOTSUP},
    {"EFBIG", EFBIG},   {"ENOLCK", ENOLCK}, {"EDQUOT", EDQUOT},
    {"ESTALE", ESTALE}, {"EAGAIN", EAGAIN}, {"ENOTDIR", ENOTDIR}};

static void *next(const char *name) { return dlsym(RTLD_NEXT, name); }

static void parse_faults(const char *spec) {
  char *copy = strdup(spec), *save = NULL;
  if (copy == NULL) return;
  for (char *item = strtok_r(copy, ";", &save); item != NULL && nfaults < MAX_FAULTS;
       item = strtok_r(NULL, ";", &save)) {
    fault *f = &faults[nfaults];
    char *p1 = strchr(item, ':'), *p3 = strrchr(item, ':');
    if (p1 == NULL || p3 == p1) continue;
    *p1 = *p3 = '\0';
    char *p2 = strrchr(p1 + 1, ':'); /* the pattern may not hold ':' */
    if (p2 == NULL) continue;
    *p2 = '\0';
    memset(f, 0, sizeof *f);
    snprintf(f->op, sizeof f->op, "%s", item);
    snprintf(f->pattern, sizeof f->pattern, "%s", p1 + 1);
    char *end = NULL;
    f->nth = strtol(p2 + 1, &end, 10);
    f->and_later = end != NULL && *end == '+';
    snprintf(f->action, sizeof f->action, "%s", p3 + 1);
    for (size_t i = 0; i < sizeof errnos / sizeof errnos[0]; i++)
      if (strcmp(errnos[i].name, f->action) == 0) f->errnum = errnos[i].value;
    nfaults++;
  }
  free(copy);
}

static void init(void) {
  if (ready) return;
  ready = 1;
  const char *w = getenv("WS_SHIM_WATCH");
  if (w != NULL) snprintf(watch, sizeof watch, "%s", w);
  const char *spec = getenv("WS_SHIM_FAULTS");
  if (spec != NULL) parse_faults(spec);
  const char *log = getenv("WS_SHIM_LOG");
  if (log != NULL && watch[0] != '\0') {
    int (*real_open)(const char *, int, ...) = next("open");
    log_fd = real_open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  }
}

static void fd_path(int fd, char *out, size_t cap) {
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, out, cap - 1);
  out[n > 0 ? n : 0] = '\0';
}

static void at_path(int dirfd, const char *path, char *out, size_t cap) {
  if (path == NULL) {
    out[0] = '\0';
  } else if (path[0] == '/' || dirfd == AT_FDCWD) {
    if (path[0] == '/' || getcwd(out, cap) == NULL)
      snprintf(out, cap, "%s", path);
    else {
      size_t n = strlen(out);
      snprintf(out + n, cap - n, "/%s", path);
    }
  } else {
    fd_path(dirfd, out, cap);
    size_t n = strlen(out);
    snprintf(out + n, cap - n, "/%s", path);
  }
}

static int watched(const char *path) {
  return watch[0] != '\0' && path[0] != '\0' && fnmatch(watch, path, 0) == 0;
}

static void record(const char *op, const char *path, const char *extra, long result) {
  if (log_fd < 0 || !(watched(path) || (extra != NULL && watched(extra)))) return;
  char line[2 * PATH_MAX + 64];
  int n = snprintf(line, sizeof line, "%s\t%s\t%s\t%ld\n", op, path,
                   extra ? extra : "", result);
  if (n > 0) (void)syscall(SYS_write, log_fd, line, (size_t)(n < (int)sizeof line ? n : (int)sizeof line - 1));
}

/* The fault armed for this call, or NULL. */
static fault *armed(const char *op, const char *path) {
  for (int i = 0; i < nfaults; i++) {
    fault *f = &faults[i];
    if (strcmp(f->op, op) != 0 || fnmatch(f->pattern, path, 0) != 0) continue;
    f->seen++;
    if (f->seen == f->nth || (f->and_later && f->seen > f->nth)) return f;
  }
  return NULL;
}

/* Runs the actions that happen before the call; 1 when the call must fail
 * with f->errnum instead of running. */
static int before(fault *f, const char *path) {
  if (f == NULL) return 0;
  if (strcmp(f->action, "stop") == 0) {
    raise(SIGSTOP);
    return 0;
  }
  if (strcmp(f->action, "touch") == 0) {
    (void)utimensat(AT_FDCWD, path, NULL, 0);
    return 0;
  }
  if (strcmp(f->action, "remove") == 0) {
    (void)syscall(SYS_unlinkat, AT_FDCWD, path, AT_REMOVEDIR);
    (void)syscall(SYS_unlinkat, AT_FDCWD, path, 0);
    return 0;
  }
  return f->errnum != 0;
}

/* ---- open ---- */

static int do_open(int dirfd, const char *path, int flags, mode_t mode) {
  char full[PATH_MAX];
  at_path(dirfd, path, full, sizeof full);
  fault *f = armed("open", full);
  if (before(f, full)) {
    errno = f->errnum;
    record("open", full, "fault", -1);
    return -1;
  }
  static int (*real_openat)(int, const char *, int, ...) = NULL;
  if (real_openat == NULL) real_openat = next("openat");
  int fd = real_openat(dirfd, path, flags, mode);
  int saved = errno;
  char detail[16];
  snprintf(detail, sizeof detail, "%s%s", (flags & O_CREAT) ? "creat" : "",
           (flags & O_DIRECTORY) ? "dir" : "");
  record("open", full, detail, fd);
  if (fd >= 0 && fd < MAX_FDS) at_eof[fd] = 0;
  errno = saved;
  return fd;
}

static mode_t mode_arg(int flags, va_list ap) {
  return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...) {
  init();
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return do_open(AT_FDCWD, path, flags, mode);
}

int open64(const char *path, int flags, ...) {
  init();
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return do_open(AT_FDCWD, path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...) {
  init();
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return do_open(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...) {
  init();
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return do_open(dirfd, path, flags, mode);
}

int __open_2(const char *path, int flags) {
  init();
  return do_open(AT_FDCWD, path, flags, 0);
}

int __open64_2(const char *path, int flags) {
  init();
  return do_open(AT_FDCWD, path, flags, 0);
}

int __openat_2(int dirfd, const char *path, int flags) {
  init();
  return do_open(dirfd, path, flags, 0);
}

int __openat64_2(int dirfd, const char *path, int flags) {
  init();
  return do_open(dirfd, path, flags, 0);
}

/* ---- read, write ---- */

static ssize_t do_read(int fd, void *buf, size_t n) {
  static ssize_t (*real)(int, void *, size_t) = NULL;
  if (real == NULL) real = next("read");
  if (nfaults == 0) return real(fd, buf, n);
  if (fd >= 0 && fd < MAX_FDS && at_eof[fd]) return 0;
  char path[PATH_MAX];
  fd_path(fd, path, sizeof path);
  fault *f = armed("read", path);
  if (f != NULL && strcmp(f->action, "short") == 0) {
    /* Half of what is left of the file (or of what was asked). */
    static int (*real_fstat)(int, struct stat *) = NULL;
    if (real_fstat == NULL) real_fstat = next("fstat");
    struct stat st;
    off_t at = lseek(fd, 0, SEEK_CUR);
    size_t want = n;
    if (at >= 0 && real_fstat(fd, &st) == 0 && st.st_size > at) {
      size_t left = (size_t)(st.st_size - at);
      if (left / 2 < want) want = left > 1 ? left / 2 : left;
    } else if (n > 1) {
      want = n / 2;
    }
    ssize_t r = real(fd, buf, want);
    if (fd >= 0 && fd < MAX_FDS) at_eof[fd] = 1;
    return r;
  }
  if (f != NULL && (strcmp(f->action, "eof") == 0 || strcmp(f->action, "zero") == 0))
    return 0;
  if (before(f, path)) {
    errno = f->errnum;
    return -1;
  }
  return real(fd, buf, n);
}

ssize_t read(int fd, void *buf, size_t n) {
  init();
  return do_read(fd, buf, n);
}

ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen) {
  (void)buflen;
  init();
  return do_read(fd, buf, n);
}

ssize_t write(int fd, const void *buf, size_t n) {
  init();
  static ssize_t (*real)(int, const void *, size_t) = NULL;
  if (real == NULL) real = next("write");
  if (fd == log_fd || (nfaults == 0 && log_fd < 0)) return real(fd, buf, n);
  char path[PATH_MAX];
  fd_path(fd, path, sizeof path);
  fault *f = armed("write", path);
  if (f != NULL && strcmp(f->action, "zero") == 0) {
    record("write", path, "fault", 0);
    return 0;
  }
  if (before(f, path)) {
    errno = f->errnum;
    record("write", path, "fault", -1);
    return -1;
  }
  ssize_t w = real(fd, buf, n);
  int saved = errno;
  record("write", path, NULL, w);
  errno = saved;
  return w;
}

/* ---- fsync, close ---- */

static int do_sync(const char *op, int fd, int (*real)(int)) {
  char path[PATH_MAX];
  fd_path(fd, path, sizeof path);
  fault *f = armed("fsync", path);
  if (before(f, path)) {
    errno = f->errnum;
    record(op, path, "fault", -1);
    return -1;
  }
  int rc = real(fd);
  int saved = errno;
  record(op, path, NULL, rc);
  errno = saved;
  return rc;
}

int fsync(int fd) {
  init();
  static int (*real)(int) = NULL;
  if (real == NULL) real = next("fsync");
  return do_sync("fsync", fd, real);
}

int fdatasync(int fd) {
  init();
  static int (*real)(int) = NULL;
  if (real == NULL) real = next("fdatasync");
  return do_sync("fdatasync", fd, real);
}

int close(int fd) {
  init();
  static int (*real)(int) = NULL;
  if (real == NULL) real = next("close");
  if (fd == log_fd || (nfaults == 0 && log_fd < 0)) return real(fd);
  char path[PATH_MAX];
  fd_path(fd, path, sizeof path);
  fault *f = armed("close", path);
  if (fd >= 0 && fd < MAX_FDS) at_eof[fd] = 0;
  int rc = real(fd); /* Linux releases the fd even when close fails */
  int saved = errno;
  if (f != NULL && f->errnum != 0) {
    rc = -1;
    saved = f->errnum;
  }
  record("close", path, f ? "fault" : NULL, rc);
  errno = saved;
  return rc;
}

/* ---- fchmod ---- */

/* Only a faulted call is recorded: the save-order tests compare logs made
 * before fchmod was seen here. */
int fchmod(int fd, mode_t mode) {
  init();
  static int (*real)(int, mode_t) = NULL;
  if (real == NULL) real = next("fchmod");
  if (nfaults == 0) return real(fd, mode);
  char path[PATH_MAX];
  fd_path(fd, path, sizeof path);
  fault *f = armed("fchmod", path);
  if (before(f, path)) {
    errno = f->errnum;
    record("fchmod", path, "fault", -1);
    return -1;
  }
  return real(fd, mode);
}

/* ---- flock ---- */

int flock(int fd, int op) {
  init();
  static int (*real)(int, int) = NULL;
  if (real == NULL) real = next("flock");
  if (nfaults == 0 && log_fd < 0) return real(fd, op);
  char path[PATH_MAX];
  fd_path(fd, path, sizeof path);
  fault *f = armed("flock", path);
  if (before(f, path)) {
    errno = f->errnum;
    record("flock", path, "fault", -1);
    return -1;
  }
  int rc = real(fd, op);
  int saved = errno;
  record("flock", path, NULL, rc);
  errno = saved;
  return rc;
}

/* ---- fstat ---- */

static int stat_fault(int fd) {
  if (nfaults == 0) return 0;
  char path[PATH_MAX];
  fd_path(fd, path, sizeof path);
  fault *f = armed("fstat", path);
  if (before(f, path)) {
    errno = f->errnum;
    return 1;
  }
  return 0;
}

int fstat(int fd, struct stat *st) {
  init();
  static int (*real)(int, struct stat *) = NULL;
  if (real == NULL) real = next("fstat");
  return stat_fault(fd) ? -1 : real(fd, st);
}

int fstat64(int fd, struct stat64 *st) {
  init();
  static int (*real)(int, struct stat64 *) = NULL;
  if (real == NULL) real = next("fstat64");
  return stat_fault(fd) ? -1 : real(fd, st);
}

static int path_stat_fault(int dirfd, const char *path) {
  if (nfaults == 0) return 0;
  char full[PATH_MAX];
  at_path(dirfd, path, full, sizeof full);
  fault *f = armed("stat", full);
  if (before(f, full)) {
    errno = f->errnum;
    return 1;
  }
  return 0;
}

int stat(const char *path, struct stat *st) {
  init();
  static int (*real)(const char *, struct stat *) = NULL;
  if (real == NULL) real = next("stat");
  return path_stat_fault(AT_FDCWD, path) ? -1 : real(path, st);
}

int lstat(const char *path, struct stat *st) {
  init();
  static int (*real)(const char *, struct stat *) = NULL;
  if (real == NULL) real = next("lstat");
  return path_stat_fault(AT_FDCWD, path) ? -1 : real(path, st);
}

int fstatat(int dirfd, const char *path, struct stat *st, int flags) {
  init();
  static int (*real)(int, const char *, struct stat *, int) = NULL;
  if (real == NULL) real = next("fstatat");
  if ((flags & AT_EMPTY_PATH) && path[0] == '\0') {
    if (stat_fault(dirfd)) return -1;
  } else if (path_stat_fault(dirfd, path)) {
    return -1;
  }
  return real(dirfd, path, st, flags);
}

/* ---- rename, mkdir, unlink, opendir ---- */

static int do_rename(int olddirfd, const char *oldpath, int newdirfd,
                     const char *newpath, unsigned flags) {
  char from[PATH_MAX], to[PATH_MAX];
  at_path(olddirfd, oldpath, from, sizeof from);
  at_path(newdirfd, newpath, to, sizeof to);
  fault *f = armed("rename", from);
  if (before(f, from)) {
    errno = f->errnum;
    record("rename", from, to, -1);
    return -1;
  }
  static int (*real)(int, const char *, int, const char *, unsigned) = NULL;
  if (real == NULL) real = next("renameat2");
  int rc = real(olddirfd, oldpath, newdirfd, newpath, flags);
  int saved = errno;
  record("rename", from, to, rc);
  errno = saved;
  return rc;
}

int rename(const char *oldpath, const char *newpath) {
  init();
  return do_rename(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0);
}

int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath) {
  init();
  return do_rename(olddirfd, oldpath, newdirfd, newpath, 0);
}

int renameat2(int olddirfd, const char *oldpath, int newdirfd,
              const char *newpath, unsigned flags) {
  init();
  return do_rename(olddirfd, oldpath, newdirfd, newpath, flags);
}

static int path_call(const char *op, int dirfd, const char *path, int (*run)(void *), void *ctx) {
  char full[PATH_MAX];
  at_path(dirfd, path, full, sizeof full);
  fault *f = armed(op, full);
  if (before(f, full)) {
    errno = f->errnum;
    record(op, full, "fault", -1);
    return -1;
  }
  int rc = run(ctx);
  int saved = errno;
  record(op, full, NULL, rc);
  errno = saved;
  return rc;
}

typedef struct { int dirfd; const char *path; mode_t mode; int flags; } args;

static int run_mkdirat(void *p) {
  args *a = p;
  static int (*real)(int, const char *, mode_t) = NULL;
  if (real == NULL) real = next("mkdirat");
  return real(a->dirfd, a->path, a->mode);
}

int mkdir(const char *path, mode_t mode) {
  init();
  args a = {AT_FDCWD, path, mode, 0};
  return path_call("mkdir", AT_FDCWD, path, run_mkdirat, &a);
}

int mkdirat(int dirfd, const char *path, mode_t mode) {
  init();
  args a = {dirfd, path, mode, 0};
  return path_call("mkdir", dirfd, path, run_mkdirat, &a);
}

static int run_unlinkat(void *p) {
  args *a = p;
  static int (*real)(int, const char *, int) = NULL;
  if (real == NULL) real = next("unlinkat");
  return real(a->dirfd, a->path, a->flags);
}

int unlink(const char *path) {
  init();
  args a = {AT_FDCWD, path, 0, 0};
  return path_call("unlink", AT_FDCWD, path, run_unlinkat, &a);
}

int rmdir(const char *path) {
  init();
  args a = {AT_FDCWD, path, 0, AT_REMOVEDIR};
  return path_call("rmdir", AT_FDCWD, path, run_unlinkat, &a);
}

int unlinkat(int dirfd, const char *path, int flags) {
  init();
  args a = {dirfd, path, 0, flags};
  return path_call((flags & AT_REMOVEDIR) ? "rmdir" : "unlink", dirfd, path,
                   run_unlinkat, &a);
}

DIR *opendir(const char *path) {
  init();
  static DIR *(*real)(const char *) = NULL;
  if (real == NULL) real = next("opendir");
  char full[PATH_MAX];
  at_path(AT_FDCWD, path, full, sizeof full);
  fault *f = armed("opendir", full);
  if (before(f, full)) {
    errno = f->errnum;
    return NULL;
  }
  return real(path);
}

DIR *fdopendir(int fd) {
  init();
  static DIR *(*real)(int) = NULL;
  if (real == NULL) real = next("fdopendir");
  char full[PATH_MAX];
  fd_path(fd, full, sizeof full);
  fault *f = armed("opendir", full);
  if (before(f, full)) {
    errno = f->errnum;
    return NULL;
  }
  return real(fd);
}
