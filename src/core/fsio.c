/* Checked system calls: every result is looked at, EINTR is retried, and
 * nothing below the store's root is reached through a symbolic link (every
 * open below the root uses O_NOFOLLOW, every stat is an lstat), so a link
 * planted in the store can neither redirect a read nor a removal outside
 * it. Files are opened O_NONBLOCK: a FIFO named like an entry must not hang
 * a lookup, and only regular files are entries. */
#include <dirent.h>
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
#include <time.h>
#include <unistd.h>

#include "platform.h"
#include "ws_core.h"

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif

void ws_stamp_from_fd_stat(const void *struct_stat, ws_stamp *out) {
  const struct stat *st = struct_stat;
  out->dev = (uint64_t)st->st_dev;
  out->ino = (uint64_t)st->st_ino;
  out->size = (uint64_t)st->st_size;
  out->type = (uint32_t)(st->st_mode & S_IFMT);
  out->perm = (uint32_t)(st->st_mode & 07777);
  out->uid = (uint32_t)st->st_uid;
  out->gid = (uint32_t)st->st_gid;
  out->mtime_s = (int64_t)WS_ST_MTIME_S(st);
  out->mtime_ns = (int64_t)WS_ST_MTIME_NS(st);
  out->ctime_s = (int64_t)WS_ST_CTIME_S(st);
  out->ctime_ns = (int64_t)WS_ST_CTIME_NS(st);
}

int ws_stamp_path(const char *path, ws_stamp *out) {
  struct stat st;
  if (lstat(path, &st) != 0) return -1;
  ws_stamp_from_fd_stat(&st, out);
  return 0;
}

int ws_stamp_at(int dirfd, const char *name, ws_stamp *out) {
  struct stat st;
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return -1;
  ws_stamp_from_fd_stat(&st, out);
  return 0;
}

int ws_stamp_fd(int fd, ws_stamp *out) {
  struct stat st;
  if (fstat(fd, &st) != 0) return -1;
  ws_stamp_from_fd_stat(&st, out);
  return 0;
}

int ws_stamp_is_regular(const ws_stamp *s) { return s->type == (uint32_t)S_IFREG; }

int ws_stamp_equal(const ws_stamp *a, const ws_stamp *b) {
  return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
         a->type == b->type && a->perm == b->perm && a->uid == b->uid &&
         a->gid == b->gid && a->mtime_s == b->mtime_s &&
         a->mtime_ns == b->mtime_ns && a->ctime_s == b->ctime_s &&
         a->ctime_ns == b->ctime_ns;
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

int64_t ws_stamp_mtime_s(const ws_stamp *s) { return s->mtime_s; }

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

/* Every durable flush of the core goes through here. On macOS fsync only
 * hands the data to the drive, whose cache may still lose it on power
 * loss; F_FULLFSYNC asks the drive to write it out. Filesystems that
 * cannot (some network and FUSE ones) refuse it, and then fsync is the
 * best there is, as SQLite does. Unlike SQLite we do not retry after other
 * errors: after a failed flush the kernel may count the pages as written,
 * and a second call would report a success that is not one. */
int ws_durable_sync(int fd) {
#ifdef F_FULLFSYNC
  if (fcntl(fd, F_FULLFSYNC) == 0) return 0;
  if (errno != ENOTSUP && errno != EINVAL) return -1;
#endif
  return fsync(fd);
}

int ws_fsync_fd_dir(int fd) {
  if (ws_durable_sync(fd) == 0) return 0;
  /* Some filesystems cannot fsync a directory; that is not a failed write. */
  return (errno == EINVAL || errno == ENOTSUP) ? 0 : -1;
}

static int open_retry(const char *path, int flags) {
  int fd;
  do fd = open(path, flags);
  while (fd < 0 && errno == EINTR);
  return fd;
}

int ws_fsync_dir(const char *path) {
  int fd = open_retry(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = ws_fsync_fd_dir(fd);
  int saved = errno;
  if (close(fd) != 0 && rc == 0) return -1;
  errno = saved;
  return rc;
}

int ws_open_dir(const char *path) {
  return open_retry(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

DIR *ws_opendir_fd(int dirfd) {
  int fd = dup(dirfd);
  DIR *d = fd < 0 ? NULL : fdopendir(fd);
  if (d == NULL) {
    int saved = errno;
    if (fd >= 0) close(fd);
    errno = saved;
    return NULL;
  }
  /* A dup shares the descriptor's offset, which an earlier listing left
   * at the end: without this, every listing after the first is empty. */
  rewinddir(d);
  return d;
}

int ws_open_regular_at(int dirfd, const char *name, ws_stamp *st) {
  int fd;
  do fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) return -1;
  ws_stamp local;
  if (st == NULL) st = &local;
  if (ws_stamp_fd(fd, st) != 0 || !ws_stamp_is_regular(st)) {
    int saved = ws_stamp_is_regular(st) ? errno : EINVAL;
    close(fd); /* read-only: nothing to lose */
    errno = saved;
    return -1;
  }
  return fd;
}

int ws_read_fully(int fd, void *buf, size_t n, size_t *got) {
  char *p = buf;
  *got = 0;
  while (*got < n) {
    size_t want = n - *got > (1u << 30) ? (1u << 30) : n - *got;
    ssize_t r = read(fd, p + *got, want);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r == 0) return 0; /* end of file before n bytes */
    *got += (size_t)r;
  }
  return 0;
}

char *ws_read_small_at(int dirfd, const char *name, size_t max, size_t *len,
                       ws_stamp *st) {
  int fd = ws_open_regular_at(dirfd, name, st);
  if (fd < 0) return NULL;
  if (st->size > max) { /* larger than any meta we write: not ours */
    close(fd);
    errno = EFBIG;
    return NULL;
  }
  char *buf = malloc((size_t)st->size + 1);
  if (buf == NULL) {
    close(fd);
    errno = ENOMEM;
    return NULL;
  }
  size_t got = 0;
  int rc = ws_read_fully(fd, buf, (size_t)st->size, &got);
  int saved = errno;
  close(fd); /* read-only descriptor: nothing to lose on close */
  if (rc != 0 || got != st->size) {
    /* A short read is not the file's content: the caller must not judge
     * the entry by it (EAGAIN: it changed under us, look again). */
    free(buf);
    errno = rc != 0 ? saved : EAGAIN;
    return NULL;
  }
  buf[got] = '\0';
  *len = got;
  return buf;
}

/* ---- locks on key dirs ----
 * A writer holds a shared lock on its key dir from its mkdir to the end of
 * its save (the pin); whoever removes things that a writer may be about to
 * replace (an empty key dir, an entry judged corrupt or abandoned) first
 * takes an exclusive lock without waiting, and leaves things alone when a
 * writer holds the dir. Where a filesystem has no locks, both go ahead
 * unlocked and the writer's retry is what remains. */

/* The lock calls fail this way where a filesystem has no locks (EBADF:
 * NFS emulates flock with POSIX locks, whose exclusive form needs a file
 * open for writing, which a directory cannot be). */
static int locks_unsupported(int err) {
  /* ENOTSUP is EOPNOTSUPP on glibc, not on MinGW. */
  return err == ENOLCK || err == EOPNOTSUPP || err == ENOTSUP || err == EINVAL ||
         err == EBADF;
}

/* The directory open on fd is still the one the path names (not removed,
 * not replaced by another made under the same name). */
static int fd_is_path(int fd, const char *path) {
  struct stat held, named;
  return fstat(fd, &held) == 0 && held.st_nlink > 0 &&
         lstat(path, &named) == 0 && held.st_dev == named.st_dev &&
         held.st_ino == named.st_ino;
}

static void nap_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* A shared lock, waited for in slices so that the caller's poll can stop
 * the wait (an R interrupt), and at most WS_LOCK_WAIT_MS in all. */
static int lock_shared(int fd, ws_poll_fn poll, void *poll_ctx) {
  long waited = 0, slice = 1;
  for (;;) {
    if (flock(fd, LOCK_SH | LOCK_NB) == 0) return 0;
    if (errno == EINTR) continue;
    if (locks_unsupported(errno)) return 0;
    if (errno != EWOULDBLOCK) return -1;
    if (poll != NULL && poll(poll_ctx) != 0) {
      errno = EINTR;
      return -1;
    }
    if (waited >= WS_LOCK_WAIT_MS) {
      errno = ETIMEDOUT;
      return -1;
    }
    nap_ms(slice);
    waited += slice;
    if (slice < 50) slice *= 2;
  }
}

int ws_dir_pin(const char *path, ws_poll_fn poll, void *poll_ctx) {
  int fd = ws_open_dir(path);
  if (fd < 0) return -1;
  if (lock_shared(fd, poll, poll_ctx) != 0) {
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

int ws_dir_lock_exclusive(int fd) {
  if (flock(fd, LOCK_EX | LOCK_NB) == 0) return 0;
  if (locks_unsupported(errno)) return 0;
  if (errno == EWOULDBLOCK || errno == EINTR) errno = EBUSY;
  return -1;
}

void ws_dir_unlock(int fd) {
  /* Closing the descriptor releases the lock too; this is for callers that
   * keep the fd. A failure leaves a lock that the close releases. */
  (void)flock(fd, LOCK_UN);
}

int ws_rmdir_unpinned(const char *path) {
  int fd = ws_open_dir(path);
  if (fd < 0) return -1;
  if (ws_dir_lock_exclusive(fd) != 0) {
    close(fd); /* a writer holds it: it is about to fill it */
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

/* Sync the directory holding `path` (made durable: the entry naming it). */
static int fsync_parent(const char *path) {
  char parent[PATH_MAX];
  size_t n = strlen(path);
  while (n > 1 && path[n - 1] == '/') n--;
  while (n > 0 && path[n - 1] != '/') n--;
  if (n == 0) return ws_fsync_dir(".");
  if (n > 1) n--; /* drop the slash, but keep "/" itself */
  if (n >= sizeof parent) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(parent, path, n);
  parent[n] = '\0';
  return ws_fsync_dir(parent);
}

int ws_mkdir_p(const char *path, int durable, int *created_leaf) {
  return ws_mkdir_p_mode(path, durable, created_leaf, 0777);
}

int ws_mkdir_p_mode(const char *path, int durable, int *created_leaf,
                    unsigned leaf_mode) {
  char buf[PATH_MAX];
  size_t n = strlen(path);
  if (created_leaf) *created_leaf = 0;
  if (n == 0 || n >= sizeof buf) {
    errno = ENAMETOOLONG;
    return -1;
  }
  /* Without trailing slashes, so that the last directory made is the leaf
   * (and gets leaf_mode). */
  memcpy(buf, path, n + 1);
  while (n > 1 && buf[n - 1] == '/') buf[--n] = '\0';
  /* The common case, a save into a store that exists, costs one call. An
   * existing non-directory is the callers' to see: both open the path as
   * a directory next (ENOTDIR) or stat it. */
  if (mkdir(buf, (mode_t)leaf_mode) == 0) {
    if (created_leaf) *created_leaf = 1;
    /* A new directory survives a crash only once its parent is synced. */
    return durable ? fsync_parent(buf) : 0;
  }
  if (errno == EEXIST) return 0;
  if (errno != ENOENT) return -1;
  /* A parent is missing: create the chain from the top. */
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != '\0') continue;
    char saved = buf[i];
    buf[i] = '\0';
    if (mkdir(buf, i == n ? (mode_t)leaf_mode : 0777) == 0) {
      if (i == n && created_leaf) *created_leaf = 1;
      if (durable && fsync_parent(buf) != 0) return -1;
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

#ifdef __linux__
/* 1 when /proc is this process's pid namespace's (it may be another's,
 * after unshare --pid without a /proc of its own). */
static int proc_is_ours(void) {
  char link[32], want[32];
  ssize_t n = readlink("/proc/self", link, sizeof link - 1);
  if (n <= 0) return 0;
  link[n] = '\0';
  snprintf(want, sizeof want, "%ld", (long)getpid());
  return strcmp(link, want) == 0;
}
#endif

/* 1 when /proc says the process is a zombie (it exited; its parent has
 * not reaped it yet). Where /proc is missing or another namespace's, we
 * cannot tell: 0 (alive, the safe answer). */
static int is_zombie(long pid) {
#ifdef __linux__ /* the format of /proc/<pid>/stat is Linux's */
  char path[64], buf[512];
  if (!proc_is_ours()) return 0;
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  int fd = open_retry(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd); /* read-only: nothing to lose */
  if (n <= 0) return 0;
  buf[n] = '\0';
  /* "pid (comm) S ...": comm may hold spaces and parentheses; the state
   * follows the last ')'. */
  char *end = strrchr(buf, ')');
  return end != NULL && end[1] == ' ' && (end[2] == 'Z' || end[2] == 'X');
#else
  (void)pid;
  return 0;
#endif
}

int ws_pid_alive(long pid) {
  /* pid 0 and negative pids would signal process groups: never live writers. */
  if (pid <= 0 || pid > INT_MAX) return 0;
  if (kill((pid_t)pid, 0) == 0) return !is_zombie(pid);
  return errno == EPERM; /* it exists, it is just not ours to signal */
}

int ws_join(char *out, size_t cap, const char *dir, const char *name) {
  int n = snprintf(out, cap, "%s/%s", dir, name);
  if (n < 0 || (size_t)n >= cap) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return 0;
}
