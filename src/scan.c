/* Scanning one key dir: resolve its valid entries and clean up, in passing,
 * what is corrupt, expired, half-written or abandoned. Shared by lookups and
 * the sweep. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_internal.h"

int ws_key_dir(const ws_store *s, const char *key, char out[PATH_MAX]) {
  return ws_join(out, PATH_MAX, s->rs->root, key);
}

int ws_expired(const ws_store *s, uint64_t written_ns, uint64_t now_ns) {
  if (s->opt.ttl_ns == 0) return 0;
  return now_ns > written_ns && now_ns - written_ns >= s->opt.ttl_ns;
}

/* The Rust store sweeps every temp whose pid is not its own, which deletes
 * a sibling worker's in-flight write. Here a temp is abandoned only when its
 * writer is provably dead (a pid on this host that is no live process) or
 * it is older than an hour (another host's writer, or a hung one). */
int ws_abandoned(long pid, const char *host, int64_t mtime_s,
                 uint64_t real_now_ns) {
  int64_t now_s = (int64_t)(real_now_ns / UINT64_C(1000000000));
  if (now_s - mtime_s > WS_ABANDON_AFTER_SECS) return 1;
  if (host != NULL && strcmp(host, ws_hostname()) != 0) return 0;
  if (pid == (long)getpid()) return 0;
  return !ws_pid_alive(pid);
}

static void unlink_quiet(const char *path) {
  /* Cleanup is best effort: on a read-only store it fails and the entry is
   * skipped instead, which is what a reader there needs. */
  if (unlink(path) != 0 && errno != ENOENT) errno = 0;
}

void ws_remove_entry(const char *dir, const char *run_id) {
  char path[PATH_MAX], name[WS_RUNID_MAX + 8];
  /* Meta first: a meta without its payload would read as corrupt, while a
   * payload without its meta is invisible until the sweep takes it. */
  snprintf(name, sizeof name, "%s.json", run_id);
  if (ws_join(path, sizeof path, dir, name) == 0) unlink_quiet(path);
  snprintf(name, sizeof name, "%s.bin", run_id);
  if (ws_join(path, sizeof path, dir, name) == 0) unlink_quiet(path);
  ws_lcache_invalidate_dir(dir);
}

int ws_entry_in_flight(const char *dir, const char *run_id,
                       const ws_stamp *seen_meta) {
  char path[PATH_MAX], name[WS_RUNID_MAX + 8];
  ws_stamp now;
  snprintf(name, sizeof name, "%s.json", run_id);
  if (ws_join(path, sizeof path, dir, name) != 0) return 0;
  /* The meta was replaced since we read it: the writer finished. */
  if (ws_stamp_path(path, &now) != 0 || !ws_stamp_equal(&now, seen_meta))
    return 1;
  /* A writer creates its meta temp before it promotes the payload, so while
   * new payload and old meta stand side by side that temp exists. */
  DIR *d = opendir(dir);
  if (d == NULL) return 0;
  size_t len = strlen(run_id);
  uint64_t real_now = ws_real_now_ns();
  int live = 0;
  struct dirent *e;
  while (!live && (e = readdir(d)) != NULL) {
    ws_temp_name t;
    struct stat st;
    if (strncmp(e->d_name, run_id, len) != 0 ||
        strncmp(e->d_name + len, ".json.tmp.", 10) != 0 ||
        !ws_parse_temp_name(e->d_name, &t))
      continue;
    if (ws_join(path, sizeof path, dir, e->d_name) != 0 || stat(path, &st) != 0)
      continue;
    live = !ws_abandoned(t.pid, t.host, (int64_t)st.st_mtim.tv_sec, real_now);
  }
  closedir(d);
  return live;
}

void ws_free_listing(void *p) {
  ws_listing *l = p;
  if (l == NULL) return;
  free(l->items);
  free(l);
}

/* The cached listing still describes the dir: same dir stamp, and (unless
 * the caller trusts the dir stamp alone) every file keeps its stamp, which
 * catches files rewritten in place rather than replaced by rename. */
static int listing_current(const ws_listing *l, const char *dir,
                           const ws_stamp *dir_st, int trust_dir_stamp) {
  char path[PATH_MAX], name[WS_RUNID_MAX + 8];
  if (!l->settled || !ws_stamp_equal(&l->dir_st, dir_st)) return 0;
  if (trust_dir_stamp) return 1;
  for (size_t i = 0; i < l->n; i++) {
    ws_stamp st;
    snprintf(name, sizeof name, "%s.json", l->items[i].run_id);
    if (ws_join(path, sizeof path, dir, name) != 0 ||
        ws_stamp_path(path, &st) != 0 || !ws_stamp_equal(&st, &l->items[i].meta_st))
      return 0;
    snprintf(name, sizeof name, "%s.bin", l->items[i].run_id);
    if (ws_join(path, sizeof path, dir, name) != 0 ||
        ws_stamp_path(path, &st) != 0 || !ws_stamp_equal(&st, &l->items[i].bin_st))
      return 0;
  }
  return 1;
}

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

static void count_removed(ws_sweep_stats *stats) {
  if (stats) stats->removed++;
}

/* Resolve one `<run_id>.json`; 1 when it is a valid entry (written to
 * *item), 0 when it was skipped or removed. */
static int resolve_entry(ws_store *s, const char *dir, const char *run_id,
                         const ws_listing *old, int trust_dir_stamp,
                         uint64_t now_ns, uint64_t real_now,
                         ws_sweep_stats *stats, ws_scanned *item) {
  char meta_path[PATH_MAX], bin_path[PATH_MAX], name[WS_RUNID_MAX + 8];
  snprintf(name, sizeof name, "%s.json", run_id);
  if (ws_join(meta_path, sizeof meta_path, dir, name) != 0) return 0;
  snprintf(name, sizeof name, "%s.bin", run_id);
  if (ws_join(bin_path, sizeof bin_path, dir, name) != 0) return 0;
  memset(item, 0, sizeof *item);
  memcpy(item->run_id, run_id, strlen(run_id) + 1);
  if (ws_stamp_path(meta_path, &item->meta_st) != 0) return 0; /* just went */
  if (ws_stamp_path(bin_path, &item->bin_st) != 0) {
    /* A payload is promoted before its meta, so a meta alone is never a
     * write in progress: it lost its payload. */
    if (errno == ENOENT) {
      unlink_quiet(meta_path);
      count_removed(stats);
    }
    return 0;
  }
  item->settled = ws_stamp_settled(&item->meta_st, real_now) &&
                  ws_stamp_settled(&item->bin_st, real_now);
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
    char *text = ws_read_small_file(meta_path, WS_META_MAX_BYTES, &len);
    if (text == NULL) {
      if (errno == ENOENT) return 0;
      if (errno != EFBIG) return 0; /* unreadable now; not proof of damage */
    }
    int ok = text != NULL && ws_meta_parse(text, len, &item->meta) == 0;
    free(text);
    if (!ok) {
      ws_remove_entry(dir, run_id);
      count_removed(stats);
      return 0;
    }
  }
  if (item->meta.schema_version != WS_SCHEMA_VERSION) {
    ws_remove_entry(dir, run_id);
    count_removed(stats);
    return 0;
  }
  if (item->meta.payload_bytes != item->bin_st.size) {
    if (ws_entry_in_flight(dir, run_id, &item->meta_st)) return 0;
    ws_remove_entry(dir, run_id);
    count_removed(stats);
    return 0;
  }
  if (ws_expired(s, ws_meta_written_ns(&item->meta), now_ns)) {
    ws_remove_entry(dir, run_id);
    count_removed(stats);
    return 0;
  }
  return 1;
}

/* Drop entries of a still-current listing that crossed the TTL since it was
 * built: the file set is unchanged but the clock is not. */
static void drop_expired(ws_store *s, const char *dir, ws_listing *l,
                         uint64_t now_ns, ws_sweep_stats *stats) {
  size_t kept = 0;
  for (size_t i = 0; i < l->n; i++) {
    if (ws_expired(s, ws_meta_written_ns(&l->items[i].meta), now_ns)) {
      ws_remove_entry(dir, l->items[i].run_id);
      count_removed(stats);
    } else {
      l->items[kept++] = l->items[i];
    }
  }
  if (kept != l->n) {
    l->n = kept;
    /* The removals moved the dir's stamp; the next scan reads it afresh. */
    l->settled = 0;
  }
}

const ws_listing *ws_scan_key_dir(ws_store *s, const char *key,
                                  const char *dir, uint64_t now_ns,
                                  int trust_dir_stamp, ws_sweep_stats *stats) {
  ws_strmap *cache = s->rs->listings;
  ws_stamp dir_st;
  if (ws_stamp_path(dir, &dir_st) != 0) {
    ws_strmap_remove(cache, key);
    return NULL;
  }
  ws_listing *old = ws_strmap_get(cache, key);
  if (old != NULL && listing_current(old, dir, &dir_st, trust_dir_stamp)) {
    drop_expired(s, dir, old, now_ns, stats);
    return old;
  }
  uint64_t real_now = ws_real_now_ns();
  DIR *d = opendir(dir);
  if (d == NULL) return NULL;
  name_list metas = {0}, bins = {0};
  int oom = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    const char *name = e->d_name;
    size_t stem;
    ws_temp_name t;
    if (strstr(name, ".tmp.") != NULL) {
      char path[PATH_MAX];
      struct stat st;
      if (!ws_parse_temp_name(name, &t)) continue; /* not ours: leave it */
      if (ws_join(path, sizeof path, dir, name) != 0 || stat(path, &st) != 0)
        continue;
      if (ws_abandoned(t.pid, t.host, (int64_t)st.st_mtim.tv_sec, real_now) &&
          unlink(path) == 0 && stats)
        stats->temps_removed++;
    } else if (has_suffix(name, ".json", &stem)) {
      oom |= name_list_add(&metas, name, stem);
    } else if (has_suffix(name, ".bin", &stem)) {
      oom |= name_list_add(&bins, name, stem);
    }
  }
  closedir(d);
  ws_listing *l = calloc(1, sizeof *l);
  if (oom || l == NULL ||
      (metas.n > 0 && (l->items = malloc(metas.n * sizeof *l->items)) == NULL)) {
    free(metas.ids);
    free(bins.ids);
    ws_free_listing(l);
    return NULL; /* out of memory: behave as if the dir were empty */
  }
  if (metas.n > 1) qsort(metas.ids, metas.n, sizeof *metas.ids, cmp_id);
  /* A payload without its meta is a write that died between its two
   * renames, or one still in progress: its run id names the writer. */
  for (size_t i = 0; i < bins.n; i++) {
    char path[PATH_MAX], name[WS_RUNID_MAX + 8];
    struct stat st;
    if (metas.n > 0 &&
        bsearch(bins.ids[i], metas.ids, metas.n, sizeof *metas.ids, cmp_id))
      continue;
    snprintf(name, sizeof name, "%s.bin", bins.ids[i]);
    if (ws_join(path, sizeof path, dir, name) != 0 || stat(path, &st) != 0)
      continue;
    if (ws_abandoned(ws_run_id_pid(bins.ids[i]), NULL,
                     (int64_t)st.st_mtim.tv_sec, real_now)) {
      /* Re-check: the writer may have promoted the meta since readdir. */
      snprintf(name, sizeof name, "%s.json", bins.ids[i]);
      char meta_path[PATH_MAX];
      if (ws_join(meta_path, sizeof meta_path, dir, name) == 0 &&
          access(meta_path, F_OK) != 0 && unlink(path) == 0)
        count_removed(stats);
    }
  }
  for (size_t i = 0; i < metas.n; i++) {
    if (resolve_entry(s, dir, metas.ids[i], old, trust_dir_stamp, now_ns,
                      real_now, stats, &l->items[l->n]))
      l->n++;
  }
  free(metas.ids);
  free(bins.ids);
  /* Stamp the dir after the cleanup above, so an unchanged dir is a cache
   * hit next time; the stamp must be settled to be trusted. */
  if (ws_stamp_path(dir, &l->dir_st) != 0) {
    ws_free_listing(l);
    ws_strmap_remove(cache, key);
    return NULL;
  }
  l->settled = ws_stamp_settled(&l->dir_st, real_now);
  for (size_t i = 0; i < l->n && l->settled; i++) l->settled = l->items[i].settled;
  if (ws_strmap_put(cache, key, l) != 0) return NULL; /* frees l */
  return l;
}
