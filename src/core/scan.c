/* Scanning one key dir: resolve its valid entries and clean up, in passing,
 * what is corrupt, expired, half-written or abandoned. Shared by lookups and
 * the sweep.
 *
 * Removing is the dangerous part: a file judged corrupt or abandoned may be
 * the one a live writer is about to promote. So every removal a reader or
 * sweep decides on its own is guarded (guard_removals): it happens only
 * under an exclusive lock on the key dir, which no writer of ours holds a
 * pin on, and only while the meta is still the one that was judged. Files
 * that are not regular (links, FIFOs) are foreign: never read, never
 * removed. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store_internal.h"

int ws_key_dir(const ws_store *s, const char *key, char out[PATH_MAX]) {
  return ws_join(out, PATH_MAX, s->rs->root, key);
}

int ws_expired(const ws_store *s, const ws_meta *m, uint64_t now_ns) {
  if (s->opt.ttl_ns == 0) return 0;
  uint64_t since = ws_activity_ns(s, m);
  return now_ns > since && now_ns - since >= s->opt.ttl_ns;
}

/* The Rust store sweeps every temp whose pid is not its own, which deletes
 * a sibling worker's in-flight write. Here a temp is abandoned only when its
 * writer is provably dead (a pid that is no live process, judged by a
 * process with the same host token: same kernel run, same pid namespace)
 * or when it has not changed for an hour (another host's writer, a
 * container's, the Rust store's, which write no token, or a hung one). */
int ws_abandoned(long pid, const char *host, int64_t changed_s,
                 uint64_t real_now_ns) {
  int64_t now_s = (int64_t)(real_now_ns / UINT64_C(1000000000));
  if (now_s - changed_s > WS_ABANDON_AFTER_SECS) return 1;
  if (host == NULL || strcmp(host, ws_host_token()) != 0) return 0;
  if (pid == (long)getpid()) return 0;
  return !ws_pid_alive(pid);
}

static int entry_name(char *out, size_t cap, const char *run_id,
                      const char *ext) {
  int n = snprintf(out, cap, "%s.%s", run_id, ext);
  return n > 0 && (size_t)n < cap ? 0 : -1;
}

static void unlink_at_quiet(int dirfd, const char *name) {
  /* Cleanup is best effort: on a read-only store it fails and the entry is
   * skipped instead, which is what a reader there needs. */
  (void)unlinkat(dirfd, name, 0);
}

static void remove_entry_at(int dirfd, const char *dir, const char *run_id) {
  char name[WS_RUNID_MAX + 8];
  /* Meta first: a meta without its payload would read as corrupt, while a
   * payload without its meta is invisible until the sweep takes it. */
  if (entry_name(name, sizeof name, run_id, "json") == 0)
    unlink_at_quiet(dirfd, name);
  if (entry_name(name, sizeof name, run_id, "bin") == 0)
    unlink_at_quiet(dirfd, name);
  ws_value_cache_invalidate_dir(dir);
}

void ws_remove_entry(const char *dir, const char *run_id) {
  int fd = ws_open_dir(dir);
  if (fd < 0) return; /* gone, or a link: nothing of ours to remove */
  remove_entry_at(fd, dir, run_id);
  close(fd); /* read-only: nothing to lose */
}

/* Whether an entry a writer may be replacing has a live writer's meta
 * temp beside it. */
static int live_meta_temp(int dirfd, const char *run_id) {
  DIR *d = ws_opendir_fd(dirfd);
  if (d == NULL) return 1; /* cannot tell: do not remove */
  size_t len = strlen(run_id);
  uint64_t real_now = ws_real_now_ns();
  int live = 0;
  struct dirent *e;
  while (!live && (e = readdir(d)) != NULL) {
    ws_temp_name t;
    ws_stamp st;
    if (strncmp(e->d_name, run_id, len) != 0 ||
        strncmp(e->d_name + len, ".json.tmp.", 10) != 0 ||
        !ws_parse_temp_name(e->d_name, &t) ||
        ws_stamp_at(dirfd, e->d_name, &st) != 0)
      continue;
    live = !ws_abandoned(t.pid, t.host, ws_stamp_mtime_s(&st), real_now);
  }
  closedir(d);
  return live;
}

static int stamp_changed(int dirfd, const char *run_id, const char *ext,
                         const ws_stamp *seen) {
  char name[WS_RUNID_MAX + 8];
  ws_stamp now;
  return entry_name(name, sizeof name, run_id, ext) != 0 ||
         ws_stamp_at(dirfd, name, &now) != 0 || !ws_stamp_equal(&now, seen);
}

int ws_entry_in_flight(int dirfd, const char *run_id, const ws_stamp *seen_meta,
                       const ws_stamp *seen_bin) {
  /* Our writers create the meta temp before they promote the payload, the
   * Rust store right after; while a new payload stands beside an old meta
   * (or alone) that temp exists. The files are stamped again after the
   * directory is read: a temp renamed into place while we read it is a
   * meta that changed. */
  if (stamp_changed(dirfd, run_id, "json", seen_meta)) return 1;
  if (seen_bin != NULL && stamp_changed(dirfd, run_id, "bin", seen_bin)) return 1;
  if (live_meta_temp(dirfd, run_id)) return 1;
  if (stamp_changed(dirfd, run_id, "json", seen_meta)) return 1;
  if (seen_bin != NULL && stamp_changed(dirfd, run_id, "bin", seen_bin)) return 1;
  return 0;
}

/* The Rust store promotes a payload before it creates its meta temp, so
 * for a moment an overwrite of its looks like a payload that does not
 * match its meta, with no temp beside it. A payload newer than its meta
 * and only just changed is looked at again after a pause first. */
static int rust_overwrite_in_flight(int dirfd, const char *run_id,
                                    const ws_stamp *seen_meta,
                                    const ws_stamp *seen_bin) {
  if (seen_bin == NULL) return 0;
  int64_t bin_ns = seen_bin->mtime_s * 1000000000LL + seen_bin->mtime_ns;
  int64_t meta_ns = seen_meta->mtime_s * 1000000000LL + seen_meta->mtime_ns;
  int64_t now_ns = (int64_t)ws_real_now_ns();
  if (bin_ns <= meta_ns || now_ns - bin_ns > 2000000000LL) return 0;
  struct timespec pause = {0, 20000000L};
  while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {
  }
  return ws_entry_in_flight(dirfd, run_id, seen_meta, seen_bin);
}

int ws_remove_suspect(const char *dir, int dirfd, const char *run_id,
                      const ws_stamp *seen_meta, const ws_stamp *seen_bin) {
  /* Under the lock no writer of ours on this host is mid-save here; the
   * in-flight checks cover writers that take no lock (other hosts, the
   * Rust store, filesystems without locks). */
  if (ws_dir_lock_exclusive(dirfd) != 0) return 0;
  int removed = 0;
  if (!ws_entry_in_flight(dirfd, run_id, seen_meta, seen_bin) &&
      !rust_overwrite_in_flight(dirfd, run_id, seen_meta, seen_bin)) {
    remove_entry_at(dirfd, dir, run_id);
    removed = 1;
  }
  ws_dir_unlock(dirfd);
  return removed;
}

int ws_remove_listed(const char *dir, const char *run_id,
                     const ws_stamp *seen_meta, const ws_stamp *seen_bin) {
  int fd = ws_open_dir(dir);
  if (fd < 0) return 0;
  int removed = 0;
  if (ws_dir_lock_exclusive(fd) == 0) {
    if (!ws_entry_in_flight(fd, run_id, seen_meta, seen_bin)) {
      remove_entry_at(fd, dir, run_id);
      removed = 1;
    }
    ws_dir_unlock(fd);
  }
  close(fd); /* read-only: nothing to lose */
  return removed;
}

void ws_free_listing(void *p) {
  ws_listing *l = p;
  if (l == NULL) return;
  free(l->items);
  free(l);
}

/* ---- one scan ---- */

typedef struct scan {
  ws_store *s;
  const char *dir;
  int dirfd;
  int lock; /* 0: not tried; 1: held; -1: a writer pins the dir */
  uint64_t now_ns, real_now;
  ws_sweep_stats *stats;
} scan;

/* Whether this scan may remove things: it takes the dir's exclusive lock
 * the first time it needs it and keeps it to the end of the scan. */
static int may_remove(scan *c) {
  if (c->lock == 0) c->lock = ws_dir_lock_exclusive(c->dirfd) == 0 ? 1 : -1;
  return c->lock == 1;
}

static void count_removed(scan *c) {
  if (c->stats) c->stats->removed++;
}

/* Remove an entry this scan judged (corrupt, expired, ...), unless a
 * writer holds the dir or may be replacing the entry (see
 * ws_entry_in_flight). */
static int remove_judged(scan *c, const char *run_id, const ws_stamp *meta,
                         const ws_stamp *bin) {
  if (!may_remove(c) || ws_entry_in_flight(c->dirfd, run_id, meta, bin)) return 0;
  remove_entry_at(c->dirfd, c->dir, run_id);
  count_removed(c);
  return 1;
}

/* The remembered listing still describes the dir: same dir stamp, and (unless
 * the caller trusts the dir stamp alone) every file keeps its stamp, which
 * catches files rewritten in place rather than replaced by rename. */
static int listing_current(const ws_listing *l, int dirfd,
                           const ws_stamp *dir_st, int trust_dir_stamp) {
  char name[WS_RUNID_MAX + 8];
  if (!l->settled || !ws_stamp_equal(&l->dir_st, dir_st)) return 0;
  if (trust_dir_stamp) return 1;
  for (size_t i = 0; i < l->n; i++) {
    ws_stamp st;
    if (entry_name(name, sizeof name, l->items[i].run_id, "json") != 0 ||
        ws_stamp_at(dirfd, name, &st) != 0 ||
        !ws_stamp_equal(&st, &l->items[i].meta_st))
      return 0;
    if (entry_name(name, sizeof name, l->items[i].run_id, "bin") != 0 ||
        ws_stamp_at(dirfd, name, &st) != 0 ||
        !ws_stamp_equal(&st, &l->items[i].bin_st))
      return 0;
  }
  return 1;
}

/* The names readdir gave: entry stems (metas, payloads) and temps. */
typedef struct name_list {
  char (*ids)[WS_RUNID_MAX + 1];
  size_t n, cap;
} name_list;

static int name_list_add(name_list *l, const char *id, size_t len) {
  if (len == 0 || len > WS_RUNID_MAX) return 0;
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 16;
    void *p = realloc(l->ids, nc * sizeof *l->ids);
    if (p == NULL) return -1;
    l->ids = p;
    l->cap = nc;
  }
  memcpy(l->ids[l->n], id, len);
  l->ids[l->n][len] = '\0';
  if (!ws_valid_run_id(l->ids[l->n])) return 0; /* not one of ours */
  l->n++;
  return 0;
}

typedef struct temp_list {
  struct temp {
    char name[NAME_MAX + 1];
    ws_temp_name parsed; /* parsed.host points into name */
  } *items;
  size_t n, cap;
} temp_list;

static int temp_list_add(temp_list *l, const char *name) {
  if (strlen(name) > NAME_MAX) return 0;
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 8;
    void *p = realloc(l->items, nc * sizeof *l->items);
    if (p == NULL) return -1;
    l->items = p;
    l->cap = nc;
  }
  struct temp *t = &l->items[l->n];
  memcpy(t->name, name, strlen(name) + 1);
  if (!ws_parse_temp_name(t->name, &t->parsed)) return 0; /* not ours */
  l->n++;
  return 0;
}

static int cmp_id(const void *a, const void *b) { return strcmp(a, b); }

static int has_suffix(const char *name, const char *suffix, size_t *stem) {
  size_t n = strlen(name), k = strlen(suffix);
  if (n <= k || strcmp(name + n - k, suffix) != 0) return 0;
  *stem = n - k;
  return 1;
}

static const ws_scanned *find_old(const ws_listing *old, const char *run_id) {
  if (old == NULL) return NULL;
  for (size_t i = 0; i < old->n; i++)
    if (strcmp(old->items[i].run_id, run_id) == 0) return &old->items[i];
  return NULL;
}

/* A payload without its meta is a write between its two renames, or one
 * that died there. The writer's meta temp tells which: our writers create
 * it before they promote the payload and keep it until the meta is in
 * place. (The run id names no writer: a caller may pick it, and a pid
 * means nothing across hosts and pid namespaces.) Removed only when that
 * temp's writer is provably dead, or when there is no such temp and the
 * payload has not changed for an hour (a writer that takes no lock and
 * writes its meta temp after the rename: the Rust store). */
static void judge_orphan(scan *c, const char *run_id, const temp_list *temps) {
  char name[WS_RUNID_MAX + 8];
  ws_stamp bin;
  if (entry_name(name, sizeof name, run_id, "bin") != 0 ||
      ws_stamp_at(c->dirfd, name, &bin) != 0 || !ws_stamp_is_regular(&bin))
    return;
  int temps_seen = 0;
  for (size_t i = 0; i < temps->n; i++) {
    const struct temp *t = &temps->items[i];
    ws_stamp st;
    if (!t->parsed.is_meta || strcmp(t->parsed.run_id, run_id) != 0) continue;
    if (ws_stamp_at(c->dirfd, t->name, &st) != 0) continue;
    temps_seen++;
    if (!ws_abandoned(t->parsed.pid, t->parsed.host, ws_stamp_mtime_s(&st),
                      c->real_now))
      return; /* a live writer between its renames */
  }
  if (temps_seen == 0) {
    int64_t now_s = (int64_t)(c->real_now / UINT64_C(1000000000));
    if (now_s - ws_stamp_mtime_s(&bin) <= WS_ABANDON_AFTER_SECS) return;
  }
  if (!may_remove(c)) return;
  /* Under the lock: the writer may have promoted the meta since readdir. */
  char meta[WS_RUNID_MAX + 8];
  ws_stamp st;
  if (entry_name(meta, sizeof meta, run_id, "json") != 0 ||
      ws_stamp_at(c->dirfd, meta, &st) == 0 || errno != ENOENT)
    return;
  if (unlinkat(c->dirfd, name, 0) == 0) count_removed(c);
}

static void sweep_temps(scan *c, const temp_list *temps) {
  for (size_t i = 0; i < temps->n; i++) {
    const struct temp *t = &temps->items[i];
    ws_stamp st;
    if (ws_stamp_at(c->dirfd, t->name, &st) != 0 || !ws_stamp_is_regular(&st))
      continue;
    if (ws_abandoned(t->parsed.pid, t->parsed.host, ws_stamp_mtime_s(&st),
                     c->real_now) &&
        unlinkat(c->dirfd, t->name, 0) == 0 && c->stats)
      c->stats->temps_removed++;
  }
}

/* Resolve one `<run_id>.json`; 1 when it is a valid entry (written to
 * *item), 0 when it was skipped or removed. */
static int resolve_entry(scan *c, const char *run_id, const ws_listing *old,
                         int trust_dir_stamp, ws_scanned *item) {
  char meta_name[WS_RUNID_MAX + 8], bin_name[WS_RUNID_MAX + 8];
  if (entry_name(meta_name, sizeof meta_name, run_id, "json") != 0 ||
      entry_name(bin_name, sizeof bin_name, run_id, "bin") != 0)
    return 0;
  memset(item, 0, sizeof *item);
  memcpy(item->run_id, run_id, strlen(run_id) + 1);
  if (ws_stamp_at(c->dirfd, meta_name, &item->meta_st) != 0) return 0; /* went */
  if (!ws_stamp_is_regular(&item->meta_st)) return 0; /* foreign: leave it */
  if (ws_stamp_at(c->dirfd, bin_name, &item->bin_st) != 0) {
    /* A payload is promoted before its meta, so a meta alone is never a
     * write in progress: it lost its payload. */
    if (errno == ENOENT) remove_judged(c, run_id, &item->meta_st, NULL);
    return 0;
  }
  if (!ws_stamp_is_regular(&item->bin_st)) return 0;
  item->settled = ws_stamp_settled(&item->meta_st, c->real_now) &&
                  ws_stamp_settled(&item->bin_st, c->real_now);
  const ws_scanned *prev = find_old(old, run_id);
  /* An unchanged meta need not be parsed again. A stamp too fresh to prove
   * that (the racy-stamp rule) is trusted anyway by a walk that trusts dir
   * stamps: we never rewrite a meta in place, and one renamed over it has
   * another inode (it was created while the old one still existed). Only
   * an entry removed and written again under the same run id within one
   * clock tick could fool it, and then only the walk's figures (lookups
   * parse afresh). In a hot save loop every meta is that fresh, and the
   * sweep re-read them all: 60 us of an 80 us save on tmpfs. */
  if (prev != NULL && (prev->settled || trust_dir_stamp) &&
      ws_stamp_equal(&prev->meta_st, &item->meta_st)) {
    item->meta = prev->meta;
  } else {
    size_t len = 0;
    ws_stamp read_st;
    char *text = ws_read_small_at(c->dirfd, meta_name, WS_META_MAX_BYTES, &len,
                                  &read_st);
    /* Gone, unreadable, changing now, or larger than we read (serde reads
     * any size): not proof of damage. */
    if (text == NULL) return 0;
    int parsed = ws_meta_parse(text, len, &item->meta);
    if (parsed == 0) ws_auth_read_claim(text, len, &item->meta);
    free(text);
    /* What was parsed must be the file that was stamped. */
    if (!ws_stamp_equal(&read_st, &item->meta_st)) return 0;
    if (parsed == WS_META_FOREIGN) return 0; /* not ours to hand out or remove */
    if (parsed != 0) {
      remove_judged(c, run_id, &item->meta_st, &item->bin_st);
      return 0;
    }
  }
  if (item->meta.schema_version != WS_SCHEMA_VERSION) {
    remove_judged(c, run_id, &item->meta_st, &item->bin_st);
    return 0;
  }
  /* Expired for this handle: removed when it can be. One that stays (a
   * read-only store, a writer's pin, another user's dir under trust =
   * "any") stays in the listing, which every handle on the root shares:
   * a handle with a longer TTL still chooses it (ws_store_lookup and
   * walk_key skip entries by their own handle's TTL). */
  if (ws_expired(c->s, &item->meta, c->now_ns) &&
      remove_judged(c, run_id, &item->meta_st, &item->bin_st))
    return 0;
  return 1;
}

/* Remove entries of a still-current listing that crossed this handle's
 * TTL since it was built (the file set is unchanged but the clock is not);
 * those that cannot be removed stay listed, as in resolve_entry(). */
static void drop_expired(scan *c, ws_listing *l) {
  size_t kept = 0;
  for (size_t i = 0; i < l->n; i++) {
    if (!ws_expired(c->s, &l->items[i].meta, c->now_ns) ||
        !remove_judged(c, l->items[i].run_id, &l->items[i].meta_st,
                       &l->items[i].bin_st))
      l->items[kept++] = l->items[i];
  }
  if (kept != l->n) {
    l->n = kept;
    /* The removals moved the dir's stamp; the next scan reads it afresh. */
    l->settled = 0;
  }
}

/* readdir into metas, payloads and temps; -1 when out of memory. */
static int read_names(int dirfd, name_list *metas, name_list *bins,
                      temp_list *temps) {
  DIR *d = ws_opendir_fd(dirfd);
  if (d == NULL) return -1;
  int oom = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    const char *name = e->d_name;
    size_t stem;
    if (strstr(name, ".tmp.") != NULL)
      oom |= temp_list_add(temps, name);
    else if (has_suffix(name, ".json", &stem))
      oom |= name_list_add(metas, name, stem);
    else if (has_suffix(name, ".bin", &stem))
      oom |= name_list_add(bins, name, stem);
  }
  closedir(d);
  return oom ? -1 : 0;
}

const ws_listing *ws_scan_key_dir(ws_store *s, const char *key,
                                  const char *dir, int dirfd, uint64_t now_ns,
                                  int trust_dir_stamp, ws_sweep_stats *stats) {
  ws_strmap *cache = s->rs->listings;
  scan c = {s, dir, dirfd, 0, now_ns, ws_real_now_ns(), stats};
  const ws_listing *result = NULL;
  ws_stamp dir_st;
  /* A key dir that someone not trusted can write is not read or cleaned
   * up: to this handle it is not part of the store. */
  if (ws_stamp_fd(dirfd, &dir_st) != 0 ||
      ws_trust_judge(&s->trust, &dir_st) != NULL) {
    ws_strmap_remove(cache, key);
    return NULL;
  }
  ws_listing *old = ws_strmap_get(cache, key);
  if (old != NULL && listing_current(old, dirfd, &dir_st, trust_dir_stamp)) {
    drop_expired(&c, old);
    result = old;
    goto done;
  }
  name_list metas = {0}, bins = {0};
  temp_list temps = {0};
  ws_listing *l = calloc(1, sizeof *l);
  if (read_names(dirfd, &metas, &bins, &temps) != 0 || l == NULL ||
      (metas.n > 0 && (l->items = malloc(metas.n * sizeof *l->items)) == NULL))
    goto free_names; /* out of memory: behave as if the dir were empty */
  if (metas.n > 1) qsort(metas.ids, metas.n, sizeof *metas.ids, cmp_id);
  /* Payloads without metas first, while their writers' temps are there to
   * judge them by; then the temps themselves. */
  for (size_t i = 0; i < bins.n; i++) {
    if (metas.n == 0 ||
        bsearch(bins.ids[i], metas.ids, metas.n, sizeof *metas.ids, cmp_id) == NULL)
      judge_orphan(&c, bins.ids[i], &temps);
  }
  sweep_temps(&c, &temps);
  for (size_t i = 0; i < metas.n; i++) {
    if (resolve_entry(&c, metas.ids[i], old, trust_dir_stamp, &l->items[l->n]))
      l->n++;
  }
  /* Stamp the dir after the cleanup above, so an unchanged dir is a cache
   * hit next time; the stamp must be settled to be trusted. */
  if (ws_stamp_fd(dirfd, &l->dir_st) != 0) goto free_names;
  l->settled = ws_stamp_settled(&l->dir_st, c.real_now);
  for (size_t i = 0; i < l->n && l->settled; i++) l->settled = l->items[i].settled;
  if (ws_strmap_put(cache, key, l) == 0) result = l; /* else put freed l */
  l = NULL;
free_names:
  ws_free_listing(l);
  free(metas.ids);
  free(bins.ids);
  free(temps.items);
  if (result == NULL) ws_strmap_remove(cache, key);
done:
  if (c.lock == 1) ws_dir_unlock(dirfd);
  return result;
}
