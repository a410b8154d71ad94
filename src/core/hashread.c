/* Reading a payload and hashing it at once. A cold lookup must read the
 * bytes into a fresh vector (the copy floor) and verify their SHA-256
 * before returning them. Done one after the other, the hash adds its time
 * to the read's; here a second thread hashes each chunk as soon as it has
 * been read, one chunk behind the reader, so a lookup costs about the
 * larger of the two, and memory stays one copy (the hash reads the
 * caller's buffer). Small payloads are hashed inline: starting a thread
 * costs more than hashing them. No R API is used here. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ws_core.h"

/* Read and hash in chunks of this size; a payload of fewer than
 * WS_HASH_THREAD_FROM bytes is hashed on the reading thread. */
/* 1 MiB: the hasher's tail after the last read is one chunk. */
#define CHUNK ((size_t)1 << 20)
#define WS_HASH_THREAD_FROM ((size_t)8 << 20)

typedef struct hasher {
  pthread_mutex_t lock;
  pthread_cond_t more;
  const unsigned char *buf;
  size_t ready;  /* bytes read so far: the hasher may hash up to here */
  int done;      /* the reader is finished (or gave up) */
  int failed;    /* the hash failed */
  ws_sha256 *h;
} hasher;

static void *hash_behind(void *arg) {
  hasher *w = arg;
  size_t hashed = 0;
  for (;;) {
    pthread_mutex_lock(&w->lock);
    while (w->ready == hashed && !w->done) pthread_cond_wait(&w->more, &w->lock);
    size_t ready = w->ready;
    int done = w->done;
    pthread_mutex_unlock(&w->lock);
    if (ready > hashed) {
      if (ws_sha256_update(w->h, w->buf + hashed, ready - hashed) != 0) {
        pthread_mutex_lock(&w->lock);
        w->failed = 1;
        pthread_mutex_unlock(&w->lock);
        return NULL;
      }
      hashed = ready;
    } else if (done) {
      return NULL;
    }
  }
}

/* Reads up to n bytes into buf, hashing inline; *got is how many. */
static int read_hash_inline(int fd, unsigned char *buf, size_t n, ws_sha256 *h,
                            size_t *got) {
  *got = 0;
  while (*got < n) {
    size_t want = n - *got > CHUNK ? CHUNK : n - *got, chunk = 0;
    int rc = ws_read_fully(fd, buf + *got, want, &chunk);
    if (chunk > 0 && ws_sha256_update(h, buf + *got, chunk) != 0) {
      errno = EIO;
      return -1;
    }
    *got += chunk;
    if (rc != 0) return -1;
    if (chunk < want) return 0; /* end of file */
  }
  return 0;
}

int ws_read_hashed(int fd, unsigned char *buf, size_t n, ws_sha256 *h,
                   size_t *got) {
  if (n < WS_HASH_THREAD_FROM) return read_hash_inline(fd, buf, n, h, got);
  hasher w;
  memset(&w, 0, sizeof w);
  w.buf = buf;
  w.h = h;
  pthread_t thread;
  if (pthread_mutex_init(&w.lock, NULL) != 0) return read_hash_inline(fd, buf, n, h, got);
  if (pthread_cond_init(&w.more, NULL) != 0) {
    pthread_mutex_destroy(&w.lock);
    return read_hash_inline(fd, buf, n, h, got);
  }
  if (pthread_create(&thread, NULL, hash_behind, &w) != 0) {
    pthread_cond_destroy(&w.more);
    pthread_mutex_destroy(&w.lock);
    return read_hash_inline(fd, buf, n, h, got); /* no thread: one after the other */
  }
  int rc = 0, saved = 0;
  size_t total = 0;
  while (total < n) {
    size_t want = n - total > CHUNK ? CHUNK : n - total, chunk = 0;
    rc = ws_read_fully(fd, buf + total, want, &chunk);
    saved = errno;
    total += chunk;
    pthread_mutex_lock(&w.lock);
    w.ready = total;
    int stop = w.failed;
    pthread_cond_signal(&w.more);
    pthread_mutex_unlock(&w.lock);
    if (rc != 0 || chunk < want || stop) break;
  }
  pthread_mutex_lock(&w.lock);
  w.done = 1;
  pthread_cond_signal(&w.more);
  pthread_mutex_unlock(&w.lock);
  pthread_join(thread, NULL); /* it has hashed all that was read */
  int failed = w.failed;
  pthread_cond_destroy(&w.more);
  pthread_mutex_destroy(&w.lock);
  *got = total;
  if (failed) {
    errno = EIO;
    return -1;
  }
  if (rc != 0) {
    errno = saved;
    return -1;
  }
  return 0;
}
