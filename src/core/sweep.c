/* The sweep: one walk over the whole store that removes expired entries
 * and, over budget, the first in line (semantics.c); its schedule, and the
 * marker it leaves for other processes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_internal.h"

static int cmp_written(const void *a, const void *b) {
  uint64_t x = ws_meta_written_ns(&((const ws_listed *)a)->meta);
  uint64_t y = ws_meta_written_ns(&((const ws_listed *)b)->meta);
  return (x > y) - (x < y);
}

/* The gam crate's later order: entries no lookup has reused go first, then
 * by write; the entry's path breaks ties, as the Rust store's does. */
static int cmp_accessed_written(const void *a, const void *b) {
  const ws_listed *x = a, *y = b;
  if (x->meta.accessed != y->meta.accessed) return x->meta.accessed - y->meta.accessed;
  int c = cmp_written(a, b);
  if (c != 0) return c;
  c = strcmp(x->key, y->key);
  return c != 0 ? c : strcmp(x->run_id, y->run_id);
}

/* 1: the listed payload matches its checksum; 0: it does not; -1: it
 * could not be judged (unreadable, or changed since it was listed). */
static int verify_one(int dirfd, const ws_listed *it) {
  char name[WS_RUNID_MAX + 8], hex[WS_CHECKSUM_HEX + 1];
  ws_stamp st;
  uint64_t bytes = 0;
  snprintf(name, sizeof name, "%s.bin", it->run_id);
  int fd = ws_open_regular_at(dirfd, name, &st);
  if (fd < 0) return -1;
  int rc = -1;
  if (ws_stamp_equal(&st, &it->bin_st) && ws_sha256_fd_hex(fd, hex, &bytes) == 0 &&
      bytes == st.size)
    rc = strcmp(hex, it->meta.checksum_hex) == 0;
  close(fd); /* read-only: nothing to lose */
  return rc;
}

/* Checksum each listed payload; drop (and remove) those that do not match,
 * judged against the stamps taken when the entry was listed: an entry an
 * overwrite replaced since then is not the one that was listed, and one
 * that a writer holds is left alone (ws_remove_suspect). */
static void verify_entries(ws_store *s, entry_list *l, ws_sweep_stats *stats) {
  size_t kept = 0;
  for (size_t i = 0; i < l->n; i++) {
    ws_listed *it = &l->items[i];
    char dir[PATH_MAX];
    int fd = -1;
    if (ws_key_dir(s, it->key, dir) == 0 && (fd = ws_open_dir(dir)) >= 0 &&
        verify_one(fd, it) == 0 &&
        ws_remove_suspect(dir, fd, it->run_id, &it->meta_st, &it->bin_st)) {
      stats->removed++;
      stats->corrupt++;
    } else {
      l->items[kept++] = *it;
    }
    if (fd >= 0) close(fd); /* read-only: nothing to lose */
  }
  l->n = kept;
}

/* Distinct keys in a walk's list, which holds each key's entries together
 * (count before sorting it). */
static uint64_t count_keys(const entry_list *l) {
  uint64_t n = 0;
  for (size_t i = 0; i < l->n; i++)
    n += i == 0 || strcmp(l->items[i].key, l->items[i - 1].key) != 0;
  return n;
}

/* ---- the marker ----
 * A completed sweep writes "<root>/.warmstart/sweep": when it ran and what
 * it found. A process's first save would otherwise walk the whole store
 * (the reference sweeps on every process's first save, so that a new
 * process inheriting an over-budget store trims it); with a fresh marker,
 * a short-lived worker adopts its totals instead and saves at the same
 * cost in a store of 100 keys or 10,000. The marker is advisory: written
 * without fsync, read only for its numbers, and a full sweep still runs at
 * least every WS_SWEEP_MARKER_FRESH_SECS while anyone saves.
 * It lives in a subdirectory so that rewriting it does not move the
 * root's stamp, which the short-circuit in ws_store_sweep() relies on.
 * The walk skips non-key names; the Rust store scans any subdirectory but
 * finds no entries there and leaves it, as it is not empty. */

/* The marker's directory, opened without following a link; -1 when it is
 * missing (create: make it first) or not a directory of ours: a link, or
 * one that someone this handle does not trust can write. */
static int open_marker_dir(ws_store *s, int create) {
  char dir[PATH_MAX];
  ws_stamp st;
  if (ws_join(dir, sizeof dir, s->rs->root, WS_SWEEP_MARKER_DIR) != 0) return -1;
  if (create && ws_make_dir(&s->trust, dir, 0, NULL) != 0) return -1;
  int fd = ws_open_dir(dir);
  if (fd >= 0 && (ws_stamp_fd(fd, &st) != 0 ||
                  ws_trust_judge(&s->trust, &st) != NULL)) {
    close(fd); /* read-only: nothing to lose */
    return -1;
  }
  return fd;
}

/* Temps of markers whose writer died between its write and its rename:
 * "sweep.tmp.<pid>.<host token>", judged like entry temps. */
static void sweep_marker_temps(int dirfd, ws_sweep_stats *stats) {
  DIR *d = ws_opendir_fd(dirfd);
  if (d == NULL) return;
  static const char prefix[] = "sweep.tmp.";
  uint64_t real_now = ws_real_now_ns();
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, prefix, sizeof prefix - 1) != 0) continue;
    char *end = NULL;
    long pid = strtol(e->d_name + sizeof prefix - 1, &end, 10);
    ws_stamp st;
    if (end == NULL || (*end != '\0' && *end != '.') ||
        ws_stamp_at(dirfd, e->d_name, &st) != 0 || !ws_stamp_is_regular(&st))
      continue;
    const char *host = *end == '.' ? end + 1 : NULL;
    if (ws_abandoned(pid, host, ws_stamp_mtime_s(&st), real_now) &&
        unlinkat(dirfd, e->d_name, 0) == 0)
      stats->temps_removed++;
  }
  closedir(d);
}

static void write_marker(ws_store *s, uint64_t bytes, uint64_t walked,
                         ws_sweep_stats *stats) {
  char text[128], tmp[64];
  int dirfd = open_marker_dir(s, 1);
  if (dirfd < 0) return; /* a read-only store: other processes sweep as before */
  sweep_marker_temps(dirfd, stats);
  int n = snprintf(text, sizeof text, "warmstart-sweep 1 %llu %llu %llu\n",
                   (unsigned long long)ws_store_now_ns(s),
                   (unsigned long long)bytes, (unsigned long long)walked);
  snprintf(tmp, sizeof tmp, "sweep.tmp.%ld.%s", (long)getpid(), ws_host_token());
  /* A new file of ours: whatever stands at that name (our own leftover,
   * or something planted: a link, a FIFO) is unlinked, never opened or
   * written through. */
  (void)unlinkat(dirfd, tmp, 0);
  int fd = ws_make_file_at(&s->trust, dirfd, tmp, O_WRONLY | O_NONBLOCK,
                           WS_MADE_ENTRY);
  if (fd >= 0) {
    int ok = ws_write_all(fd, text, (size_t)n) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || renameat(dirfd, tmp, dirfd, "sweep") != 0)
      (void)unlinkat(dirfd, tmp, 0);
  }
  close(dirfd); /* read-only: nothing to lose */
}

/* 1 with the marker's totals when it is fresh by this store's clock. */
static int read_marker(ws_store *s, uint64_t *bytes, uint64_t *walked) {
  size_t len = 0;
  ws_stamp st;
  int dirfd = open_marker_dir(s, 0);
  if (dirfd < 0) return 0;
  char *text = ws_read_small_at(dirfd, "sweep", 127, &len, &st);
  close(dirfd); /* read-only: nothing to lose */
  if (text != NULL && ws_trust_judge(&s->trust, &st) != NULL) {
    free(text); /* someone else's figures: sweep as if there were none */
    text = NULL;
  }
  if (text == NULL) return 0;
  unsigned long long at, b, w;
  int version;
  int ok = sscanf(text, "warmstart-sweep %d %llu %llu %llu", &version, &at,
                  &b, &w) == 4 && version == 1;
  free(text);
  if (!ok) return 0;
  uint64_t now = ws_store_now_ns(s);
  uint64_t fresh = (uint64_t)WS_SWEEP_MARKER_FRESH_SECS * UINT64_C(1000000000);
  if (at > now || now - at > fresh) return 0;
  *bytes = b;
  *walked = w;
  return 1;
}

/* Whether this save should run the sweep:
 * - the root's first save in this process, unless a fresh marker stands
 *   in for it;
 * - the byte estimate passed the budget;
 * - max(WS_SWEEP_MIN_SAVES, W / WS_SWEEP_WALK_DIVISOR) saves since the
 *   last sweep, where W is what that sweep walked (key dirs plus entries).
 *   The reference sweeps every 32nd save and walks everything each time,
 *   so its save cost grows with the store; here a walk of W comes once per
 *   W/8 saves. Other processes' writes, which the estimate does not see,
 *   are resynced as often relative to the store's size; TTL is enforced by
 *   every lookup meanwhile. */
static int sweep_due(ws_store *s, int first) {
  ws_root_state *rs = s->rs;
  if (first) {
    uint64_t bytes, walked;
    if (!read_marker(s, &bytes, &walked)) return 1;
    rs->byte_total += bytes;
    rs->walked_at_last_sweep = walked;
    rs->adopted_marker = 1;
  }
  if (rs->byte_total > s->opt.size_budget) return 1;
  uint64_t every = rs->walked_at_last_sweep / WS_SWEEP_WALK_DIVISOR;
  if (every < WS_SWEEP_MIN_SAVES) every = WS_SWEEP_MIN_SAVES;
  return rs->saves_since_sweep >= every;
}

void ws_sweep_after_save(ws_store *s, size_t payload_bytes) {
  ws_root_state *rs = s->rs;
  int first = rs->save_counter++ == 0;
  rs->byte_total += (uint64_t)payload_bytes + WS_APPROX_META_BYTES;
  rs->saves_since_sweep++;
  /* Failures of the sweep do not fail the save that ran it. */
  if (sweep_due(s, first)) (void)ws_store_sweep(s, 0, NULL, NULL);
}

int ws_store_sweep(ws_store *s, unsigned flags, ws_sweep_stats *stats,
                   ws_error *err) {
  ws_root_state *rs = s->rs;
  int force = (flags & WS_SWEEP_FORCE) != 0;
  ws_sweep_stats local = {0, 0, 0, 0, 0, 0};
  ws_stamp root_st;
  uint64_t real_now = ws_real_now_ns();
  if (stats == NULL) stats = &local;
  memset(stats, 0, sizeof *stats);
  /* Short-circuit a scheduled sweep while comfortably under budget and no key
   * dir was added or removed (the root's stamp is unchanged): the size walk
   * would be a no-op, and TTL is enforced lazily at lookup anyway. */
  int have_root = ws_stamp_path(rs->root, &root_st) == 0;
  if (!force && have_root && rs->byte_total <= s->opt.size_budget &&
      rs->have_last_sweep && rs->last_sweep_settled &&
      ws_stamp_equal(&rs->last_sweep_root, &root_st)) {
    rs->saves_since_sweep = 0;
    return 0;
  }

  rs->sweeps++;
  entry_list l = {NULL, 0, 0};
  /* A sweep the schedule ran trusts unchanged key dirs (a stat each, not
   * one per file: the walk stays cheap); one asked for checks every file. */
  if (ws_walk_root(s, ws_store_now_ns(s), 1, !force, stats, &l, err) != 0) {
    free(l.items);
    return -1;
  }
  if (flags & WS_SWEEP_VERIFY) {
    (void)ws_fault(s, WS_FAULT_BEFORE_VERIFY, rs->root);
    verify_entries(s, &l, stats);
  }
  uint64_t walked = count_keys(&l) + l.n;
  int removed_dirs = stats->dirs_removed > 0;
  uint64_t total = 0;
  size_t kept = l.n;
  for (size_t i = 0; i < l.n; i++) total += l.items[i].disk_bytes;
  if (total > s->opt.size_budget) {
    /* Oldest write first (under ACCESS, never-accessed entries before
     * the rest), by the meta's nanosecond stamp: file mtimes can be too
     * coarse to order a burst of writes. Down to the low-water mark,
     * so that the next saves do not each find the store over budget and
     * walk it again. */
    uint64_t low = s->opt.size_budget / 1000 * WS_SWEEP_LOW_WATER_PERMILLE;
    qsort(l.items, l.n, sizeof *l.items,
          s->opt.semantics == WS_SEMANTICS_ACCESS ? cmp_accessed_written
                                                  : cmp_written);
    for (size_t i = 0; i < l.n && total > low; i++) {
      char dir[PATH_MAX];
      if (ws_key_dir(s, l.items[i].key, dir) != 0 ||
          !ws_remove_listed(dir, l.items[i].run_id, &l.items[i].meta_st,
                            &l.items[i].bin_st))
        continue; /* a writer holds the dir, or replaced the entry */
      stats->removed++;
      total -= l.items[i].disk_bytes;
      removed_dirs += ws_remove_key_dir_if_empty(s, l.items[i].key, dir);
      kept--;
    }
  }
  stats->bytes = total;
  stats->entries = kept;
  free(l.items);
  /* Removed key dirs are entries of the root: make that durable too. */
  if (removed_dirs && s->opt.durable) (void)ws_fsync_dir(rs->root);
  rs->byte_total = total;
  rs->walked_at_last_sweep = walked;
  rs->saves_since_sweep = 0;
  write_marker(s, total, walked, stats);
  /* Stamp the root after the walk: the dirs it removed moved the root's
   * stamp, and the next scheduled sweep must compare with the new one. */
  if (total <= s->opt.size_budget && ws_stamp_path(rs->root, &root_st) == 0) {
    rs->have_last_sweep = 1;
    rs->last_sweep_root = root_st;
    rs->last_sweep_settled = ws_stamp_settled(&root_st, real_now);
  }
  return 0;
}

void ws_store_sweep_state(const ws_store *s, ws_sweep_state *out) {
  const ws_root_state *rs = s->rs;
  out->saves = rs->save_counter;
  out->sweeps = rs->sweeps;
  out->saves_since_sweep = rs->saves_since_sweep;
  out->walked_at_last_sweep = rs->walked_at_last_sweep;
  out->byte_total = rs->byte_total;
  out->adopted_marker = rs->adopted_marker;
}
