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
#include <unistd.h>

#include "store_internal.h"

/* 0 to go on; -1 with errno set when the injected fault fails this step. */
static int fault(ws_store *s, ws_fault_point point, const char *dir) {
  if (s->fault_point != point || s->fault_times <= 0) return 0;
  if (--s->fault_times == 0) s->fault_point = WS_FAULT_NONE;
  switch (s->fault_action) {
  case WS_FAULT_REMOVE_DIR:
    /* What a sibling's sweep does to a key dir it saw empty. */
    if (rmdir(dir) != 0) return 0;
    return 0;
  case WS_FAULT_ENOSPC:
    errno = ENOSPC;
    return -1;
  case WS_FAULT_EXIT:
    /* A crash: SIGKILL cannot be caught, so nothing is cleaned up. */
    raise(SIGKILL);
  }
  return 0;
}

static int open_new(const char *path) {
  int fd;
  do fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  while (fd < 0 && errno == EINTR);
  return fd;
}

static int finish_file(int fd, int durable) {
  int rc = 0, saved = 0;
  if (durable && fsync(fd) != 0) {
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
 * moment it sees it empty (gam#868). Returns the pinned dir's fd. */
static int pin_key_dir(ws_store *s, const char *dir, int *created) {
  for (int i = 0; i < PIN_ATTEMPTS; i++) {
    int made = 0;
    if (ws_mkdir_p(dir, &made) != 0) return -1;
    *created |= made;
    if (fault(s, WS_FAULT_AFTER_MKDIR, dir) != 0) return -1;
    int fd = ws_dir_pin(dir);
    if (fd >= 0 || errno != ENOENT) return fd;
  }
  errno = ENOENT;
  return -1;
}

int ws_write_entry(ws_store *s, const char *dir, const char *run_id,
                   unsigned attempt, uint64_t nonce, const void *payload,
                   size_t n, ws_meta *meta, const char *label, int overwrite,
                   int *retryable, ws_error *err) {
  char bin_tmp[PATH_MAX], meta_tmp[PATH_MAX], bin_final[PATH_MAX],
      meta_final[PATH_MAX], name[NAME_MAX + 1];
  const char *host = ws_hostname();
  long pid = (long)getpid();
  int dir_fd = -1, bin_fd = -1, meta_fd = -1, bin_promoted = 0, created = 0;
  const char *step = "creating the key directory";
  char *json = NULL;
  *retryable = 0;
  bin_tmp[0] = meta_tmp[0] = bin_final[0] = '\0';

  snprintf(name, sizeof name, "%s.bin.tmp.%ld.%" PRIu64 ".%u.%s", run_id, pid,
           nonce, attempt, host);
  if (ws_join(bin_tmp, sizeof bin_tmp, dir, name) != 0) goto fail;
  snprintf(name, sizeof name, "%s.json.tmp.%ld.%" PRIu64 ".%u.%s", run_id, pid,
           nonce, attempt, host);
  if (ws_join(meta_tmp, sizeof meta_tmp, dir, name) != 0) goto fail;
  snprintf(name, sizeof name, "%s.bin", run_id);
  if (ws_join(bin_final, sizeof bin_final, dir, name) != 0) goto fail;
  snprintf(name, sizeof name, "%s.json", run_id);
  if (ws_join(meta_final, sizeof meta_final, dir, name) != 0) goto fail;

  if ((dir_fd = pin_key_dir(s, dir, &created)) < 0) goto fail;
  step = "writing the payload";
  if ((bin_fd = open_new(bin_tmp)) < 0) goto fail;
  /* In two parts only when a test has armed the fault between them. */
  size_t half = s->fault_point == WS_FAULT_MID_BIN_WRITE ? n / 2 : n;
  if (ws_write_all(bin_fd, payload, half) != 0) goto fail;
  if (fault(s, WS_FAULT_MID_BIN_WRITE, dir) != 0) goto fail;
  if (ws_write_all(bin_fd, (const char *)payload + half, n - half) != 0)
    goto fail;
  int fd = bin_fd;
  bin_fd = -1;
  if (finish_file(fd, s->opt.durable) != 0) goto fail;

  /* Create the meta temp before promoting the payload: while a new payload
   * stands beside an old meta (an overwrite in flight), readers see this
   * live temp and skip the entry instead of deleting it as corrupt. */
  step = "writing the meta";
  if ((meta_fd = open_new(meta_tmp)) < 0) goto fail;
  if (fault(s, WS_FAULT_BEFORE_BIN_RENAME, dir) != 0) goto fail;

  step = "promoting the payload";
  if (rename(bin_tmp, bin_final) != 0) goto fail;
  bin_promoted = 1;

  /* Stamp now, not at the start: the TTL runs from when the entry becomes
   * visible, and a slow payload fsync must not eat into it. */
  uint64_t now = ws_store_now_ns(s);
  meta->written_secs = now / UINT64_C(1000000000);
  meta->written_nanos = (uint32_t)(now % UINT64_C(1000000000));
  step = "writing the meta";
  json = ws_meta_to_json(meta, label);
  if (json == NULL) {
    errno = ENOMEM;
    goto fail;
  }
  if (ws_write_all(meta_fd, json, strlen(json)) != 0) goto fail;
  fd = meta_fd;
  meta_fd = -1;
  if (finish_file(fd, s->opt.durable) != 0) goto fail;
  if (fault(s, WS_FAULT_BEFORE_META_RENAME, dir) != 0) goto fail;

  step = "promoting the meta";
  if (rename(meta_tmp, meta_final) != 0) goto fail;
  free(json);
  if (fault(s, WS_FAULT_AFTER_META_RENAME, dir) != 0) {
    step = "syncing the key directory";
    goto fail_visible;
  }
  /* The renames are durable only once the directory itself is synced; a
   * new key dir is itself an entry in the root, which needs the same. */
  step = "syncing the key directory";
  if (s->opt.durable && ws_fsync_fd_dir(dir_fd) != 0) goto fail_visible;
  step = "syncing the store root";
  if (created && s->opt.durable && ws_fsync_dir(s->rs->root) != 0)
    goto fail_visible;
  close(dir_fd); /* read-only: releases the pin, nothing to lose */
  return 0;

fail: {
  int saved = errno;
  if (dir_fd >= 0) close(dir_fd);
  if (bin_fd >= 0) close(bin_fd);
  if (meta_fd >= 0) close(meta_fd);
  /* Best-effort removals: the error being reported is the one that matters,
   * and anything left behind is an abandoned temp the sweep will take. */
  if (bin_tmp[0] != '\0') (void)unlink(bin_tmp);
  if (meta_tmp[0] != '\0') (void)unlink(meta_tmp);
  /* A fresh entry's payload must not outlive its failed meta. (For an
   * overwrite the old meta now fails its checksum and is cleaned up: the
   * entry is lost, never returned wrong.) */
  if (bin_promoted && !overwrite) (void)unlink(bin_final);
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
