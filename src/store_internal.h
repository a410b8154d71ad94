/* Shared between the store's files (store.c, scan.c, write.c); not part of
 * the core's API. */
#ifndef WS_STORE_INTERNAL_H
#define WS_STORE_INTERNAL_H

#include <limits.h>

#include "strmap.h"
#include "ws_core.h"

/* Temp files and half entries older than this are swept whoever wrote them:
 * their writer is on another host or hung. */
#define WS_ABANDON_AFTER_SECS 3600
/* Conservative size of one meta file, for the throttle's byte estimate. */
#define WS_APPROX_META_BYTES 512
/* A full sweep runs on a handle's first save, when the estimate passes the
 * budget, and every this many saves. */
#define WS_EVICT_EVERY_N_SAVES 32
/* Largest meta file we read; ours are ~300 bytes. */
#define WS_META_MAX_BYTES 65536

/* One valid entry found in a key dir. */
typedef struct ws_scanned {
  char run_id[WS_RUNID_MAX + 1];
  ws_meta meta;
  ws_stamp meta_st, bin_st;
  int settled;
} ws_scanned;

/* The resolved entries of one key dir, reused while the dir and every file
 * in it keep their stamps (no readdir, no JSON parse). */
typedef struct ws_listing {
  ws_stamp dir_st;
  int settled;
  size_t n;
  ws_scanned *items;
} ws_listing;

/* What every handle on one root shares within the process, like the Rust
 * store's Arc'd fields: R code tends to call ws_open() per fit, and a
 * per-handle counter would make every first save a full sweep (gam#1114). */
typedef struct ws_root_state {
  char *root;
  int refs;
  ws_strmap *listings; /* key -> ws_listing* */
  uint64_t byte_total;
  uint64_t save_counter;
  int have_last_sweep;
  int last_sweep_settled;
  ws_stamp last_sweep_root;
  struct ws_root_state *next;
} ws_root_state;

struct ws_store {
  ws_root_state *rs;
  ws_options opt;
  uint64_t clock_offset_ns; /* tests only: simulated elapsed time */
  ws_fault_point fault_point;
  ws_fault_action fault_action;
  int fault_times;
};

/* scan.c */
int ws_key_dir(const ws_store *s, const char *key, char out[PATH_MAX]);
int ws_expired(const ws_store *s, uint64_t written_ns, uint64_t now_ns);
int ws_abandoned(long pid, const char *host, int64_t mtime_s,
                 uint64_t real_now_ns);
/* The entries of a key dir after cleanup, owned by the root's listing cache
 * (valid until the next scan of that key); NULL when the dir is gone. */
const ws_listing *ws_scan_key_dir(ws_store *s, const char *key,
                                  const char *dir, uint64_t now_ns,
                                  ws_sweep_stats *stats);
void ws_remove_entry(const char *dir, const char *run_id);
/* True when a suspect entry may be mid-overwrite by a live writer, so it
 * must be skipped rather than deleted. */
int ws_entry_in_flight(const char *dir, const char *run_id,
                       const ws_stamp *seen_meta);
void ws_free_listing(void *listing);

/* write.c */
/* 0 on success; otherwise -1 with err set and *retryable when the key dir
 * vanished under us (a sibling's sweep removed it). */
int ws_write_entry(ws_store *s, const char *dir, const char *run_id,
                   unsigned attempt, uint64_t nonce, const void *payload,
                   size_t n, ws_meta *meta, const char *label, int overwrite,
                   int *retryable, ws_error *err);

#endif
