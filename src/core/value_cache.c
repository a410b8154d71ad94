/* The process-wide value cache: (key dir, mode) -> the value a cold lookup
 * built (for R, the raw vector or the unserialized object), so a hot lookup
 * hands back that value without reading or copying the payload. Rows are
 * validated by the caller against file stamps before use.
 *
 * Bounded by entries and bytes; the least recently used row goes first. A
 * linear table: at 128 rows a scan costs less than hashing the path. */
#include <stdlib.h>
#include <string.h>

#include "ws_core.h"

static size_t max_entries = 128;
static size_t max_bytes = (size_t)256 * 1024 * 1024;
static ws_value_cache_row *rows = NULL;
static size_t nrows = 0, cap_rows = 0, total_bytes = 0;
static uint64_t use_clock = 0;

static void drop_row(size_t i) {
  ws_value_cache_row r = rows[i];
  total_bytes -= r.bytes;
  rows[i] = rows[--nrows];
  free(r.dir_path);
  if (r.release) r.release(r.value);
}

static ssize_t find(const char *dir_path, ws_mode mode) {
  for (size_t i = 0; i < nrows; i++)
    if (rows[i].mode == mode && strcmp(rows[i].dir_path, dir_path) == 0)
      return (ssize_t)i;
  return -1;
}

ws_value_cache_row *ws_value_cache_get(const char *dir_path, ws_mode mode) {
  ssize_t i = find(dir_path, mode);
  if (i < 0) return NULL;
  rows[i].last_used = ++use_clock;
  return &rows[i];
}

static void drop_least_recent(void) {
  size_t victim = 0;
  for (size_t i = 1; i < nrows; i++)
    if (rows[i].last_used < rows[victim].last_used) victim = i;
  drop_row(victim);
}

void ws_value_cache_put(ws_value_cache_row *t) {
  /* On any failure the template's value is released: the caller has handed
   * ownership over either way. */
  ssize_t old = find(t->dir_path, t->mode);
  if (old >= 0) drop_row((size_t)old);
  if (max_entries == 0 || t->bytes > max_bytes) goto reject;
  while (nrows > 0 && (nrows >= max_entries || total_bytes + t->bytes > max_bytes))
    drop_least_recent();
  if (nrows == cap_rows) {
    size_t nc = cap_rows ? cap_rows * 2 : 16;
    ws_value_cache_row *r = realloc(rows, nc * sizeof *r);
    if (r == NULL) goto reject;
    rows = r;
    cap_rows = nc;
  }
  char *path = strdup(t->dir_path);
  if (path == NULL) goto reject;
  rows[nrows] = *t;
  rows[nrows].dir_path = path;
  rows[nrows].last_used = ++use_clock;
  total_bytes += t->bytes;
  nrows++;
  return;
reject:
  if (t->release) t->release(t->value);
}

void ws_value_cache_invalidate(const char *dir_path, ws_mode mode) {
  ssize_t i = find(dir_path, mode);
  if (i >= 0) drop_row((size_t)i);
}

void ws_value_cache_invalidate_dir(const char *dir_path) {
  ws_value_cache_invalidate(dir_path, WS_MODE_BEST);
  ws_value_cache_invalidate(dir_path, WS_MODE_LATEST);
}

void ws_value_cache_clear(void) {
  while (nrows > 0) drop_row(nrows - 1);
  free(rows);
  rows = NULL;
  cap_rows = 0;
}

void ws_value_cache_set_limits(size_t entries, size_t bytes) {
  max_entries = entries;
  max_bytes = bytes;
  while (nrows > 0 && (nrows > max_entries || total_bytes > max_bytes))
    drop_least_recent();
}

void ws_value_cache_usage(size_t *entries, size_t *bytes) {
  *entries = nrows;
  *bytes = total_bytes;
}
