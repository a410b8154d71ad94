/* Shared between the core's store files (store.c, scan.c, write.c,
 * sweep.c, walk.c, access.c, claim.c, semantics.c); not part of the
 * core's API (ws_core.h). */
#ifndef WS_STORE_INTERNAL_H
#define WS_STORE_INTERNAL_H

#include <limits.h>

#include "strmap.h"
#include "trust.h"
#include "ws_core.h"

/* Temp files and half entries older than this are swept whoever wrote them:
 * their writer is on another host or hung. */
#define WS_ABANDON_AFTER_SECS 3600
/* Conservative size of one meta file, for the sweep schedule's byte
 * estimate. */
#define WS_APPROX_META_BYTES 512
/* The sweep schedule (see sweep_due() in sweep.c): at least this many
 * saves between sweeps, and at least 1/WS_SWEEP_WALK_DIVISOR of what the
 * last sweep walked (key dirs plus entries), so that a walk's cost, shared
 * by the saves between two walks, is O(1) per save. */
#define WS_SWEEP_MIN_SAVES 32
#define WS_SWEEP_WALK_DIVISOR 8
/* A sweep over budget goes down to this fraction of the budget (per mille), not to
 * the budget itself: a full store would otherwise sweep on every save. */
#define WS_SWEEP_LOW_WATER_PERMILLE 900
/* Where a completed sweep leaves its marker (a subdirectory of the root),
 * and how long the marker spares a new process its first-save sweep. */
#define WS_SWEEP_MARKER_DIR ".warmstart"
#define WS_SWEEP_MARKER_FRESH_SECS 600
/* Largest meta file we read; ours are ~400 bytes, but serde reads a meta
 * of any size (an unknown field may hold anything), and one larger than
 * this is left alone rather than judged. */
#define WS_META_MAX_BYTES ((size_t)16 << 20)

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
  uint64_t saves_since_sweep;
  uint64_t walked_at_last_sweep; /* key dirs + entries */
  uint64_t sweeps;      /* walks run (for tests and benchmarks) */
  int adopted_marker;   /* the first save took a fresh marker's totals */
  int have_last_sweep;
  int last_sweep_settled;
  ws_stamp last_sweep_root;
  struct ws_root_state *next;
} ws_root_state;

struct ws_store {
  ws_root_state *rs;
  ws_options opt;
  ws_trust trust; /* whose writing this handle accepts */
  ws_auth *auth;  /* its secret; NULL when it has none */
  ws_poll_fn poll; /* stops lock waits (an R interrupt); may be NULL */
  void *poll_ctx;
  uint64_t clock_offset_ns; /* tests only: simulated elapsed time */
  ws_fault_point fault_point;
  ws_fault_action fault_action;
  int fault_times;
};

/* store.c: the injected fault at this point, if one is armed (tests). */
int ws_fault(ws_store *s, ws_fault_point point, const char *dir);

/* scan.c */
int ws_key_dir(const ws_store *s, const char *key, char out[PATH_MAX]);
/* Past the TTL, counted from ws_activity_ns(). */
int ws_expired(const ws_store *s, const ws_meta *m, uint64_t now_ns);
/* Whether a temp file's writer is gone: see scan.c. host is the token in
 * the temp's name (NULL when it has none). */
int ws_abandoned(long pid, const char *host, int64_t changed_s,
                 uint64_t real_now_ns);
/* The entries of the key dir open on dirfd after cleanup, owned by the
 * root's listings (valid until the next scan of that key); NULL when
 * the dir is gone or the handle does not trust it (trust.c). The listing
 * is shared by every handle on the root, so it holds what is on disk:
 * entries expired for this handle are removed when they can be, and kept
 * when they cannot; callers skip those expired for them (ws_expired).
 * trust_dir_stamp: reuse a remembered listing on the dir's stamp alone,
 * without a stat of each file. Walks over the whole store do
 * (what they need, sizes and write stamps, changes only when an entry is
 * added, removed or replaced, which moves the dir's stamp); lookups, which
 * return bytes, do not. */
const ws_listing *ws_scan_key_dir(ws_store *s, const char *key,
                                  const char *dir, int dirfd, uint64_t now_ns,
                                  int trust_dir_stamp, ws_sweep_stats *stats);
/* Removes an entry unconditionally (ws_remove(), a value the glue could
 * not decode); nothing when the dir is gone or is a link. */
void ws_remove_entry(const char *dir, const char *run_id);
/* Removes an entry whose payload failed its checksum, unless a writer may
 * be replacing it (the dir is pinned, the meta changed since seen_meta, a
 * live writer's meta temp is there). 1 when removed. */
int ws_remove_suspect(const char *dir, int dirfd, const char *run_id,
                      const ws_stamp *seen_meta, const ws_stamp *seen_bin);
/* Removes a valid entry the sweep chose (expired, over budget) unless a
 * writer pins its dir or its meta is no longer the one listed. 1 when
 * removed. */
int ws_remove_listed(const char *dir, const char *run_id,
                     const ws_stamp *seen_meta, const ws_stamp *seen_bin);
/* True when an entry may be mid-overwrite by a live writer: its meta (or
 * payload, when seen_bin is given) is not the one seen, or a live
 * writer's meta temp stands beside it. */
int ws_entry_in_flight(int dirfd, const char *run_id, const ws_stamp *seen_meta,
                       const ws_stamp *seen_bin);
void ws_free_listing(void *listing);

/* walk.c */
typedef struct entry_list {
  ws_listed *items;
  size_t n, cap;
} entry_list;
/* Every valid entry under the root into out, cleaning up in passing (and
 * removing emptied key dirs when remove_empty is set). trust_dir_stamp as
 * for ws_scan_key_dir: the scheduled sweep trusts it, listings for users
 * and the verifying sweep check every file. */
int ws_walk_root(ws_store *s, uint64_t now, int remove_empty,
                   int trust_dir_stamp, ws_sweep_stats *stats,
                   entry_list *out, ws_error *err);
/* rmdir a key dir unless a writer pins it; drops its listing. 1
 * when it was removed. */
int ws_remove_key_dir_if_empty(ws_store *s, const char *key, const char *dir);

/* sweep.c */
/* After a save: run the sweep when its schedule says so. */
void ws_sweep_after_save(ws_store *s, size_t payload_bytes);

/* write.c */
/* 0 on success; otherwise -1 with err set and *retryable when the key dir
 * vanished under us (a sibling's sweep removed it). */
int ws_write_entry(ws_store *s, const char *key, const char *dir,
                   const char *run_id,
                   unsigned attempt, uint64_t nonce, const void *payload,
                   size_t n, ws_meta *meta, const char *label, int overwrite,
                   int *retryable, ws_error *err);

#endif
