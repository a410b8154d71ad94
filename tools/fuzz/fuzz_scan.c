/* libFuzzer target: a key dir holding whatever files the input describes
 * (entries, orphans, temps of live and dead writers, junk), then every
 * operation that scans it: best and latest lookups, listing, removal of
 * older entries, the sweep. Built from the C core alone. Invariants: no
 * crash, leak or undefined behaviour, and a returned payload always
 * matches the checksum its meta promises. */
#include <assert.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ws_core.h"

#define KEY "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char root[256];
static char dir[512];

/* File names the input picks from: what a store dir can hold. */
static const char *names[] = {
    "r1-10.json", "r1-10.bin", "r1-11.json", "r1-11.bin",
    "r7fffffff-12.json", "r7fffffff-12.bin",
    "r1-10.bin.tmp.1.5.0", "r1-10.json.tmp.1.5.0.otherhost",
    "r2-13.bin.tmp.999999.1.0", "r2-13.json.tmp.0.1.1",
    "r1-10.bin.tmp.notapid", "garbage.tmp.x", "README", "r1-.json",
    "R1-10.json", "r1-10.json.bak", ".json", ".bin", "r1-10.bin.tmp."};
#define NNAMES (sizeof names / sizeof names[0])

static void clear_dir(void) {
  DIR *d = opendir(dir);
  if (d == NULL) return;
  struct dirent *e;
  char path[1024];
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    unlink(path);
  }
  closedir(d);
}

/* The payload a lookup read: its bytes and their count (a Rust-written
 * meta's payload_bytes is not checked against the file, as the Rust
 * store does not check it: the checksum covers what was read). */
typedef struct read_payload_buf {
  void *buf;
  size_t n;
} read_payload_buf;

static void *sink_alloc(void *ctx, size_t n) {
  read_payload_buf *p = ctx;
  free(p->buf);
  p->buf = malloc(n ? n : 1);
  p->n = n;
  return p->buf;
}

static void check_found(const ws_found *f, const read_payload_buf *p) {
  char hex[WS_CHECKSUM_HEX + 1];
  assert(f->cached_value == NULL);
  assert(ws_sha256_hex(p->buf, p->n, hex) == 0);
  assert(strcmp(hex, f->meta.checksum_hex) == 0);
  assert(!f->meta.digested || f->meta.payload_bytes == p->n);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(root, sizeof root, "%s/ws-fuzz-scan-%ld", base, (long)getpid());
  snprintf(dir, sizeof dir, "%s/%s", root, KEY);
  mkdir(root, 0700);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Records: name index, content length, content bytes. */
  mkdir(dir, 0700);
  size_t i = 0;
  while (i + 2 <= size) {
    const char *name = names[data[i] % NNAMES];
    size_t len = data[i + 1];
    i += 2;
    if (len > size - i) len = size - i;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f != NULL) {
      if (len > 0) fwrite(data + i, 1, len, f);
      fclose(f);
    }
    i += len;
  }

  ws_options opt = {UINT64_MAX, 0, 0, 0};
  if (size > 0) opt.size_budget = (uint64_t)data[0] * 16; /* some sweeps remove */
  ws_store *s = NULL;
  ws_error err;
  if (ws_store_open(root, &opt, &s, &err) != 0) return 0;
  read_payload_buf got = {NULL, 0};
  ws_payload_sink sink = {.alloc = sink_alloc, .ctx = &got, .accept = NULL, .authenticated_only = 0};
  ws_found found;
  for (int mode = 0; mode < 2; mode++) {
    if (ws_store_lookup(s, KEY, (ws_mode)mode, &sink, &found, &err) == 1)
      check_found(&found, &got);
  }
  ws_listed *items = NULL;
  size_t n = 0;
  if (ws_store_list(s, NULL, &items, &n, &err) == 0) {
    char label[WS_LABEL_MAX + 1];
    for (size_t k = 0; k < n; k++)
      (void)ws_store_label(s, items[k].key, items[k].run_id, &items[k].meta_st,
                           label, sizeof label);
    if (n > 0) {
      uint64_t removed = 0;
      (void)ws_store_remove(s, KEY, items[0].run_id, &removed, &err);
    }
    free(items);
  }
  ws_sweep_stats st;
  (void)ws_store_sweep(s, WS_SWEEP_FORCE | (size > 1 && (data[1] & 1) ? WS_SWEEP_VERIFY : 0), &st, &err);
  free(got.buf);
  ws_store_close(s);
  clear_dir();
  rmdir(dir);
  return 0;
}
