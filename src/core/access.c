/* Recording an access: the chosen entry's meta rewritten, by temp +
 * rename, with `accessed` and its stamp, as the gam crate's later stores
 * do at every lookup. Unlike theirs, the rewrite keeps every field it does
 * not set (ours, and any a later writer adds) and the kind as written, and
 * it is best effort: a lookup never fails because the access could not be
 * recorded (a read-only store, a full disk, a writer replacing the entry). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_internal.h"

/* The temp, named like a writer's meta temp ("<run>.json.tmp.<pid>.
 * <nonce>.<attempt>.<host token>"), so that a reader that finds the entry
 * between our read and our rename sees a live writer at work on it, and a
 * sweep can judge the temp if we die. */
static int write_temp(const ws_store *s, int dirfd, const char *name,
                      const char *text) {
  /* With the store's mode, not the umask's: the meta it replaces was
   * readable by the group (or private), and so must this one be. */
  int fd = ws_make_file_at(&s->trust, dirfd, name, O_WRONLY, WS_MADE_ENTRY);
  if (fd < 0) return -1;
  int durable = s->opt.durable;
  int ok = ws_write_all(fd, text, strlen(text)) == 0;
  if (ok && durable) ok = ws_durable_sync(fd) == 0;
  ok = close(fd) == 0 && ok;
  if (!ok) (void)unlinkat(dirfd, name, 0);
  return ok ? 0 : -1;
}

static int touch_pinned(ws_store *s, int dirfd, const char *run_id,
                        const ws_stamp *seen_meta) {
  char meta_name[NAME_MAX + 1], tmp[NAME_MAX + 1];
  ws_stamp st;
  size_t len = 0;
  ws_meta meta;
  if (snprintf(meta_name, sizeof meta_name, "%s.json", run_id) >= (int)sizeof meta_name)
    return 0;
  char *text = ws_read_small_at(dirfd, meta_name, WS_META_MAX_BYTES, &len, &st);
  if (text == NULL) return 0;
  /* Only the meta the lookup judged, and only while no writer of ours is
   * replacing the entry: renaming an old meta over a new one would pair it
   * with the new payload, which then fails its checksum and is lost. */
  char *touched = NULL;
  if (ws_stamp_equal(&st, seen_meta) && ws_meta_parse(text, len, &meta) == 0 &&
      !ws_entry_in_flight(dirfd, run_id, seen_meta, NULL)) {
    /* Strictly later than the last access, as the Rust store does, so two
     * lookups within one clock tick still order. */
    uint64_t now = ws_store_now_ns(s), last = ws_meta_accessed_ns(&meta);
    if (last != UINT64_MAX && now <= last) now = last + 1;
    touched = ws_meta_touched(text, len, now / UINT64_C(1000000000),
                              (uint32_t)(now % UINT64_C(1000000000)));
  }
  free(text);
  if (touched == NULL) return 0;
  /* Grown past what a reader takes, it would be left alone: leave it. */
  if (strlen(touched) > WS_META_MAX_BYTES) {
    free(touched);
    return 0;
  }
  int n = snprintf(tmp, sizeof tmp, "%s.json.tmp.%ld.%" PRIu64 ".0.%s", run_id,
                   (long)getpid(), ws_unique_ns(ws_real_now_ns()), ws_host_token());
  int done = 0;
  if (n > 0 && (size_t)n < sizeof tmp &&
      write_temp(s, dirfd, tmp, touched) == 0) {
    /* The window a writer could slip into is this stat to the rename; a
     * writer that did loses its overwrite (never returned wrong). */
    if (ws_stamp_at(dirfd, meta_name, &st) == 0 && ws_stamp_equal(&st, seen_meta) &&
        renameat(dirfd, tmp, dirfd, meta_name) == 0) {
      done = 1;
      if (s->opt.durable) (void)ws_fsync_fd_dir(dirfd); /* an access stamp */
    } else {
      (void)unlinkat(dirfd, tmp, 0);
    }
  }
  free(touched);
  return done;
}

int ws_store_record_access(ws_store *s, const char *key, const ws_found *found) {
  char dir[PATH_MAX];
  if (!ws_valid_key(key) || !ws_valid_run_id(found->run_id) ||
      ws_key_dir(s, key, dir) != 0)
    return 0;
  int probe = ws_open_dir(dir);
  if (probe < 0) return 0;
  /* A store we may not write (a read-only mount, another user's) is read
   * as it is: no attempt, no wait for a lock. */
  int writable = faccessat(probe, ".", W_OK, AT_EACCESS) == 0;
  close(probe); /* read-only: nothing to lose */
  if (!writable) return 0;
  /* Pinned like a writer: no sweep of ours removes the entry meanwhile,
   * which the rename would otherwise bring back as a meta alone. */
  int dirfd = ws_dir_pin(dir, s->poll, s->poll_ctx);
  if (dirfd < 0) return 0;
  int done = touch_pinned(s, dirfd, found->run_id, &found->meta_st);
  close(dirfd); /* releases the pin */
  if (done) ws_value_cache_invalidate_dir(dir);
  return done;
}
