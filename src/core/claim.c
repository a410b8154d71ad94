/* Claims: "this process is computing the value of this key", so that other
 * processes that miss the same key wait for it instead of computing it too
 * (single flight). A claim is an exclusive lock on a file
 * `<root>/.warmstart/claims/<key>`: the kernel releases it when its holder
 * dies, however it dies, so nobody has to clean up after a crash, and on
 * NFS the lock is the server's, so it holds across hosts. Where the
 * filesystem has no locks (or keeps them per client, as sshfs does), every
 * process gets its claim and they all compute: never a deadlock, never a
 * wrong value.
 *
 * The file is removed by its holder when it lets go, so claims do not pile
 * up; a process that opened the old file and then got its lock checks that
 * the path still names what it locked, and tries again if not. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_internal.h"

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif

struct ws_claim {
  int fd;
  char path[PATH_MAX];
};

static int claim_path(ws_store *s, const char *key, char *dir, char *path) {
  char claims[PATH_MAX];
  if (ws_join(claims, PATH_MAX, s->rs->root, WS_SWEEP_MARKER_DIR) != 0 ||
      ws_join(dir, PATH_MAX, claims, "claims") != 0 ||
      ws_join(path, PATH_MAX, dir, key) != 0)
    return -1;
  /* Made on first use, with the store's modes: in a group store every
   * member must be able to claim (a claim it cannot open reads as "cannot
   * claim here", and then everyone computes). A read-only store fails
   * here (EROFS, EACCES). */
  if (ws_make_dir(&s->trust, claims, 0, NULL) != 0) return -1;
  if (ws_make_dir(&s->trust, dir, 0, NULL) != 0) return -1;
  return 0;
}

/* The claim file, made with the store's mode when it is new (trust.c), or
 * opened as it is; fd or -1 with errno. */
static int open_claim(ws_store *s, const char *dir, const char *key) {
  int dirfd = ws_open_dir(dir);
  if (dirfd < 0) return -1;
  int fd = -1;
  for (int i = 0; i < 8 && fd < 0; i++) {
    fd = ws_make_file_at(&s->trust, dirfd, key, O_RDWR | O_NONBLOCK,
                         WS_MADE_CLAIM);
    if (fd >= 0 || errno != EEXIST) break;
    do fd = openat(dirfd, key, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0 && errno != ENOENT) break; /* ENOENT: let go meanwhile */
  }
  int saved = errno;
  close(dirfd); /* read-only: nothing to lose */
  errno = saved;
  return fd;
}

/* The file open on fd is still the one the path names. */
static int still_named(int fd, const char *path) {
  struct stat held, named;
  return fstat(fd, &held) == 0 && lstat(path, &named) == 0 &&
         held.st_dev == named.st_dev && held.st_ino == named.st_ino;
}

int ws_claim_try(ws_store *s, const char *key, ws_claim **out, ws_error *err) {
  char dir[PATH_MAX], path[PATH_MAX];
  *out = NULL;
  if (ws_require_names(key, NULL, err) != 0) return -1;
  if (claim_path(s, key, dir, path) != 0) {
    ws_error_io(err, errno, path, "cannot make the claims directory of '%s': %s",
                s->rs->root, strerror(errno));
    return -1;
  }
  /* A few turns at most: each means the holder let go (and removed the
   * file) between our open and our lock. */
  for (int attempt = 0; attempt < 8; attempt++) {
    int fd = open_claim(s, dir, key);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
      close(fd); /* a FIFO or device planted at the name: not a claim */
      fd = -1;
      errno = EINVAL;
    }
    if (fd < 0) {
      ws_error_io(err, errno, path, "cannot open the claim '%s': %s", path,
                  strerror(errno));
      return -1;
    }
    int rc;
    do rc = flock(fd, LOCK_EX | LOCK_NB);
    while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      int saved = errno;
      if (saved == EWOULDBLOCK) {
        close(fd); /* another process holds it; nothing was written */
        return 0;
      }
      /* ENOTSUP is EOPNOTSUPP on glibc, not on MinGW. */
      if (saved != ENOLCK && saved != EOPNOTSUPP && saved != ENOTSUP &&
          saved != EINVAL) {
        close(fd);
        ws_error_io(err, saved, path, "cannot lock the claim '%s': %s", path,
                    strerror(saved));
        return -1;
      }
      /* No locks here: a claim that excludes nobody, and everyone computes. */
    } else if (!still_named(fd, path)) {
      close(fd); /* a released, removed claim: the next one is a new file */
      continue;
    }
    ws_claim *c = malloc(sizeof *c);
    if (c == NULL) {
      close(fd);
      ws_error_set(err, ENOMEM, "out of memory claiming '%s'", key);
      return -1;
    }
    c->fd = fd;
    memcpy(c->path, path, sizeof c->path);
    *out = c;
    return 1;
  }
  return 0; /* it keeps changing hands: someone holds it */
}

void ws_claim_release(ws_claim *c) {
  if (c == NULL) return;
  /* Remove the file while we hold it, then let go: a waiter that opened
   * it sees that the path no longer names it and opens a new one. */
  if (still_named(c->fd, c->path)) (void)unlink(c->path);
  close(c->fd); /* releases the lock; nothing was written to it */
  free(c);
}
