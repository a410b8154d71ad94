/* The store: open, save, lookup (the sweep is in sweep.c, writing an
 * entry in write.c, scanning a key dir in scan.c). Semantics follow the Rust gam
 * crate's filesystem warm-start store (schema v1); where this differs, a
 * comment says why. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "platform.h"
#include "store_internal.h"

static void error_fill(ws_error *err, ws_error_class cls, int errnum,
                       const char *fmt, va_list ap) {
  err->cls = cls;
  err->errnum = errnum;
  err->argument[0] = err->path[0] = '\0';
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
}

void ws_error_set(ws_error *err, int errnum, const char *fmt, ...) {
  if (err == NULL) return;
  va_list ap;
  va_start(ap, fmt);
  error_fill(err, WS_ERR_OTHER, errnum, fmt, ap);
  va_end(ap);
}

void ws_error_io(ws_error *err, int errnum, const char *path,
                 const char *fmt, ...) {
  if (err == NULL) return;
  va_list ap;
  va_start(ap, fmt);
  error_fill(err, WS_ERR_IO, errnum, fmt, ap);
  va_end(ap);
  snprintf(err->path, sizeof err->path, "%s", path);
}

/* ---- handles and the per-root shared state ---- */

static ws_root_state *roots = NULL;

static ws_root_state *root_state_get(const char *root) {
  for (ws_root_state *r = roots; r != NULL; r = r->next)
    if (strcmp(r->root, root) == 0) {
      r->refs++;
      return r;
    }
  ws_root_state *r = calloc(1, sizeof *r);
  if (r == NULL) return NULL;
  r->root = strdup(root);
  r->listings = ws_strmap_new(ws_free_listing);
  if (r->root == NULL || r->listings == NULL) {
    free(r->root);
    ws_strmap_free(r->listings);
    free(r);
    return NULL;
  }
  r->refs = 1;
  r->next = roots;
  roots = r;
  return r;
}

static void root_state_release(ws_root_state *r) {
  if (--r->refs > 0) return;
  for (ws_root_state **pp = &roots; *pp != NULL; pp = &(*pp)->next) {
    if (*pp == r) {
      *pp = r->next;
      break;
    }
  }
  ws_strmap_free(r->listings);
  free(r->root);
  free(r);
}

int ws_store_open(const char *root, const ws_options *opt, ws_store **out,
                  ws_error *err) {
  char abs[PATH_MAX];
  struct stat st;
  ws_trust trust;
  *out = NULL;
  ws_trust_init(&trust, opt->trust);
  /* A new root gets its mode whatever the umask (trust.c). */
  if (ws_make_dir(&trust, root, opt->durable, NULL) != 0) {
    ws_error_io(err, errno, root, "cannot create store root '%s': %s", root,
                 strerror(errno));
    return -1;
  }
  /* One canonical path per root, so every handle on it shares one state
   * and one set of lookup-cache rows. */
  if (realpath(root, abs) == NULL || stat(abs, &st) != 0) {
    ws_error_io(err, errno, root, "cannot resolve store root '%s': %s", root,
                 strerror(errno));
    return -1;
  }
  if (!S_ISDIR(st.st_mode)) {
    ws_error_io(err, ENOTDIR, root, "store root '%s' is not a directory", root);
    return -1;
  }
  /* The directory the path leads to (a link is the user's choice) must be
   * written only by those trusted. */
  if (ws_trust_open_root(&trust, abs, err) != 0) return -1;
  ws_store *s = calloc(1, sizeof *s);
  if (s == NULL || (s->rs = root_state_get(abs)) == NULL) {
    free(s);
    ws_error_set(err, ENOMEM, "out of memory opening store '%s'", root);
    return -1;
  }
  s->opt = *opt;
  s->trust = trust;
  *out = s;
  return 0;
}

void ws_store_close(ws_store *s) {
  if (s == NULL) return;
  root_state_release(s->rs);
  ws_auth_free(s->auth);
  free(s);
}

int ws_store_set_secret(ws_store *s, const void *secret, size_t n,
                        ws_error *err) {
  ws_auth *a = NULL;
  if (n > 0 && (a = ws_auth_new(secret, n)) == NULL) {
    ws_error_set(err, ENOMEM, "cannot keep the secret (out of memory, or OpenSSL failed)");
    return -1;
  }
  ws_auth_free(s->auth);
  s->auth = a;
  return 0;
}

int ws_store_has_secret(const ws_store *s) { return s->auth != NULL; }

int ws_store_serves_value(const ws_store *s, const char *key,
                          const char *run_id, const ws_meta *m) {
  return s->auth == NULL || ws_auth_verify(s->auth, key, run_id, m);
}

const char *ws_store_root(const ws_store *s) { return s->rs->root; }
const ws_options *ws_store_options(const ws_store *s) { return &s->opt; }

void ws_store_advance_clock(ws_store *s, uint64_t ns) { s->clock_offset_ns += ns; }

uint64_t ws_store_now_ns(const ws_store *s) {
  return ws_real_now_ns() + s->clock_offset_ns;
}

void ws_store_set_poll(ws_store *s, ws_poll_fn poll, void *ctx) {
  s->poll = poll;
  s->poll_ctx = ctx;
}

void ws_store_get_poll(const ws_store *s, ws_poll_fn *poll, void **ctx) {
  *poll = s->poll;
  *ctx = s->poll_ctx;
}

/* 0 to go on; -1 with errno set when the injected fault fails this step. */
int ws_fault(ws_store *s, ws_fault_point point, const char *dir) {
  if (s->fault_point != point || s->fault_times <= 0) return 0;
  if (--s->fault_times == 0) s->fault_point = WS_FAULT_NONE;
  switch (s->fault_action) {
  case WS_FAULT_REMOVE_DIR:
    /* What a sibling's sweep does to a key dir it saw empty. */
    (void)rmdir(dir);
    return 0;
  case WS_FAULT_ENOSPC:
    errno = ENOSPC;
    return -1;
  case WS_FAULT_EXIT:
    /* A crash: SIGKILL cannot be caught, so nothing is cleaned up. */
    raise(SIGKILL);
    return 0;
  case WS_FAULT_STOP:
    /* Frozen here until a SIGCONT: another process acts in between. */
    raise(SIGSTOP);
    return 0;
  }
  return 0;
}

void ws_store_set_fault(ws_store *s, ws_fault_point point,
                        ws_fault_action action, int times) {
  s->fault_point = times > 0 ? point : WS_FAULT_NONE;
  s->fault_action = action;
  s->fault_times = times;
}

/* ---- save ---- */

int ws_store_save(ws_store *s, const char *key, const char *run_id,
                  const void *payload, size_t n, const ws_meta *fields,
                  const char *label, char run_id_out[WS_RUNID_MAX + 1],
                  ws_error *err) {
  char dir[PATH_MAX];
  if (ws_require_names(key, run_id, err) != 0) return -1;
  if (label != NULL && strlen(label) > WS_LABEL_MAX) {
    ws_error_set(err, EINVAL, "internal error: a label longer than %d bytes "
                 "reached the store", WS_LABEL_MAX);
    return -1;
  }
  if (ws_key_dir(s, key, dir) != 0) {
    ws_error_io(err, errno, dir, "store path too long for key '%s'", key);
    return -1;
  }
  /* A new write can change the winner of both lookup modes, and a fresh
   * run id leaves the cached winner's files untouched: drop both rows. */
  ws_value_cache_invalidate_dir(dir);
  if (run_id != NULL)
    memcpy(run_id_out, run_id, strlen(run_id) + 1);
  else
    ws_fresh_run_id(ws_store_now_ns(s), run_id_out);

  ws_meta meta = *fields;
  meta.schema_version = WS_SCHEMA_VERSION;
  meta.has_producer = s->opt.producer[0] != '\0';
  memcpy(meta.producer, s->opt.producer, sizeof meta.producer);
  meta.payload_bytes = n;
  if (ws_sha256_hex(payload, n, meta.checksum_hex) != 0) {
    ws_error_set(err, 0, "SHA-256 of the payload failed (OpenSSL)");
    return -1;
  }
  uint64_t nonce = ws_unique_ns(ws_store_now_ns(s));
  /* The whole sequence is retried once when a path vanished under it: a
   * sweep that does not take our lock (the Rust store's) removes a key dir
   * the moment it sees it empty, temps and all (gam#868). Our own sweeps
   * cannot: the writer pins the dir (pin_key_dir in write.c). */
  for (unsigned attempt = 0;; attempt++) {
    int retryable = 0;
    if (ws_write_entry(s, key, dir, run_id_out, attempt, nonce, payload, n, &meta,
                       label, run_id != NULL, &retryable, err) == 0)
      break;
    if (!retryable || attempt >= 1) return -1;
  }

  ws_sweep_after_save(s, n);
  return 0;
}

/* ---- lookup ---- */

/* The hot path's check, one lstat() of the key dir. Every change the
 * store's protocol makes to an entry (a rename into the dir, an unlink, a
 * meta rewritten for an access, by any process of any store) moves the
 * dir's ctime, and a link or another dir in its place has another type or
 * inode; the row is kept only once its stamps are settled, so two changes
 * within one clock tick cannot hide. What the check does not see is a file
 * written in place, outside the protocol: the cached value is then still
 * the one verified when it was read, never the damaged bytes. */
static int fresh_dir_equal(const char *dir, const ws_value_cache_row *row) {
  ws_stamp st;
  return ws_stamp_path(dir, &st) == 0 && ws_stamp_equal(&st, &row->dir_st);
}

/* The hot path: the cached value, while the key dir and the chosen entry's
 * files keep their stamps and the entry is within its TTL. Returns 1 with
 * *out filled, 0 to take the slow path. The row is the process's: it must
 * also have been chosen under this handle's secret and semantics (which
 * decide what is best, and what kind an entry is), and its stamps pass
 * this handle's trust (no system call for either). */
static int lookup_cached(ws_store *s, const char *dir, ws_mode mode,
                         int authenticated_only, uint64_t now, ws_found *out) {
  ws_value_cache_row *row = ws_value_cache_get(dir, mode);
  if (row == NULL) return 0;
  /* Everything the row's choice depended on besides the files: the secret
   * (what may be chosen), the semantics (what is best), the TTL and clock
   * (which entries were in the running: a handle that sees an entry the
   * chooser did not may find a better one), whether unauthenticated
   * entries were (a row that is itself authenticated serves both). */
  int auth_only = s->auth != NULL && authenticated_only;
  if (row->chosen_by != (s->auth ? ws_auth_key_id(s->auth) : 0) ||
      row->semantics != (int)s->opt.semantics ||
      (row->ttl_ns != 0 && (s->opt.ttl_ns == 0 || s->opt.ttl_ns > row->ttl_ns)) ||
      now < row->chosen_at_ns ||
      (row->authenticated_only && !auth_only) ||
      (auth_only && !row->authenticated) ||
      ws_trust_judge(&s->trust, &row->dir_st) != NULL ||
      ws_trust_judge(&s->trust, &row->meta_st) != NULL ||
      ws_trust_judge(&s->trust, &row->bin_st) != NULL)
    return 0;
  if (!row->settled || !fresh_dir_equal(dir, row) ||
      ws_expired(s, &row->meta, now)) {
    /* Unlike the Rust store, an expired winner is not removed here: the
     * slow path's scan removes it (under the dir's lock) and goes on to a
     * later entry that may still be valid. */
    ws_value_cache_invalidate(dir, mode);
    return 0;
  }
  out->meta = row->meta;
  memcpy(out->run_id, row->run_id, sizeof out->run_id);
  out->meta_st = row->meta_st; /* what an access is recorded against */
  out->cached_value = row->value;
  out->authenticated = row->authenticated;
  out->chosen_at_ns = row->chosen_at_ns;
  return 1;
}

/* What read_payload found, besides an error (-1). */
enum {
  READ_AGAIN = 0, /* the entry changed or went: choose again */
  READ_OK = 1,    /* read and verified */
  READ_SKIP = 2,  /* it does not verify, and is left in place (a writer may
                     be replacing it): choose among the others */
  READ_REMOVED = 3 /* it did not verify and was removed: choose again */
};

/* Read a chosen entry's payload into the sink, hashing as it reads.
 * Only a complete read that mismatches is evidence of damage: a read that
 * fails or ends early (EIO, a network filesystem's timeout, a file
 * truncated under us) is an error or a change, and the entry is kept. */
static int read_payload(ws_store *s, const char *dir, int dirfd,
                        const ws_scanned *item, const ws_payload_sink *sink,
                        ws_found *out, ws_error *err) {
  char name[WS_RUNID_MAX + 8], path[PATH_MAX];
  snprintf(name, sizeof name, "%s.bin", item->run_id);
  if (ws_join(path, sizeof path, dir, name) != 0) return READ_SKIP;
  uint64_t real_now = ws_real_now_ns();
  ws_stamp bin_st;
  int fd = ws_open_regular_at(dirfd, name, &bin_st);
  if (fd < 0) {
    /* Removed or replaced by something that is not a file since the scan. */
    if (errno == ENOENT || errno == EINVAL || errno == ELOOP) return READ_AGAIN;
    ws_error_io(err, errno, path, "cannot read '%s': %s", path, strerror(errno));
    return -1;
  }
  if (!ws_stamp_equal(&bin_st, &item->bin_st)) {
    close(fd); /* replaced since the scan: choose again */
    return READ_AGAIN;
  }
  if (item->meta.digested && bin_st.size != item->meta.payload_bytes) {
    /* Our meta's size is verified by its digest: a payload of another size
     * cannot match, and is not read (a huge or sparse file would fail
     * every lookup). The Rust store's sizes are not checked: it does not. */
    close(fd);
    return ws_remove_suspect(dir, dirfd, item->run_id, &item->meta_st, &bin_st)
               ? READ_REMOVED : READ_SKIP;
  }
  if (ws_trust_check(&s->trust, &bin_st, path, err) != 0) {
    close(fd); /* read-only: nothing to lose */
    return -1;
  }
  size_t n = (size_t)bin_st.size;
  unsigned char *buf = sink->alloc(sink->ctx, n);
  ws_sha256 *h = ws_sha256_new();
  if ((buf == NULL && n > 0) || h == NULL) {
    close(fd);
    ws_sha256_free(h);
    ws_error_set(err, ENOMEM, "cannot allocate %zu bytes for the payload of '%s'",
                 n, path);
    return -1;
  }
  /* Read straight into the caller's buffer, hashed as it comes in: no
   * intermediate copy, no second pass (hashread.c). */
  size_t got = 0;
  int read_errno = 0;
  if (ws_read_hashed(fd, buf, n, h, &got) != 0) read_errno = errno;
  ws_stamp after;
  int changed = ws_stamp_fd(fd, &after) != 0 || !ws_stamp_equal(&after, &bin_st);
  close(fd); /* read-only: close cannot lose data */
  if (read_errno != 0 || got != n) {
    ws_sha256_free(h);
    if (changed) return READ_AGAIN; /* truncated or rewritten while we read */
    if (read_errno == 0) read_errno = EIO; /* ended early, yet unchanged */
    ws_error_io(err, read_errno, path, "cannot read '%s': %s", path,
                strerror(read_errno));
    return -1;
  }
  unsigned char md[32];
  char hex[WS_CHECKSUM_HEX + 1];
  int ok = ws_sha256_final(h, md) == 0;
  ws_sha256_free(h);
  if (!ok) {
    ws_error_set(err, 0, "SHA-256 of '%s' failed (OpenSSL)", path);
    return -1;
  }
  ws_hex(md, 32, hex);
  if (strcmp(hex, item->meta.checksum_hex) != 0) {
    /* Bytes that do not match their checksum are never returned. Delete
     * them, unless they changed while we read or a writer may be replacing
     * this very entry. */
    if (changed) return READ_AGAIN;
    return ws_remove_suspect(dir, dirfd, item->run_id, &item->meta_st, &bin_st)
               ? READ_REMOVED : READ_SKIP;
  }
  if (changed) return READ_AGAIN; /* verified bytes of a file that then changed */
  /* The caller's own check (the glue's look at an R serialization): an
   * entry it refuses is skipped, not removed. */
  if (sink->accept != NULL && !sink->accept(sink->ctx, buf, n, &item->meta))
    return READ_SKIP;
  out->meta = item->meta;
  memcpy(out->run_id, item->run_id, sizeof out->run_id);
  out->meta_st = item->meta_st;
  out->bin_st = bin_st;
  out->settled = item->settled && ws_stamp_settled(&bin_st, real_now);
  return READ_OK;
}

typedef struct skip_list {
  char (*ids)[WS_RUNID_MAX + 1];
  size_t n, cap;
} skip_list;

static int skip_has(const skip_list *l, const char *run_id) {
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->ids[i], run_id) == 0) return 1;
  return 0;
}

static int skip_add(skip_list *l, const char *run_id) {
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 8;
    void *p = realloc(l->ids, nc * sizeof *l->ids);
    if (p == NULL) return -1;
    l->ids = p;
    l->cap = nc;
  }
  memcpy(l->ids[l->n++], run_id, WS_RUNID_MAX + 1);
  return 0;
}

int ws_store_lookup(ws_store *s, const char *key, ws_mode mode,
                    const ws_payload_sink *sink, ws_found *out,
                    ws_error *err) {
  char dir[PATH_MAX];
  memset(out, 0, sizeof *out);
  if (ws_require_names(key, NULL, err) != 0) return -1;
  if (ws_key_dir(s, key, dir) != 0) {
    ws_error_io(err, errno, dir, "store path too long for key '%s'", key);
    return -1;
  }
  uint64_t now = ws_store_now_ns(s);
  int auth_only = s->auth != NULL && sink->authenticated_only;
  if (s->opt.value_cache &&
      lookup_cached(s, dir, mode, sink->authenticated_only, now, out))
    return 1;

  int dirfd = ws_open_dir(dir);
  if (dirfd < 0) {
    /* Gone (swept elsewhere), or not a directory of ours (a link). */
    if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR) {
      ws_value_cache_invalidate_dir(dir);
      return 0;
    }
    ws_error_io(err, errno, dir, "cannot open '%s': %s", dir, strerror(errno));
    return -1;
  }
  /* The key dir is judged on the descriptor that everything is read
   * through: a dir that someone not trusted can write is refused. */
  ws_stamp dir_now;
  if (ws_stamp_fd(dirfd, &dir_now) != 0) {
    ws_error_io(err, errno, dir, "cannot stat '%s': %s", dir, strerror(errno));
    close(dirfd);
    return -1;
  }
  if (ws_trust_check(&s->trust, &dir_now, dir, err) != 0) {
    close(dirfd); /* read-only: nothing to lose */
    return -1;
  }
  /* Entries passed over for the rest of this call: those that failed
   * verification but were left in place (a live writer's overwrite in
   * flight), and those this handle may not return (an R value without a
   * tag its secret verifies, a payload the glue refused). */
  skip_list skipped = {NULL, 0, 0};
  /* Each pass removes or passes over the entry it chose (either way it is
   * not chosen again in this call), or finds it changed under it. Only
   * the last can repeat without end (a writer replacing the entry again
   * and again), so only it is bounded: however many damaged entries rank
   * above a whole one, the whole one is returned. (With every pass
   * counted, a lookup under `make sanitize` once returned nothing while a
   * whole entry was there.) */
  int rc = 0, changed = 0;
  while (changed < 8) {
    const ws_listing *l = ws_scan_key_dir(s, key, dir, dirfd, now, 0, NULL);
    if (l == NULL) {
      ws_value_cache_invalidate_dir(dir); /* the dir is gone (swept elsewhere) */
      break;
    }
    const ws_scanned *best = NULL;
    for (size_t i = 0; i < l->n; i++) {
      const ws_scanned *c = &l->items[i];
      /* The listing is the dir's truth; this handle's TTL applies here. */
      if (!skip_has(&skipped, c->run_id) && !ws_expired(s, &c->meta, now) &&
          (best == NULL || ws_better(s, mode, &c->meta, &best->meta)))
        best = c;
    }
    if (best == NULL) break;
    ws_scanned chosen = *best; /* the listing may be rebuilt by a rescan */
    int authenticated = s->auth != NULL &&
                        ws_auth_verify(s->auth, key, chosen.run_id, &chosen.meta);
    if (s->auth != NULL && !authenticated &&
        (auth_only || chosen.meta.format == WS_FORMAT_RSERIALIZED)) {
      /* Not ours to unserialize, or to return as a value the caller
       * trusts; kept (another secret may sign it). */
      if (skip_add(&skipped, chosen.run_id) != 0) goto oom;
      continue;
    }
    if (ws_trust_judge(&s->trust, &chosen.meta_st) != NULL) {
      char name[WS_RUNID_MAX + 8], path[PATH_MAX];
      snprintf(name, sizeof name, "%s.json", chosen.run_id);
      if (ws_join(path, sizeof path, dir, name) != 0) snprintf(path, sizeof path, "%s", dir);
      (void)ws_trust_check(&s->trust, &chosen.meta_st, path, err);
      rc = -1;
      break;
    }
    out->dir_st = l->dir_st;
    int listing_settled = l->settled;
    rc = read_payload(s, dir, dirfd, &chosen, sink, out, err);
    if (rc == READ_OK || rc < 0) {
      if (rc == READ_OK) {
        out->settled = out->settled && listing_settled;
        out->authenticated = authenticated;
        out->chosen_at_ns = now;
      }
      break;
    }
    /* Changed since the scan: scan again and choose again, this one too.
     * Removed, judged and left in place, or refused: passed over from now
     * on (a removal that failed unseen must not be chosen again). */
    if ((rc == READ_SKIP || rc == READ_REMOVED) &&
        skip_add(&skipped, chosen.run_id) != 0)
      goto oom;
    if (rc == READ_AGAIN) changed++;
    rc = 0;
  }
  free(skipped.ids);
  close(dirfd); /* read-only: nothing to lose */
  return rc;
oom:
  free(skipped.ids);
  close(dirfd);
  ws_error_set(err, ENOMEM, "out of memory looking up key '%s'", key);
  return -1;
}

void ws_store_value_cache_put(ws_store *s, const char *key, ws_mode mode,
                        const ws_found *found, void *value, size_t bytes,
                        void (*release)(void *), int authenticated_only) {
  char dir[PATH_MAX];
  /* An unsettled stamp cannot prove "unchanged" later, so such a row would
   * never be served: do not keep it. */
  if (!s->opt.value_cache || !found->settled || ws_key_dir(s, key, dir) != 0) {
    if (release) release(value);
    return;
  }
  ws_value_cache_row row;
  memset(&row, 0, sizeof row);
  row.dir_path = dir;
  row.mode = mode;
  row.dir_st = found->dir_st;
  row.meta_st = found->meta_st;
  row.bin_st = found->bin_st;
  row.settled = 1;
  row.written_ns = ws_meta_written_ns(&found->meta);
  memcpy(row.run_id, found->run_id, sizeof row.run_id);
  row.meta = found->meta;
  row.value = value;
  row.bytes = bytes;
  row.release = release;
  row.chosen_by = s->auth ? ws_auth_key_id(s->auth) : 0;
  row.authenticated = found->authenticated;
  row.semantics = (int)s->opt.semantics;
  row.ttl_ns = s->opt.ttl_ns;
  row.chosen_at_ns = found->chosen_at_ns;
  row.authenticated_only = s->auth != NULL && authenticated_only;
  ws_value_cache_put(&row);
}


