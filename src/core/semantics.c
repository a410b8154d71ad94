/* The rules that differ between the gam crate's store versions: which
 * entry a lookup returns, when an entry expires. (The order in which a
 * sweep removes entries is in sweep.c, recording an access in access.c.) */
#include <string.h>

#include "store_internal.h"

int ws_meta_is_ours(const ws_meta *m) {
  static const char ours[] = "warmstart";
  size_t n = sizeof ours - 1;
  if (m->has_producer)
    return strncmp(m->producer, ours, n) == 0 &&
           (m->producer[n] == '\0' || m->producer[n] == ' ');
  /* Before producers, only warmstart wrote payload_format. */
  return m->format != WS_FORMAT_UNSTATED;
}

ws_kind ws_kind_as_read(const ws_store *s, const ws_meta *m) {
  /* A Final of warmstart's, of any version, stays a Final: what a payload
   * certifies is decided by the R code that saved it (and its key), not by
   * the store's version. A Final of the gam crate's is read as that crate's
   * own later stores read it outside the build that wrote it. */
  if (s->opt.semantics == WS_SEMANTICS_ACCESS && m->kind == WS_KIND_FINAL &&
      !ws_meta_is_ours(m))
    return WS_KIND_CHECKPOINT;
  return m->kind;
}

uint64_t ws_activity_ns(const ws_store *s, const ws_meta *m) {
  uint64_t written = ws_meta_written_ns(m);
  if (s->opt.semantics != WS_SEMANTICS_ACCESS) return written;
  /* The stamp counts even with accessed false, as in the Rust store. */
  uint64_t accessed = ws_meta_accessed_ns(m);
  return accessed > written ? accessed : written;
}

static int kind_rank(ws_kind k) { return k == WS_KIND_FINAL ? 1 : 0; }

/* Newer write; at the same nanosecond a Final before a Checkpoint. */
static int newer(ws_kind kc, const ws_meta *c, ws_kind kd, const ws_meta *d) {
  if (c->written_secs != d->written_secs) return c->written_secs > d->written_secs;
  if (c->written_nanos != d->written_nanos) return c->written_nanos > d->written_nanos;
  return kind_rank(kc) > kind_rank(kd);
}

/* Lowest objective, within 1e-12 the newer; an entry with an objective
 * before one without; none: the newest. */
static int lower_objective(ws_kind kc, const ws_meta *c, ws_kind kd,
                           const ws_meta *d, int final_wins_ties) {
  if (c->has_objective && d->has_objective) {
    double diff = c->objective - d->objective;
    if (diff < 1e-12 && diff > -1e-12) {
      if (final_wins_ties && kc != kd) return kc == WS_KIND_FINAL;
      return newer(kc, c, kd, d);
    }
    return c->objective < d->objective;
  }
  if (c->has_objective != d->has_objective) return c->has_objective;
  return newer(kc, c, kd, d);
}

int ws_better(const ws_store *s, ws_mode mode, const ws_meta *c,
              const ws_meta *d) {
  ws_kind kc = ws_kind_as_read(s, c), kd = ws_kind_as_read(s, d);
  if (mode == WS_MODE_LATEST) return newer(kc, c, kd, d);
  if (s->opt.semantics == WS_SEMANTICS_ACCESS) {
    /* A completed fit over any checkpoint; of two, the newer (gam#2622). */
    if (kc != kd) return kc == WS_KIND_FINAL;
    if (kc == WS_KIND_FINAL) return newer(kc, c, kd, d);
    return lower_objective(kc, c, kd, d, 0);
  }
  return lower_objective(kc, c, kd, d, 1);
}
