/* Checked system calls: every result is looked at, EINTR is retried. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "ws_core.h"

void ws_stamp_from_fd_stat(const void *struct_stat, ws_stamp *out) {
  const struct stat *st = struct_stat;
  out->dev = (uint64_t)st->st_dev;
  out->ino = (uint64_t)st->st_ino;
  out->size = (uint64_t)st->st_size;
  out->mtime_s = (int64_t)st->st_mtim.tv_sec;
  out->mtime_ns = (int64_t)st->st_mtim.tv_nsec;
  out->ctime_s = (int64_t)st->st_ctim.tv_sec;
  out->ctime_ns = (int64_t)st->st_ctim.tv_nsec;
}

int ws_stamp_path(const char *path, ws_stamp *out) {
  struct stat st;
  if (stat(path, &st) != 0) return -1;
  ws_stamp_from_fd_stat(&st, out);
  return 0;
}

int ws_stamp_equal(const ws_stamp *a, const ws_stamp *b) {
  return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
         a->mtime_s == b->mtime_s && a->mtime_ns == b->mtime_ns &&
         a->ctime_s == b->ctime_s && a->ctime_ns == b->ctime_ns;
}

/* A stamp proves "unchanged" only once the file's clock has moved past it.
 * File times come from a coarse kernel clock (a timer tick on Linux, whole
 * seconds on some filesystems), so two changes within one tick can leave
 * identical times, and an inode freed and reused within the tick can even
 * repeat the size. Like git's racy-clean rule, a stamp taken less than one
 * tick after the file changed is not trusted; the caller re-reads instead. */
int ws_stamp_settled(const ws_stamp *s, uint64_t real_now_ns) {
  int64_t m = s->mtime_s * 1000000000LL + s->mtime_ns;
  int64_t c = s->ctime_s * 1000000000LL + s->ctime_ns;
  int64_t latest = m > c ? m : c;
  /* Whole-second (or coarser) timestamps show as zero nanoseconds. */
  int64_t tick = (s->mtime_ns == 0 && s->ctime_ns == 0) ? 2000000000LL
                                                        : 50000000LL;
  return (int64_t)real_now_ns - latest > tick;
}

int ws_write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    /* Chunked: a single write of more than 2 GiB is cut short on Linux. */
    size_t chunk = n > (1u << 30) ? (1u << 30) : n;
    ssize_t w = write(fd, p, chunk);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (w == 0) {
      errno = EIO;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int ws_fsync_fd_dir(int fd) {
  if (fsync(fd) == 0) return 0;
  /* Some filesystems cannot fsync a directory; that is not a failed write. */
  return (errno == EINVAL || errno == ENOTSUP) ? 0 : -1;
}

int ws_fsync_dir(const char *path) {
  int fd;
  do fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) return -1;
  int rc = ws_fsync_fd_dir(fd);
  int saved = errno;
  if (close(fd) != 0 && rc == 0) return -1;
  errno = saved;
  return rc;
}

/* The lock calls fail this way where a filesystem has no locks. */
static int locks_unsupported(int err) {
  return err == ENOLCK || err == EOPNOTSUPP || err == EINVAL;
}

/* The directory open on fd is still the one the path names (not removed,
 * not replaced by another made under the same name). */
static int fd_is_path(int fd, const char *path) {
  struct stat held, named;
  return fstat(fd, &held) == 0 && held.st_nlink > 0 && stat(path, &named) == 0 &&
         held.st_dev == named.st_dev && held.st_ino == named.st_ino;
}

/* Opens an existing directory and takes a shared lock on it, so that a
 * sibling's sweep (ws_rmdir_unpinned) cannot remove it while we are about to
 * put a file in it: an empty key dir is removable, and the window between
 * our mkdir and our first temp is exactly where gam#868 lost saves. (The
 * writer holds the pin to the end of its save, and fsyncs the dir with it.) Returns
 * the fd, or -1 with errno ENOENT when the dir is gone (or was replaced)
 * by the time we held the lock: the caller creates it again. */
int ws_dir_pin(const char *path) {
  int fd;
  do fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) return -1;
  int rc;
  do rc = flock(fd, LOCK_SH);
  while (rc != 0 && errno == EINTR);
  /* Without locks (some network filesystems) we pin nothing, and the
   * caller's retry is what remains. */
  if (rc != 0 && !locks_unsupported(errno)) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  /* The sweep may have removed the dir between our open and our lock. */
  if (!fd_is_path(fd, path)) {
    close(fd);
    errno = ENOENT;
    return -1;
  }
  return fd;
}

int ws_rmdir_unpinned(const char *path) {
  int fd;
  do fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) return -1;
  if (flock(fd, LOCK_EX | LOCK_NB) != 0 && !locks_unsupported(errno)) {
    close(fd); /* a writer holds it (EWOULDBLOCK): it is about to fill it */
    errno = EBUSY;
    return -1;
  }
  /* Remove only the dir we locked, not one recreated under its name. */
  int rc = -1;
  if (fd_is_path(fd, path))
    rc = rmdir(path);
  else
    errno = ENOENT;
  int saved = errno;
  close(fd); /* releases the lock; a read-only fd has nothing to lose */
  errno = saved;
  return rc;
}


int ws_mkdir_p(const char *path, int *created_leaf) {
  char buf[PATH_MAX];
  size_t n = strlen(path);
  if (created_leaf) *created_leaf = 0;
  if (n == 0 || n >= sizeof buf) {
    errno = ENAMETOOLONG;
    return -1;
  }
  /* The common case, a save into a store that exists, costs one call. An
   * existing non-directory is the callers' to see: both open the path as
   * a directory next (ENOTDIR) or stat it. */
  if (mkdir(path, 0777) == 0) {
    if (created_leaf) *created_leaf = 1;
    return 0;
  }
  if (errno == EEXIST) return 0;
  if (errno != ENOENT) return -1;
  /* A parent is missing: create the chain from the top. */
  memcpy(buf, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != '\0') continue;
    char saved = buf[i];
    buf[i] = '\0';
    if (mkdir(buf, 0777) == 0) {
      if (i == n && created_leaf) *created_leaf = 1;
    } else if (errno != EEXIST) {
      return -1;
    } else {
      struct stat st;
      if (stat(buf, &st) != 0) return -1;
      if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
      }
    }
    buf[i] = saved;
  }
  return 0;
}

/* 1 when /proc says the process is a zombie (it exited; its parent has
 * not reaped it yet). Where /proc is missing, we cannot tell: 0. */
static int is_zombie(long pid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd); /* read-only: nothing to lose */
  if (n <= 0) return 0;
  buf[n] = '\0';
  /* "pid (comm) S ...": comm may hold spaces and parentheses; the state
   * follows the last ')'. */
  char *end = strrchr(buf, ')');
  return end != NULL && end[1] == ' ' && (end[2] == 'Z' || end[2] == 'X');
}

int ws_pid_alive(long pid) {
  /* pid 0 and negative pids would signal process groups: never live writers. */
  if (pid <= 0 || pid > INT_MAX) return 0;
  if (kill((pid_t)pid, 0) == 0) return !is_zombie(pid);
  return errno == EPERM; /* it exists, it is just not ours to signal */
}

char *ws_read_small_file(const char *path, size_t max, size_t *len) {
  int fd;
  do fd = open(path, O_RDONLY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) return NULL;
  char *buf = malloc(max + 1);
  size_t got = 0;
  if (buf == NULL) {
    close(fd);
    errno = ENOMEM;
    return NULL;
  }
  for (;;) {
    ssize_t r = read(fd, buf + got, max + 1 - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int saved = errno;
      free(buf);
      close(fd);
      errno = saved;
      return NULL;
    }
    if (r == 0) break;
    got += (size_t)r;
    if (got > max) { /* larger than any meta we write: not ours */
      free(buf);
      close(fd);
      errno = EFBIG;
      return NULL;
    }
  }
  close(fd); /* read-only descriptor: nothing to lose on close */
  buf[got] = '\0';
  *len = got;
  return buf;
}

int ws_join(char *out, size_t cap, const char *dir, const char *name) {
  int n = snprintf(out, cap, "%s/%s", dir, name);
  if (n < 0 || (size_t)n >= cap) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return 0;
}

