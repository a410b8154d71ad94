/* The C core of warmstart: a crash-safe, multi-process warm-start store.
 *
 * Everything under src/core/ is the core, and nothing there includes an R
 * header. The R-facing files sit beside init.c in src/: glue.c (the .Call
 * entry points; it hands the core plain buffers and callbacks),
 * fingerprint.c (ws_key()'s traversal of R values) and errors.c (ws_error to
 * classed R conditions). Every core function that can fail returns -1 and
 * fills a ws_error; the core never longjmps, so the glue raises the R
 * error only after the core has released everything it held.
 *
 * This header is the core's API, in sections named after the file that
 * defines what they declare; store_internal.h, trust.h and strmap.h are
 * shared between core files only.
 */
#ifndef WS_CORE_H
#define WS_CORE_H

#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "platform.h"

#define WS_SCHEMA_VERSION 1
#define WS_ERRMSG_MAX 1024
#define WS_ERRPATH_MAX 4096
#define WS_KEY_MIN 32
#define WS_KEY_MAX 128
/* Longest run id, in bytes: ours are "r<pid hex>-<nanos hex>" (at most
 * 51), the gam crate's "ckpt-r<pid hex>-<nanos hex>"; a name this long
 * still leaves room for the longest temp suffix within NAME_MAX. */
#define WS_RUNID_MAX 128
#define WS_CHECKSUM_HEX 64
/* Longest entry label, in bytes. */
#define WS_LABEL_MAX 1024
/* Longest meta `producer` kept (the gam crate's are 64 hex digits). */
#define WS_PRODUCER_MAX 255

/* What went wrong, in a form the glue turns into a classed R condition:
 * WS_ERR_IO is a file system failure (errnum, path), WS_ERR_UNTRUSTED a
 * part of the store that someone not trusted can write (path; `argument`
 * holds the reason: "owner", "group" or "others"), WS_ERR_OTHER anything
 * else (out of memory, OpenSSL, a name the glue should have refused). Bad
 * input is not the core's to report: the R functions and the glue check
 * what users pass (src/README.md, "Validation"). */
typedef enum {
  WS_ERR_OTHER = 0, WS_ERR_IO,
  WS_ERR_UNTRUSTED /* a store, key dir or file others may write (path) */
} ws_error_class;
typedef struct ws_error {
  ws_error_class cls;
  int errnum; /* errno of the failing call, 0 when not an OS error */
  char argument[32];
  char path[WS_ERRPATH_MAX];
  char msg[WS_ERRMSG_MAX];
} ws_error;

/* Filling a ws_error (store.c). */
#if defined(__MINGW_PRINTF_FORMAT) /* MinGW: the C library's dialect */
#define WS_PRINTF(f, a) __attribute__((format(__MINGW_PRINTF_FORMAT, f, a)))
#elif defined(__GNUC__)
#define WS_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define WS_PRINTF(f, a)
#endif
void ws_error_set(ws_error *err, int errnum, const char *fmt, ...)
    WS_PRINTF(3, 4);
void ws_error_io(ws_error *err, int errnum, const char *path,
                 const char *fmt, ...) WS_PRINTF(4, 5);
void ws_error_untrusted(ws_error *err, const char *path, const char *reason,
                        const char *fmt, ...) WS_PRINTF(4, 5);

typedef enum { WS_KIND_CHECKPOINT = 0, WS_KIND_FINAL = 1 } ws_kind;
/* How the payload bytes are to be read back, as the meta says. Entries
 * written by the Rust store, and ours once a newer Rust store's lookup has
 * rewritten the meta with only its own fields, carry no format field:
 * UNSTATED, and the payload's own header decides (payload.c). */
typedef enum {
  WS_FORMAT_RAW = 0,
  WS_FORMAT_RSERIALIZED = 1,
  WS_FORMAT_UNSTATED = 2
} ws_format;
typedef enum { WS_MODE_BEST = 0, WS_MODE_LATEST = 1 } ws_mode;

typedef struct ws_meta {
  uint32_t schema_version;
  uint64_t written_secs;
  uint32_t written_nanos;
  int has_objective;
  double objective;
  int has_iteration;
  uint64_t iteration;
  ws_kind kind;
  char checksum_hex[WS_CHECKSUM_HEX + 1];
  uint64_t payload_bytes;
  ws_format format;
  int digested; /* ours: its meta_sha256 verified, so payload_bytes too */
  /* Fields of the gam crate's stores after 0.3.122 (all optional). */
  int has_producer;
  char producer[WS_PRODUCER_MAX + 1]; /* "" when absent or too long */
  int accessed;
  uint64_t accessed_secs;
  uint32_t accessed_nanos;
  /* auth.c: the meta's claim of authenticity, read from its text (not set
   * by ws_meta_parse): the tag it carries and the SHA-256 of the text that
   * tag covers. */
  int has_tag;
  unsigned char signed_sha256[32], tag[32];
} ws_meta;

/* ---- checksum.c: SHA-256 through OpenSSL EVP (on Windows, CNG in
 * platform_win.c) ---- */
typedef struct ws_sha256 ws_sha256;
ws_sha256 *ws_sha256_new(void);
int ws_sha256_update(ws_sha256 *h, const void *data, size_t n);
/* Writes 32 raw bytes; the context is then done with (free it). */
int ws_sha256_final(ws_sha256 *h, unsigned char out[32]);
void ws_sha256_free(ws_sha256 *h);
void ws_hex(const unsigned char *bytes, size_t n, char *out);
int ws_sha256_hex(const void *data, size_t n, char out[WS_CHECKSUM_HEX + 1]);
/* HMAC-SHA256 of data under key: 32 raw bytes; -1 on failure. */
int ws_hmac_sha256(const void *key, size_t key_n, const void *data, size_t n,
                   unsigned char out[32]);
/* The SHA-256 of what remains to be read on fd (1 MiB chunks), and how
 * many bytes that was; -1 with errno. */
int ws_sha256_fd_hex(int fd, char out[WS_CHECKSUM_HEX + 1], uint64_t *bytes);

/* ---- hashread.c ---- */
/* Reads up to n bytes from fd into buf, hashing them into h as they come
 * (large payloads on a second thread); *got is how many were read. 0 when
 * the file ended or n were read, -1 with errno on a read error. */
int ws_read_hashed(int fd, unsigned char *buf, size_t n, ws_sha256 *h,
                   size_t *got);

/* ---- meta.c: the schema v1 meta JSON ---- */
/* The shortest text that reads back as v, with '.' whatever the locale. */
int ws_format_double(double v, char *buf, size_t cap);
/* Returns a malloc'd NUL-terminated JSON text, or NULL when out of memory.
 * label (may be NULL) is written as an extra "label" field, m->producer
 * (when has_producer) as "producer". */
char *ws_meta_to_json(const ws_meta *m, const char *label);
/* The meta text with an access recorded (accessed true, the stamp given),
 * every other member kept as it was, unknown ones included, and our digest
 * made afresh. malloc'd; NULL when out of memory or not an object. */
char *ws_meta_touched(const char *text, size_t len, uint64_t secs,
                      uint32_t nanos);
/* 1 with the meta's "label" copied into buf when it has one shorter than
 * cap, else 0. */
int ws_meta_label(const char *text, size_t len, char *buf, size_t cap);
/* 0 when `text` is a meta we can read; WS_META_FOREIGN when serde reads
 * it but we cannot hand its payload out (a payload format we do not know):
 * leave such an entry alone; -1 when it is corrupt. A schema_version other
 * than 1 still parses (the caller cleans it up). */
#define WS_META_FOREIGN (-2)
int ws_meta_parse(const char *text, size_t len, ws_meta *out);
uint64_t ws_meta_written_ns(const ws_meta *m);
/* The last access recorded in the meta (0 when none). */
uint64_t ws_meta_accessed_ns(const ws_meta *m);

/* ---- names.c: keys, run ids, temp file names, the host token ---- */
/* Length of the UTF-8 sequence at p, ending before end; 0 when invalid
 * (also the meta scanner's rule for JSON strings). */
size_t ws_utf8_len(const unsigned char *p, const unsigned char *end);
int ws_valid_key(const char *s);
int ws_valid_run_id(const char *s);
/* -1 with err (not a bad-argument error: the glue checks what users pass)
 * when key or run_id (either may be NULL) is not valid. */
int ws_require_names(const char *key, const char *run_id, ws_error *err);
typedef struct ws_temp_name {
  char run_id[WS_RUNID_MAX + 1]; /* "" when the prefix is not a run id */
  int is_meta;                   /* the temp of a .json (1) or a .bin (0) */
  long pid;
  const char *host; /* the writer's host token, pointing into the parsed
                       name; NULL when absent (the Rust store's temps) */
} ws_temp_name;
/* 1 when `name` is a temp file name with a parseable writer pid, else 0. */
int ws_parse_temp_name(const char *name, ws_temp_name *out);
/* This process's host token, as written in temp names: 16 hex digits of a
 * hash of hostname, boot id and pid namespace. Two processes may judge
 * each other's liveness by pid only when their tokens are equal. */
#define WS_HOST_TOKEN_LEN 16
const char *ws_host_token(void);

/* ---- fsio.c: checked system calls, never following links ---- */
/* A nonzero return stops a wait (the glue's check for an R interrupt). */
typedef int (*ws_poll_fn)(void *ctx);
/* Longest wait for a key dir's lock, in milliseconds. */
#define WS_LOCK_WAIT_MS 60000
typedef struct ws_stamp {
  uint64_t dev, ino, size;
  uint32_t type; /* S_IFMT bits: a link or FIFO never equals a file */
  uint32_t perm; /* permission bits (07777): who else may write it */
  uint32_t uid, gid;
  int64_t mtime_s, mtime_ns, ctime_s, ctime_ns;
} ws_stamp;
/* lstat-like: a link is stamped as itself. */
int ws_stamp_path(const char *path, ws_stamp *out);
int ws_stamp_at(int dirfd, const char *name, ws_stamp *out);
int ws_stamp_fd(int fd, ws_stamp *out);
void ws_stamp_from_fd_stat(const void *struct_stat, ws_stamp *out);
int ws_stamp_equal(const ws_stamp *a, const ws_stamp *b);
int ws_stamp_settled(const ws_stamp *s, uint64_t real_now_ns);
int ws_stamp_is_regular(const ws_stamp *s);
/* When the file's content last changed, in seconds: what the age rules
 * for temps and orphan payloads go by. (Not ctime: a rename sets it, and
 * a file restored with its times, e.g. from a CI cache, keeps its age.) */
int64_t ws_stamp_mtime_s(const ws_stamp *s);
int ws_write_all(int fd, const void *buf, size_t n);
/* Reads n bytes; 0 with *got < n at end of file, -1 with errno. */
int ws_read_fully(int fd, void *buf, size_t n, size_t *got);
/* fsync, or on macOS F_FULLFSYNC: every durable flush of the core. */
int ws_durable_sync(int fd);
int ws_fsync_dir(const char *path);
int ws_fsync_fd_dir(int fd);
/* A directory, not through a link (ELOOP or ENOTDIR when it is one). */
int ws_open_dir(const char *path);
/* A listing of the directory open on dirfd, from its first entry; close
 * it with closedir() (dirfd stays open). NULL with errno. */
DIR *ws_opendir_fd(int dirfd);
/* A regular file in dirfd, read-only, not through a link, without
 * blocking on a FIFO; st receives its stamp. -1 with errno, EINVAL when it
 * is not a regular file. */
int ws_open_regular_at(int dirfd, const char *name, ws_stamp *st);
/* A small regular file whole (at most max bytes, else EFBIG); malloc'd and
 * NUL-terminated, with its stamp. A short read fails (EAGAIN). */
char *ws_read_small_at(int dirfd, const char *name, size_t max, size_t *len,
                       ws_stamp *st);
/* A shared lock on a key dir that keeps a sibling's sweep from removing
 * it or what is in it (see fsio.c); -1 with errno ENOENT when it is gone,
 * EINTR when poll stopped the wait, ETIMEDOUT after WS_LOCK_WAIT_MS. Close
 * the fd to release. */
int ws_dir_pin(const char *path, ws_poll_fn poll, void *poll_ctx);
/* An exclusive lock without waiting: 0 when held (or the filesystem has
 * no locks), -1 with EBUSY when a writer pins the dir. */
int ws_dir_lock_exclusive(int fd);
void ws_dir_unlock(int fd);
/* rmdir, unless a writer pins the dir (then -1 with errno EBUSY). */
int ws_rmdir_unpinned(const char *path);
/* mkdir -p; with durable, each directory it creates is synced into its
 * parent. */
int ws_mkdir_p(const char *path, int durable, int *created_leaf);
/* The same, the last directory made with leaf_mode (the umask applies; the
 * caller sets the exact mode on the directory it opened). */
int ws_mkdir_p_mode(const char *path, int durable, int *created_leaf,
                    unsigned leaf_mode);
int ws_pid_alive(long pid);
int ws_join(char *out, size_t cap, const char *dir, const char *name);

/* ---- clock.c ---- */
uint64_t ws_real_now_ns(void);
/* A run id "r<pid hex>-<nanos hex>", unique within this process. */
void ws_fresh_run_id(uint64_t now_ns, char out[WS_RUNID_MAX + 1]);
/* Strictly increasing per process, for temp-name nonces. */
uint64_t ws_unique_ns(uint64_t now_ns);

/* ---- store.c ---- */
/* Which gam store's rules a handle follows (semantics.c):
 * 0.3.122: best = lowest objective (a Final wins a tie); TTL from the
 *   write; over budget, oldest write first.
 * ACCESS, the gam crate's later stores: best = any Final over any
 *   Checkpoint (newest Final first), a Final whose producer is not ours
 *   read as a Checkpoint; TTL from the later of write and last recorded
 *   access; over budget, never-accessed entries first, then oldest write;
 *   lookups record an access in the meta (ws_store_record_access). */
typedef enum { WS_SEMANTICS_0_3_122 = 0, WS_SEMANTICS_ACCESS = 1 } ws_semantics;

/* Who besides the user may write to the store (trust.c): no one but root
 * (USER), the members of the root's group (GROUP), anyone (ANY). What
 * someone not trusted can write is refused before anything is read. */
typedef enum { WS_TRUST_USER = 0, WS_TRUST_GROUP, WS_TRUST_ANY } ws_trust_mode;
typedef struct ws_options {
  uint64_t size_budget; /* bytes; UINT64_MAX means unlimited */
  uint64_t ttl_ns;      /* 0 means never expires */
  int durable;          /* fsync files and directories */
  int value_cache; /* use the process-wide value cache (ws_open(memory_cache =)) */
  ws_semantics semantics;
  char producer[WS_PRODUCER_MAX + 1]; /* written into every meta; "" none */
  ws_trust_mode trust;
} ws_options;

/* Fault injection, for the tests that simulate a crash or a full disk at an
 * exact point of the write sequence instead of hoping to hit it. */
typedef enum {
  WS_FAULT_NONE = 0,
  WS_FAULT_AFTER_MKDIR,       /* key dir exists, no temp written yet */
  WS_FAULT_MID_BIN_WRITE,     /* half of the payload is in the temp */
  WS_FAULT_BEFORE_BIN_RENAME, /* payload temp complete, meta temp created */
  WS_FAULT_BEFORE_META_RENAME,/* payload promoted, meta temp complete */
  WS_FAULT_AFTER_META_RENAME, /* entry visible, directory not yet synced */
  WS_FAULT_BEFORE_VERIFY,     /* ws_evict(verify): listed, not yet hashed */
  WS_FAULT_NPOINTS
} ws_fault_point;
typedef enum {
  WS_FAULT_REMOVE_DIR = 1, /* a sibling's sweep removed the key dir */
  WS_FAULT_ENOSPC,         /* the disk is full */
  WS_FAULT_EXIT,           /* the process dies here (SIGKILL, no cleanup) */
  WS_FAULT_STOP            /* the process stops here (SIGSTOP) until continued */
} ws_fault_action;

typedef struct ws_store ws_store;

typedef struct ws_sweep_stats {
  uint64_t entries, bytes, removed, temps_removed, corrupt, dirs_removed;
} ws_sweep_stats;

/* ws_store_sweep flags. FORCE: sweep even when the schedule would skip it.
 * VERIFY: also checksum every payload and remove those that do not match
 * (a lookup checks only the entry it returns). */
enum { WS_SWEEP_FORCE = 1, WS_SWEEP_VERIFY = 2 };

/* Where a cold lookup reads the payload: the glue allocates the R vector and
 * the core reads straight into it. alloc returns NULL when it cannot.
 * accept (may be NULL) sees verified bytes before they are returned: 0
 * skips the entry (kept on disk) and the lookup goes on to the next. */
typedef struct ws_payload_sink {
  void *(*alloc)(void *ctx, size_t n);
  void *ctx;
  int (*accept)(void *ctx, const void *bytes, size_t n, const ws_meta *meta);
  /* With a secret: only entries whose tag it verifies are chosen (the
   * values ws_compute() and the like return; ws_lookup() also returns
   * raw payloads without one, flagged). No effect without a secret. */
  int authenticated_only;
} ws_payload_sink;

typedef struct ws_found {
  ws_meta meta;
  char run_id[WS_RUNID_MAX + 1];
  void *cached_value; /* non-NULL: the value held by the value cache */
  /* Identity of what was read, for ws_store_value_cache_put; settled when every
   * stamp was taken after its file's clock had moved on (ws_stamp_settled). */
  ws_stamp dir_st, meta_st, bin_st;
  int settled;
  int authenticated; /* its tag verified under this handle's secret */
  uint64_t chosen_at_ns; /* this handle's clock when the entry was chosen */
} ws_found;

int ws_store_open(const char *root, const ws_options *opt, ws_store **out,
                  ws_error *err);
void ws_store_close(ws_store *s);
const char *ws_store_root(const ws_store *s);
const ws_options *ws_store_options(const ws_store *s);
void ws_store_advance_clock(ws_store *s, uint64_t ns);
uint64_t ws_store_now_ns(const ws_store *s);
void ws_store_set_fault(ws_store *s, ws_fault_point point,
                        ws_fault_action action, int times);
/* What the store calls while it waits for a lock: a nonzero return stops
 * the wait and the call fails with EINTR. NULL: no check. */
void ws_store_set_poll(ws_store *s, ws_poll_fn poll, void *ctx);
void ws_store_get_poll(const ws_store *s, ws_poll_fn *poll, void **ctx);
/* The secret this handle signs its saves with and requires of the R values
 * it returns (auth.c); kept in memory only. n == 0 removes it. */
int ws_store_set_secret(ws_store *s, const void *secret, size_t n,
                        ws_error *err);
int ws_store_has_secret(const ws_store *s);
/* 1 when the entry run_id of key, with meta m, is one whose value the
 * APIs that return stored values as their own may return (what
 * ws_payload_sink's authenticated_only chooses among): any entry without a
 * secret, an authenticated one with a secret. */
int ws_store_serves_value(const ws_store *s, const char *key,
                          const char *run_id, const ws_meta *m);

/* run_id NULL: a fresh run id (written to run_id_out). Otherwise that entry
 * is replaced atomically. label may be NULL. */
int ws_store_save(ws_store *s, const char *key, const char *run_id,
                  const void *payload, size_t n, const ws_meta *fields,
                  const char *label, char run_id_out[WS_RUNID_MAX + 1],
                  ws_error *err);
/* 1 found, 0 none, -1 error. */
int ws_store_lookup(ws_store *s, const char *key, ws_mode mode,
                    const ws_payload_sink *sink, ws_found *out,
                    ws_error *err);
/* Remember the value the glue built from a cold lookup. release is called
 * when the cache lets go of it (the core never inspects the value).
 * authenticated_only: the sink's, that the lookup was made with. */
void ws_store_value_cache_put(ws_store *s, const char *key, ws_mode mode,
                        const ws_found *found, void *value, size_t bytes,
                        void (*release)(void *), int authenticated_only);

/* ---- access.c: lookups that record an access ---- */
/* Record an access in the entry a lookup returned (found, as filled by
 * ws_store_lookup): its meta rewritten by temp + rename with the access
 * stamp, every other field kept (access.c). Best effort: nothing is done
 * on a read-only store, or when a writer is replacing the entry. 1 when
 * recorded, 0 when not. */
int ws_store_record_access(ws_store *s, const char *key, const ws_found *found);

/* ---- semantics.c: the rules that differ between gam store versions ---- */
/* Whether the meta was written by warmstart: its producer says so, or (a
 * version before producers) it carries our payload_format field. */
int ws_meta_is_ours(const ws_meta *m);
/* The kind as this handle reads it: under ACCESS a Final that is not ours
 * is a Checkpoint (the gam crate's rule: a Final certifies a fit only to
 * the code that produced it). */
ws_kind ws_kind_as_read(const ws_store *s, const ws_meta *m);
/* When the entry was last active: its write, or under ACCESS the later of
 * its write and its last recorded access. TTL counts from here. */
uint64_t ws_activity_ns(const ws_store *s, const ws_meta *m);
/* Whether c ranks before d for this handle and lookup mode. */
int ws_better(const ws_store *s, ws_mode mode, const ws_meta *c,
              const ws_meta *d);

/* ---- payload.c ---- */
/* Whether bytes begin with the header serialize(version = 3, xdr = FALSE)
 * writes on this host: what a payload saved without a stated format must
 * show to be read as an R value (ws_save() stores a raw vector that would
 * pass as an R value, so nothing it saves as raw ever does). */
int ws_is_r_serialization(const unsigned char *p, size_t n);

/* ---- sweep.c: the sweep (what ws_evict() runs, and saves on a schedule) ---- */
int ws_store_sweep(ws_store *s, unsigned flags, ws_sweep_stats *stats,
                   ws_error *err);

/* ---- walk.c: listing and removing entries across the root ---- */
/* One valid entry, as listed. */
typedef struct ws_listed {
  char key[WS_KEY_MAX + 1];
  char run_id[WS_RUNID_MAX + 1];
  ws_meta meta;
  uint64_t disk_bytes; /* meta + payload files */
  ws_stamp meta_st, bin_st; /* as listed: "changed since" is judged by these */
} ws_listed;
/* Every valid entry (only key's when key is not NULL), after the cleanup a
 * lookup does in passing. *out is malloc'd (free() it), NULL when empty. */
int ws_store_list(ws_store *s, const char *key, ws_listed **out, size_t *n,
                  ws_error *err);
/* 1 with the entry's label in buf, 0 when it has none, is gone, or its
 * meta is no longer the one listed (listed_meta). */
int ws_store_label(ws_store *s, const char *key, const char *run_id,
                   const ws_stamp *listed_meta, char *buf, size_t cap);
/* Remove one entry of key, by its run id, whatever state it is in (the
 * caller's decision: ws_cachem() pruning what it listed). */
void ws_store_remove_run(ws_store *s, const char *key, const char *run_id);
/* Remove key's entries: all of them, or (keep_run_id not NULL) those
 * written before that entry. Live writers' temps are left alone. */
int ws_store_remove(ws_store *s, const char *key, const char *keep_run_id,
                    uint64_t *removed, ws_error *err);

/* What this process knows of a root's sweep schedule (sweep.c). */
typedef struct ws_sweep_state {
  uint64_t saves, sweeps, saves_since_sweep, walked_at_last_sweep, byte_total;
  int adopted_marker;
} ws_sweep_state;
void ws_store_sweep_state(const ws_store *s, ws_sweep_state *out);

/* ---- claim.c: single flight ---- */
typedef struct ws_claim ws_claim;
/* 1 with *out: this process now computes key's value (until
 * ws_claim_release, or its death); 0: another live process does; -1 with
 * err (a read-only store cannot be claimed). */
int ws_claim_try(ws_store *s, const char *key, ws_claim **out, ws_error *err);
void ws_claim_release(ws_claim *c);

/* ---- value_cache.c: process-wide, bounded ---- */
typedef struct ws_value_cache_row {
  char *dir_path; /* absolute key dir: identifies root and key */
  ws_mode mode;
  ws_stamp dir_st, meta_st, bin_st;
  int settled;
  uint64_t written_ns;
  char run_id[WS_RUNID_MAX + 1];
  ws_meta meta;
  void *value;
  size_t bytes;
  void (*release)(void *);
  uint64_t last_used;
  /* Chosen by a handle with this secret (auth.c's key id; 0: none), which
   * decides what may be chosen; authenticated under it. */
  uint64_t chosen_by;
  int authenticated;
  /* Chosen, and its kind read, under these semantics (store options). */
  int semantics;
  /* Chosen among the entries within this TTL (0: none) at this time of the
   * chooser's clock: it serves a handle whose TTL and clock leave it no
   * entry the chooser did not see (a TTL no longer, a clock no earlier). */
  uint64_t ttl_ns, chosen_at_ns;
  /* Chosen among authenticated entries only (ws_payload_sink). */
  int authenticated_only;
} ws_value_cache_row;
ws_value_cache_row *ws_value_cache_get(const char *dir_path, ws_mode mode);
void ws_value_cache_put(ws_value_cache_row *row_template);
void ws_value_cache_invalidate(const char *dir_path, ws_mode mode);
void ws_value_cache_invalidate_dir(const char *dir_path);
void ws_value_cache_clear(void);
void ws_value_cache_set_limits(size_t max_entries, size_t max_bytes);
void ws_value_cache_usage(size_t *entries, size_t *bytes);

/* ---- rstream.c: promises in an R serialization, before unserialize() ---- */
typedef enum {
  WS_RSTREAM_OK = 0,      /* no promise outside an environment's frame */
  WS_RSTREAM_PROMISE,     /* a promise where R never writes one */
  WS_RSTREAM_MALFORMED,   /* not a stream R would read */
  WS_RSTREAM_UNSUPPORTED, /* the ASCII format: not checked */
  WS_RSTREAM_NOMEM
} ws_rstream_verdict;
ws_rstream_verdict ws_rstream_check(const void *data, size_t n);

#endif
