/* Walking the whole store: listing its entries, reading an entry's label,
 * removing a key's entries. The sweep (sweep.c) walks with the same
 * walker. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_internal.h"

static int entry_list_add(entry_list *l, const char *key, const ws_scanned *e) {
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 64;
    ws_listed *p = realloc(l->items, nc * sizeof *p);
    if (p == NULL) return -1;
    l->items = p;
    l->cap = nc;
  }
  ws_listed *it = &l->items[l->n++];
  memcpy(it->key, key, strlen(key) + 1); /* valid keys are <= WS_KEY_MAX */
  memcpy(it->run_id, e->run_id, sizeof it->run_id);
  it->meta = e->meta;
  it->disk_bytes = e->meta_st.size + e->bin_st.size;
  it->meta_st = e->meta_st;
  it->bin_st = e->bin_st;
  return 0;
}

int ws_remove_key_dir_if_empty(ws_store *s, const char *key, const char *dir) {
  /* rmdir fails on a non-empty dir, so this cannot make a writer lose
   * files; and a writer pins the dir from its mkdir to the end of its
   * save, so it does not lose the dir itself either (gam#868). */
  if (ws_rmdir_unpinned(dir) != 0) return 0;
  ws_strmap_remove(s->rs->listings, key);
  ws_value_cache_invalidate_dir(dir);
  return 1;
}

/* Scan one key dir into the list (cleaning up in passing, as a lookup
 * does); an emptied dir is removed when remove_empty is set. A key dir
 * that is a link is not followed: it is not the store's. */
static int walk_key(ws_store *s, const char *key, uint64_t now,
                       int remove_empty, int trust_dir_stamp,
                       ws_sweep_stats *stats, entry_list *out) {
  char dir[PATH_MAX];
  if (ws_key_dir(s, key, dir) != 0) return 0;
  int fd = ws_open_dir(dir);
  if (fd < 0) return 0;
  const ws_listing *l =
      ws_scan_key_dir(s, key, dir, fd, now, trust_dir_stamp, stats);
  close(fd); /* read-only: nothing to lose */
  if (l == NULL) return 0;
  if (l->n == 0) {
    /* Removing the dir frees its listing: nothing of l after this. */
    if (remove_empty && ws_remove_key_dir_if_empty(s, key, dir) && stats)
      stats->dirs_removed++;
    return 0;
  }
  /* What this handle sees: the listing keeps entries expired for it that
   * could not be removed (another handle's TTL may be longer). */
  for (size_t i = 0; i < l->n; i++)
    if (!ws_expired(s, &l->items[i].meta, now) &&
        entry_list_add(out, key, &l->items[i]) != 0)
      return -1;
  return 0;
}

/* Every key dir under the root (only key-shaped names are ours: a root
 * pointed at a busy directory must not have its other contents touched). */
int ws_walk_root(ws_store *s, uint64_t now, int remove_empty,
                   int trust_dir_stamp, ws_sweep_stats *stats,
                   entry_list *out, ws_error *err) {
  DIR *d = opendir(s->rs->root);
  if (d == NULL) {
    ws_error_io(err, errno, s->rs->root, "cannot read store root '%s': %s", s->rs->root,
                 strerror(errno));
    return -1;
  }
  int rc = 0;
  struct dirent *e;
  while (rc == 0 && (e = readdir(d)) != NULL) {
    /* d_type spares the walk an open per link or file where the
     * filesystem reports it: they are not key dirs. d_type is not POSIX;
     * without it, collect_key's ws_open_dir turns them away. */
#ifdef DT_DIR
    if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN) continue;
#endif
    if (ws_valid_key(e->d_name))
      rc = walk_key(s, e->d_name, now, remove_empty, trust_dir_stamp, stats,
                       out);
  }
  closedir(d);
  if (rc != 0)
    ws_error_set(err, ENOMEM, "out of memory listing '%s'", s->rs->root);
  return rc;
}

int ws_store_list(ws_store *s, const char *key, ws_listed **out, size_t *n,
                  ws_error *err) {
  entry_list l = {NULL, 0, 0};
  uint64_t now = ws_store_now_ns(s);
  int rc;
  *out = NULL;
  *n = 0;
  if (key != NULL) {
    if (ws_require_names(key, NULL, err) != 0) return -1;
    rc = walk_key(s, key, now, 0, 0, NULL, &l);
    if (rc != 0) ws_error_set(err, ENOMEM, "out of memory listing key '%s'", key);
  } else {
    rc = ws_walk_root(s, now, 0, 0, NULL, &l, err);
  }
  if (rc != 0) {
    free(l.items);
    return -1;
  }
  *out = l.items;
  *n = l.n;
  return 0;
}

int ws_store_label(ws_store *s, const char *key, const char *run_id,
                   const ws_stamp *listed_meta, char *buf, size_t cap) {
  char dir[PATH_MAX], name[WS_RUNID_MAX + 8];
  if (!ws_valid_key(key) || !ws_valid_run_id(run_id) ||
      ws_key_dir(s, key, dir) != 0)
    return 0;
  snprintf(name, sizeof name, "%s.json", run_id);
  int fd = ws_open_dir(dir);
  if (fd < 0) return 0;
  size_t len = 0;
  ws_stamp st;
  char *text = ws_read_small_at(fd, name, WS_META_MAX_BYTES, &len, &st);
  close(fd); /* read-only: nothing to lose */
  if (text == NULL) return 0;
  /* The label of the meta that was listed, and only once its digest
   * verified (the listing may have trusted a cached parse). */
  ws_meta meta;
  int found = ws_stamp_equal(&st, listed_meta) &&
              ws_meta_parse(text, len, &meta) == 0 &&
              ws_meta_label(text, len, buf, cap);
  free(text);
  return found;
}

void ws_store_remove_run(ws_store *s, const char *key, const char *run_id) {
  char dir[PATH_MAX];
  if (!ws_valid_key(key) || !ws_valid_run_id(run_id) || ws_key_dir(s, key, dir) != 0)
    return;
  ws_remove_entry(dir, run_id);
  ws_strmap_remove(s->rs->listings, key);
}

int ws_store_remove(ws_store *s, const char *key, const char *keep_run_id,
                    uint64_t *removed, ws_error *err) {
  char dir[PATH_MAX];
  ws_listed *items = NULL;
  size_t n = 0;
  *removed = 0;
  if (ws_store_list(s, key, &items, &n, err) != 0) return -1;
  if (ws_key_dir(s, key, dir) != 0) {
    free(items);
    ws_error_io(err, errno, dir, "store path too long for key '%s'", key);
    return -1;
  }
  uint64_t keep_ns = UINT64_MAX;
  if (keep_run_id != NULL) {
    /* Only what was written before the kept entry goes: of two processes
     * replacing one key at once, the later write survives both. */
    keep_ns = 0;
    for (size_t i = 0; i < n; i++)
      if (strcmp(items[i].run_id, keep_run_id) == 0)
        keep_ns = ws_meta_written_ns(&items[i].meta);
  }
  for (size_t i = 0; i < n; i++) {
    if (keep_run_id != NULL && strcmp(items[i].run_id, keep_run_id) == 0)
      continue;
    if (ws_meta_written_ns(&items[i].meta) >= keep_ns) continue;
    ws_remove_entry(dir, items[i].run_id);
    (*removed)++;
  }
  free(items);
  ws_strmap_remove(s->rs->listings, key);
  ws_value_cache_invalidate_dir(dir);
  if (keep_run_id == NULL && ws_remove_key_dir_if_empty(s, key, dir) &&
      s->opt.durable)
    (void)ws_fsync_dir(s->rs->root); /* best effort: the removal happened */
  return 0;
}

