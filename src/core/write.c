/* Writing one entry: temp -> fsync -> rename, payload before meta, meta
 * stamped once the payload is in place. A crash at any point leaves either
 * the old state, an invisible payload, or abandoned temps, never an entry
 * whose meta describes bytes that are not there. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <unistd.h>

#include "store_internal.h"

static int open_new_at(const ws_store *s, int dirfd, const char *name) {
  return ws_make_file_at(&s->trust, dirfd, name, O_WRONLY, WS_MADE_ENTRY);
}

static int finish_file(int fd, int durable) {
  int rc = 0, saved = 0;
  if (durable && ws_durable_sync(fd) != 0) {
    rc = -1;
    saved = errno;
  }
  /* close can report a deferred write error (NFS): it counts. */
  if (close(fd) != 0 && rc == 0) {
    rc = -1;
    saved = errno;
  }
  errno = saved;
  return rc;
}

/* Bounds the mkdir/pin loop below: each turn means a sibling removed the
 * dir in a window of a few syscalls, so more than a handful is a dir that
 * something keeps deleting, and the save fails rather than spin. */
#define PIN_ATTEMPTS 16

/* Create the key dir (again, on a retry or when a sibling's sweep removed
 * it) and pin it until the entry is in it: the sweep removes a key dir the
 * moment it sees it empty (gam#868). Returns the pinned dir's fd; all the
 * writing happens relative to it, never through a link (a key dir that is
 * a link fails here with ELOOP or ENOTDIR). */
static int pin_key_dir(ws_store *s, const char *dir) {
  for (int i = 0; i < PIN_ATTEMPTS; i++) {
    /* A sibling's sweep may remove the new dir before its mode is set
     * (ENOENT): made again on the next turn. */
    if (ws_make_dir(&s->trust, dir, 0, NULL) != 0) {
      if (errno == ENOENT) continue;
      return -1;
    }
    if (ws_fault(s, WS_FAULT_AFTER_MKDIR, dir) != 0) return -1;
    int fd = ws_dir_pin(dir, s->poll, s->poll_ctx);
    if (fd >= 0 || errno != ENOENT) return fd;
  }
  errno = ENOENT;
  return -1;
}

/* A save writes only into a key dir that those trusted alone can write:
 * else what it saves could be read or replaced by others. */
static int trusted_dir(ws_store *s, int fd, const char *dir, ws_error *err) {
  ws_stamp st;
  if (ws_stamp_fd(fd, &st) != 0) {
    ws_error_io(err, errno, dir, "cannot stat '%s': %s", dir, strerror(errno));
    return -1;
  }
  return ws_trust_check(&s->trust, &st, dir, err);
}

static int name_of(char *out, const char *run_id, const char *suffix) {
  int n = snprintf(out, NAME_MAX + 1, "%s%s", run_id, suffix);
  if (n < 0 || n > NAME_MAX) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return 0;
}

int ws_write_entry(ws_store *s, const char *key, const char *dir,
                   const char *run_id,
                   unsigned attempt, uint64_t nonce, const void *payload,
                   size_t n, ws_meta *meta, const char *label, int overwrite,
                   int *retryable, ws_error *err) {
  char bin_tmp[NAME_MAX + 1], meta_tmp[NAME_MAX + 1], bin_final[NAME_MAX + 1],
      meta_final[NAME_MAX + 1];
  /* ".tmp." pid, nonce, attempt (20 digits each at most) and the token. */
  char suffix[96], bin_suffix[104], meta_suffix[104];
  long pid = (long)getpid();
  int dir_fd = -1, bin_fd = -1, meta_fd = -1, bin_promoted = 0;
  const char *step = "creating the key directory";
  char *json = NULL;
  *retryable = 0;
  bin_tmp[0] = meta_tmp[0] = '\0';

  /* The temp names carry the writer's pid and host token: whoever shares
   * the token can tell whether the writer lives (scan.c). */
  snprintf(suffix, sizeof suffix, ".tmp.%ld.%" PRIu64 ".%u.%s", pid, nonce,
           attempt, ws_host_token());
  snprintf(bin_suffix, sizeof bin_suffix, ".bin%s", suffix);
  snprintf(meta_suffix, sizeof meta_suffix, ".json%s", suffix);
  if (name_of(bin_tmp, run_id, bin_suffix) != 0 ||
      name_of(meta_tmp, run_id, meta_suffix) != 0 ||
      name_of(bin_final, run_id, ".bin") != 0 ||
      name_of(meta_final, run_id, ".json") != 0) {
    bin_tmp[0] = meta_tmp[0] = '\0';
    goto fail;
  }

  if ((dir_fd = pin_key_dir(s, dir)) < 0) goto fail;
  if (trusted_dir(s, dir_fd, dir, err) != 0) {
    close(dir_fd); /* read-only: releases the pin */
    return -1;
  }
  step = "writing the payload";
  if ((bin_fd = open_new_at(s, dir_fd, bin_tmp)) < 0) goto fail;
  /* In two parts only when a test has armed the fault between them. */
  size_t half = s->fault_point == WS_FAULT_MID_BIN_WRITE ? n / 2 : n;
  if (ws_write_all(bin_fd, payload, half) != 0) goto fail;
  if (ws_fault(s, WS_FAULT_MID_BIN_WRITE, dir) != 0) goto fail;
  if (ws_write_all(bin_fd, (const char *)payload + half, n - half) != 0)
    goto fail;
  int fd = bin_fd;
  bin_fd = -1;
  if (finish_file(fd, s->opt.durable) != 0) goto fail;

  /* Create the meta temp before promoting the payload: while a new payload
   * stands without its meta (or beside an old one, in an overwrite), this
   * live temp tells readers that a writer is between its renames. */
  step = "writing the meta";
  if ((meta_fd = open_new_at(s, dir_fd, meta_tmp)) < 0) goto fail;
  if (ws_fault(s, WS_FAULT_BEFORE_BIN_RENAME, dir) != 0) goto fail;

  step = "promoting the payload";
  if (renameat(dir_fd, bin_tmp, dir_fd, bin_final) != 0) goto fail;
  bin_promoted = 1;

  /* Stamp now, not at the start: the TTL runs from when the entry becomes
   * visible, and a slow payload fsync must not eat into it. */
  uint64_t now = ws_store_now_ns(s);
  meta->written_secs = now / UINT64_C(1000000000);
  meta->written_nanos = (uint32_t)(now % UINT64_C(1000000000));
  step = "writing the meta";
  json = ws_meta_to_json(meta, label);
  if (json != NULL && s->auth != NULL)
    json = ws_auth_sign_meta(s->auth, key, run_id, json);
  if (json == NULL) {
    errno = ENOMEM;
    goto fail;
  }
  if (ws_write_all(meta_fd, json, strlen(json)) != 0) goto fail;
  fd = meta_fd;
  meta_fd = -1;
  if (finish_file(fd, s->opt.durable) != 0) goto fail;
  if (ws_fault(s, WS_FAULT_BEFORE_META_RENAME, dir) != 0) goto fail;

  step = "promoting the meta";
  if (renameat(dir_fd, meta_tmp, dir_fd, meta_final) != 0) goto fail;
  free(json);
  if (ws_fault(s, WS_FAULT_AFTER_META_RENAME, dir) != 0) {
    step = "syncing the key directory";
    goto fail_visible;
  }
  /* The renames are durable only once the directory itself is synced; the
   * key dir is itself an entry in the root, which needs the same: whoever
   * made it (another process may not have synced the root yet). Syncing
   * a root that holds no unsynced change costs little. */
  step = "syncing the key directory";
  if (s->opt.durable && ws_fsync_fd_dir(dir_fd) != 0) goto fail_visible;
  step = "syncing the store root";
  if (s->opt.durable && ws_fsync_dir(s->rs->root) != 0) goto fail_visible;
  close(dir_fd); /* read-only: releases the pin, nothing to lose */
  return 0;

fail: {
  int saved = errno;
  if (bin_fd >= 0) close(bin_fd);
  if (meta_fd >= 0) close(meta_fd);
  /* Best-effort removals: the error being reported is the one that matters,
   * and anything left behind is an abandoned temp the sweep will take. */
  if (dir_fd >= 0) {
    if (bin_tmp[0] != '\0') (void)unlinkat(dir_fd, bin_tmp, 0);
    if (meta_tmp[0] != '\0') (void)unlinkat(dir_fd, meta_tmp, 0);
    /* A fresh entry's payload must not outlive its failed meta. (For an
     * overwrite the old meta now fails its checksum and is cleaned up: the
     * entry is lost, never returned wrong.) */
    if (bin_promoted && !overwrite) (void)unlinkat(dir_fd, bin_final, 0);
    close(dir_fd);
  }
  free(json);
  *retryable = saved == ENOENT;
  ws_error_io(err, saved, dir, "cannot save entry %s in '%s' (%s): %s", run_id,
              dir, step, strerror(saved));
  return -1;
}
fail_visible: {
  /* The entry is complete and visible; only its durability is in doubt. */
  int saved = errno;
  close(dir_fd);
  ws_error_io(err, saved, dir, "entry %s in '%s' was written but %s failed: %s",
              run_id, dir, step, strerror(saved));
  return -1;
}
}
