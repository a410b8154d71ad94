/* An LD_PRELOAD shim for tests: reads of files whose name ends in the
 * suffix WS_READFAULT_SUFFIX (default ".bin") fail while the environment
 * variable WS_READFAULT is set:
 *   WS_READFAULT=eio    read() fails with EIO
 *   WS_READFAULT=short  read() returns at most 3 bytes, then end of file
 * The variable is read at each call, so a test can arm and disarm it
 * with Sys.setenv() in the process itself. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define MAX_FD 4096
static unsigned char marked[MAX_FD];
static unsigned char ended[MAX_FD];

static int matches(const char *path) {
  const char *suffix = getenv("WS_READFAULT_SUFFIX");
  if (suffix == NULL) suffix = ".bin";
  size_t n = strlen(path), k = strlen(suffix);
  return n >= k && strcmp(path + n - k, suffix) == 0;
}

static void mark(int fd, const char *path) {
  if (fd >= 0 && fd < MAX_FD) {
    marked[fd] = (unsigned char)matches(path);
    ended[fd] = 0;
  }
}

int openat(int dirfd, const char *path, int flags, ...) {
  static int (*real)(int, const char *, int, ...) = NULL;
  if (real == NULL) real = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, "openat");
  mode_t mode = 0;
  if (flags & O_CREAT) {
    va_list ap;
    va_start(ap, flags);
    mode = (mode_t)va_arg(ap, int);
    va_end(ap);
  }
  int fd = real(dirfd, path, flags, mode);
  mark(fd, path);
  return fd;
}

int open(const char *path, int flags, ...) {
  static int (*real)(const char *, int, ...) = NULL;
  if (real == NULL) real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
  mode_t mode = 0;
  if (flags & O_CREAT) {
    va_list ap;
    va_start(ap, flags);
    mode = (mode_t)va_arg(ap, int);
    va_end(ap);
  }
  int fd = real(path, flags, mode);
  mark(fd, path);
  return fd;
}

ssize_t read(int fd, void *buf, size_t n) {
  static ssize_t (*real)(int, void *, size_t) = NULL;
  if (real == NULL) real = (ssize_t (*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
  const char *mode = getenv("WS_READFAULT");
  if (mode == NULL || fd < 0 || fd >= MAX_FD || !marked[fd]) return real(fd, buf, n);
  if (strcmp(mode, "eio") == 0) {
    errno = EIO;
    return -1;
  }
  if (strcmp(mode, "short") == 0) {
    if (ended[fd]) return 0;
    ended[fd] = 1;
    return real(fd, buf, n < 3 ? n : 3);
  }
  return real(fd, buf, n);
}
