/* The .Call entry points: convert R values, call the core, build results.
 * Arguments are checked before the core runs (the R wrappers check the
 * rest), and an R error is raised only after the core has returned and
 * released everything it held. */
#include <math.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32 /* Windows: no mmap; payloads go on R's heap */
#include <sys/mman.h>
#endif

#define R_NO_REMAP
#include <R.h>
#include <R_ext/Rallocators.h>
#include <Rinternals.h>

#include "closure.h"
#include "glue.h"
#include "core/ws_core.h"

/* ---- argument helpers ---- */

/* The R functions check that `store` is a store (check_store() in
 * R/checks.R, the one place that says so); the type check here only keeps
 * a wrong SEXP from being read as a handle. What R cannot see is whether
 * the handle is still open. */
static ws_store *store_arg(SEXP x) {
  if (TYPEOF(x) != EXTPTRSXP || !Rf_inherits(x, "ws_store"))
    ws_raise_arg("store", "internal error: not a store handle");
  ws_store *s = R_ExternalPtrAddr(x);
  if (s == NULL)
    ws_raise_arg("store", "`store` is no longer open (was it saved and "
                 "restored, or closed?); open it again with ws_open()");
  return s;
}

static const char *string_arg(SEXP x, const char *what) {
  if (TYPEOF(x) != STRSXP || XLENGTH(x) != 1 || STRING_ELT(x, 0) == NA_STRING)
    ws_raise_arg(what, "`%s` must be a single non-NA string", what);
  return CHAR(STRING_ELT(x, 0));
}

/* A path as the core takes it. On Windows the core reads paths as UTF-8
 * (platform_win.c: every call goes through the wide API), whatever R's
 * native encoding; elsewhere a file name is the bytes the native encoding
 * gives, as R's own file functions pass them. */
static const char *path_arg(SEXP x, const char *what) {
  string_arg(x, what);
#ifdef _WIN32
  return Rf_translateCharUTF8(STRING_ELT(x, 0));
#else
  return Rf_translateChar(STRING_ELT(x, 0));
#endif
}

/* A key, checked here and nowhere else: the R functions call it first
 * (C_ws_check_key), the entry points that take a key call it again, the
 * core's ws_require_names() only guards. The rule is names.c's. */
static const char *key_arg(SEXP x) {
  const char *key = string_arg(x, "key");
  if (!ws_valid_key(key))
    ws_raise_arg("key", "`key` must be %d to %d lowercase hexadecimal "
                 "characters (as made by ws_key()), not \"%.80s\"",
                 WS_KEY_MIN, WS_KEY_MAX, key);
  return key;
}

/* A run id, checked here and nowhere else (the R functions defer to it). */
static const char *run_id_arg(SEXP x) {
  string_arg(x, "run_id");
  const char *rid = Rf_translateCharUTF8(STRING_ELT(x, 0));
  if (!ws_valid_run_id(rid))
    ws_raise_arg("run_id", "`run_id` must be 1 to %d bytes of printable "
                 "characters without '/' or '.' (as ws_save() returns, e.g. "
                 "\"r1a2b-17f0c3d2e4a5b6c7\"), not \"%.80s\"", WS_RUNID_MAX, rid);
  return rid;
}

/* A named list of numbers (counters, sizes) for the R side. */
static SEXP named_numbers(const char **names, const double *values) {
  SEXP out = PROTECT(Rf_mkNamed(VECSXP, names));
  for (R_xlen_t i = 0; names[i][0] != '\0'; i++)
    SET_VECTOR_ELT(out, i, Rf_ScalarReal(values[i]));
  UNPROTECT(1);
  return out;
}

/* ---- interrupts while the core waits ----
 * The core waits for a key dir's lock in slices and asks, between them,
 * whether to stop. Answering must not longjmp through the core (it holds
 * descriptors), so the check runs under R_UnwindProtect: an interrupt
 * unwinds only to here, the core is told to stop, cleans up and returns,
 * and the glue then continues the interrupt where it was cut off. */

typedef struct interrupt_check {
  SEXP token; /* R_MakeUnwindCont(), protected by the caller */
  jmp_buf back;
  int interrupted;
  ws_store *store;
  ws_poll_fn saved_poll; /* a nested call (R code run by the event loop) */
  void *saved_ctx;
} interrupt_check;

static SEXP check_body(void *data) {
  (void)data;
  R_CheckUserInterrupt();
  return R_NilValue;
}

static void check_unwound(void *data, Rboolean jump) {
  if (jump) longjmp(((interrupt_check *)data)->back, 1);
}

static int poll_interrupt(void *ctx) {
  interrupt_check *ic = ctx;
  if (ic->interrupted) return 1;
  if (setjmp(ic->back) != 0) {
    ic->interrupted = 1;
    return 1;
  }
  R_UnwindProtect(check_body, NULL, check_unwound, ic, ic->token);
  return 0;
}

/* Arms the check on s for one core call; the token is protected (one
 * PROTECT) until interrupt_check_end(). */
static void interrupt_check_begin(interrupt_check *ic, ws_store *s) {
  ic->token = PROTECT(R_MakeUnwindCont());
  ic->interrupted = 0;
  ic->store = s;
  ws_store_get_poll(s, &ic->saved_poll, &ic->saved_ctx);
  ws_store_set_poll(s, poll_interrupt, ic);
}

/* Disarms it; continues an interrupt the core stopped for. */
static void interrupt_check_end(interrupt_check *ic) {
  ws_store_set_poll(ic->store, ic->saved_poll, ic->saved_ctx);
  if (ic->interrupted) R_ContinueUnwind(ic->token);
  UNPROTECT(1);
}

/* ---- open ---- */

static void store_finalizer(SEXP ptr) {
  ws_store *s = R_ExternalPtrAddr(ptr);
  if (s != NULL) {
    ws_store_close(s);
    R_ClearExternalPtr(ptr);
  }
}

SEXP C_ws_open(SEXP root, SEXP budget, SEXP ttl, SEXP durable,
               SEXP memory_cache, SEXP semantics, SEXP producer, SEXP trust,
               SEXP secret) {
  const char *path = path_arg(root, "root");
  const char *sem = string_arg(semantics, "semantics");
  const char *prod = string_arg(producer, "producer");
  int trust_mode = Rf_asInteger(trust);
  if (trust_mode != WS_TRUST_USER && trust_mode != WS_TRUST_GROUP &&
      trust_mode != WS_TRUST_ANY)
    ws_raise_arg("trust", "`trust` must be \"user\", \"group\" or \"any\"");
  if (secret != R_NilValue && TYPEOF(secret) != RAWSXP)
    ws_raise_arg("secret", "`secret` must be a raw vector here");
  double b = Rf_asReal(budget), t = Rf_asReal(ttl);
  ws_options opt;
  opt.size_budget = (ISNAN(b) || b < 0) ? 0
                    : (!R_FINITE(b) || b >= 18446744073709549568.0)
                        ? UINT64_MAX : (uint64_t)b;
  opt.ttl_ns = (ISNAN(t) || t <= 0 || !R_FINITE(t) || t * 1e9 >= 1.8e19)
                   ? 0 : (uint64_t)llround(t * 1e9);
  opt.durable = Rf_asLogical(durable) == TRUE;
  opt.value_cache = Rf_asLogical(memory_cache) == TRUE;
  if (strcmp(sem, "0.3.122") == 0)
    opt.semantics = WS_SEMANTICS_0_3_122;
  else if (strcmp(sem, "access") == 0)
    opt.semantics = WS_SEMANTICS_ACCESS;
  else
    ws_raise_arg("semantics", "`semantics` must be \"0.3.122\" or \"access\"");
  if (strlen(prod) > WS_PRODUCER_MAX)
    ws_raise_arg("producer", "`producer` must be at most %d bytes", WS_PRODUCER_MAX);
  memcpy(opt.producer, prod, strlen(prod) + 1);
  opt.trust = (ws_trust_mode)trust_mode;
  /* Every R allocation first: once the core has opened the store, nothing
   * may longjmp before the finalizer owns the handle. */
  SEXP ptr = PROTECT(R_MakeExternalPtr(NULL, R_NilValue, R_NilValue));
  R_RegisterCFinalizerEx(ptr, store_finalizer, TRUE);
  SEXP cls = PROTECT(Rf_mkString("ws_store"));
  Rf_setAttrib(ptr, R_ClassSymbol, cls);
  ws_store *s = NULL;
  ws_error err;
  if (ws_store_open(path, &opt, &s, &err) != 0) ws_raise(&err);
  if (secret != R_NilValue &&
      ws_store_set_secret(s, RAW(secret), (size_t)XLENGTH(secret), &err) != 0) {
    ws_store_close(s);
    ws_raise(&err);
  }
  R_SetExternalPtrAddr(ptr, s);
  UNPROTECT(2);
  return ptr;
}

SEXP C_ws_close(SEXP store) {
  store_finalizer(store);
  return R_NilValue;
}

SEXP C_ws_store_info(SEXP store) {
  ws_store *s = store_arg(store);
  const ws_options *o = ws_store_options(s);
  const char *names[] = {"root", "size_budget", "ttl", "durable",
                         "memory_cache", "semantics", "producer", "trust",
                         "secret", ""};
  static const char *const trust_names[] = {"user", "group", "any"};
  SEXP out = PROTECT(Rf_mkNamed(VECSXP, names));
  SET_VECTOR_ELT(out, 0, Rf_mkString(ws_store_root(s)));
  SET_VECTOR_ELT(out, 1, Rf_ScalarReal(o->size_budget == UINT64_MAX
                                           ? R_PosInf : (double)o->size_budget));
  SET_VECTOR_ELT(out, 2, Rf_ScalarReal((double)o->ttl_ns / 1e9));
  SET_VECTOR_ELT(out, 3, Rf_ScalarLogical(o->durable));
  SET_VECTOR_ELT(out, 4, Rf_ScalarLogical(o->value_cache));
  SET_VECTOR_ELT(out, 5, Rf_mkString(o->semantics == WS_SEMANTICS_ACCESS
                                         ? "access" : "0.3.122"));
  SET_VECTOR_ELT(out, 6, Rf_mkString(o->producer));
  SET_VECTOR_ELT(out, 7, Rf_mkString(trust_names[o->trust]));
  SET_VECTOR_ELT(out, 8, Rf_ScalarLogical(ws_store_has_secret(s)));
  UNPROTECT(1);
  return out;
}

/* ---- save ---- */

SEXP C_ws_save(SEXP store, SEXP key, SEXP payload, SEXP serialized,
               SEXP objective, SEXP iteration, SEXP kind, SEXP run_id,
               SEXP label) {
  ws_store *s = store_arg(store);
  const char *k = key_arg(key);
  const char *rid = NULL;
  if (run_id != R_NilValue) rid = run_id_arg(run_id);
  if (TYPEOF(payload) != RAWSXP)
    ws_raise_arg("payload", "`payload` must be a raw vector here");
  ws_meta m;
  memset(&m, 0, sizeof m);
  m.format = Rf_asLogical(serialized) == TRUE ? WS_FORMAT_RSERIALIZED
                                              : WS_FORMAT_RAW;
  if (objective != R_NilValue) {
    double o = Rf_asReal(objective);
    m.has_objective = R_FINITE(o); /* non-finite objectives are absent */
    m.objective = o;
  }
  if (iteration != R_NilValue) {
    double it = Rf_asReal(iteration);
    /* ws_save() checked it and reports a bad one; this only guards the
     * conversion below. */
    if (!R_FINITE(it) || it < 0 || it != floor(it) || it > 9007199254740992.0)
      Rf_error("internal: C_ws_save() was given an iteration ws_save() refuses");
    m.has_iteration = 1;
    m.iteration = (uint64_t)it;
  }
  m.kind = Rf_asInteger(kind) == 1 ? WS_KIND_FINAL : WS_KIND_CHECKPOINT;
  const char *lab = NULL;
  if (label != R_NilValue) {
    lab = Rf_translateCharUTF8(STRING_ELT(label, 0));
    if (strlen(lab) > WS_LABEL_MAX)
      ws_raise_arg("label", "`label` must be at most %d bytes", WS_LABEL_MAX);
  }
  char out[WS_RUNID_MAX + 1];
  ws_error err;
  interrupt_check ic;
  interrupt_check_begin(&ic, s);
  int rc = ws_store_save(s, k, rid, RAW(payload), (size_t)XLENGTH(payload), &m,
                         lab, out, &err);
  interrupt_check_end(&ic);
  if (rc != 0) ws_raise(&err);
  return Rf_mkString(out);
}

/* ---- lookup ---- */

/* The vector the core reads the payload into. A lookup may read more
 * than one candidate (one changed or failed its checksum): each new
 * vector replaces the last in one protected slot, so at most one payload
 * is held at a time. */
typedef struct alloc_ctx {
  SEXP vec;
  PROTECT_INDEX slot;
  size_t n;
  int malformed; /* the returned bytes are no R serialization */
  int refused;   /* entries skipped for what their serialization holds */
  ws_rstream_verdict refused_for;
} alloc_ctx;

/* Payloads of a megabyte or more get pages of their own (mmap), handed
 * back to the system the moment R frees the vector. From R's heap, a 10 MB
 * payload the value cache lets go of stayed resident (malloc keeps such
 * chunks once its mmap threshold has grown), and with the cache bounded
 * to 64 MiB a process held twice that. */
#define OWN_PAGES_FROM ((size_t)1 << 20)
#define MAP_HEADER 64 /* keeps R's vector 64-byte aligned */

/* The pages are made as the read reaches them (a fault per 4 KiB page),
 * not all at once with MAP_POPULATE: a lookup hashes on a second thread
 * chunk by chunk behind the read, and pages made up front delay the first
 * chunk, and so the whole hash, by the time it takes to zero them all.
 * Side by side in one run (3 rounds, bench's cold case): 100 MB 0.68-0.70
 * of readBin() without MAP_POPULATE against 1.01-1.03 with it; 10 MB
 * 0.75-0.79 against 1.07-1.12. (A read alone, without the hash, is faster
 * with it: 71 vs 99 ms for 100 MB.) */
/* Anonymous maps are POSIX only since 2024; older BSDs spell them MAP_ANON.
 * Where neither exists, large payloads come from R's heap like the rest. */
#if !defined(MAP_ANONYMOUS) && defined(MAP_ANON)
#define MAP_ANONYMOUS MAP_ANON
#endif
#ifdef MAP_ANONYMOUS
#define WS_MAP_FLAGS (MAP_PRIVATE | MAP_ANONYMOUS)

static void *mapped_alloc(R_allocator_t *allocator, size_t size) {
  (void)allocator;
  size_t total = size + MAP_HEADER;
  void *base = mmap(NULL, total, PROT_READ | PROT_WRITE, WS_MAP_FLAGS, -1, 0);
  if (base == MAP_FAILED) return NULL; /* R reports it as out of memory */
  memcpy(base, &total, sizeof total);
  return (char *)base + MAP_HEADER;
}

static void mapped_free(R_allocator_t *allocator, void *p) {
  (void)allocator;
  char *base = (char *)p - MAP_HEADER;
  size_t total;
  memcpy(&total, base, sizeof total);
  (void)munmap(base, total); /* nothing to do if it failed */
}

static R_allocator_t mapped_pages = {mapped_alloc, mapped_free, NULL, NULL};
#endif /* MAP_ANONYMOUS */

static SEXP alloc_body(void *data) {
  size_t n = ((alloc_ctx *)data)->n;
#ifdef MAP_ANONYMOUS
  if (n >= OWN_PAGES_FROM)
    return Rf_allocVector3(RAWSXP, (R_xlen_t)n, &mapped_pages);
#endif
  return Rf_allocVector(RAWSXP, (R_xlen_t)n);
}

static SEXP error_to_null(SEXP cond, void *data) {
  (void)cond;
  if (data != NULL) *(int *)data = 1;
  return R_NilValue;
}

/* Called by the core mid-lookup: an allocation failure must come back as
 * NULL, not as a longjmp through the core's open file. */
static void *sink_alloc(void *ctx, size_t n) {
  alloc_ctx *a = ctx;
  if (n > (size_t)R_XLEN_T_MAX) return NULL;
  a->n = n;
  REPROTECT(a->vec = R_NilValue, a->slot); /* the last candidate can go */
  SEXP v = R_tryCatchError(alloc_body, a, error_to_null, NULL);
  if (TYPEOF(v) != RAWSXP) return NULL;
  REPROTECT(a->vec = v, a->slot);
  return RAW(v);
}

/* ---- the promise guard ----
 * unserialize() hands out a promise read from the stream, whose code runs
 * at its first use (CVE-2024-27322). R 4.4.0 refuses a promise that is the
 * value itself, but still hands out one inside the value (a list element,
 * an attribute, a call), on every version. So every R-serialized payload
 * is first read by rstream.c, and one holding a promise where R never
 * writes one is skipped (left on disk). On in every R; only tests turn it
 * off (ws_promise_guard()), to show what unserialize() does without it. */
static int promise_guard = 1;

SEXP C_ws_promise_guard(SEXP on) {
  int old = promise_guard;
  if (TYPEOF(on) == LGLSXP && XLENGTH(on) == 1 && LOGICAL(on)[0] != NA_LOGICAL)
    promise_guard = LOGICAL(on)[0];
  return Rf_ScalarLogical(old);
}

static const char *verdict_name(ws_rstream_verdict v) {
  switch (v) {
  case WS_RSTREAM_OK: return "ok";
  case WS_RSTREAM_PROMISE: return "promise";
  case WS_RSTREAM_MALFORMED: return "malformed";
  case WS_RSTREAM_UNSUPPORTED: return "unsupported";
  default: return "out of memory";
  }
}

SEXP C_ws_rstream_check(SEXP bytes) {
  if (TYPEOF(bytes) != RAWSXP) ws_raise_arg("bytes", "`bytes` must be a raw vector");
  return Rf_mkString(verdict_name(ws_rstream_check(RAW(bytes), (size_t)XLENGTH(bytes))));
}

/* Called by the core with verified bytes, before it returns them. */
static int sink_accept(void *ctx, const void *bytes, size_t n,
                       const ws_meta *meta) {
  alloc_ctx *a = ctx;
  a->malformed = 0;
  /* What the glue would unserialize: a stated R value, or bytes without a
   * stated format that begin with R's header. */
  int decodable = meta->format == WS_FORMAT_RSERIALIZED ||
                  (meta->format == WS_FORMAT_UNSTATED &&
                   ws_is_r_serialization(bytes, n));
  if (!decodable || !promise_guard) return 1;
  ws_rstream_verdict v = ws_rstream_check(bytes, n);
  if (v == WS_RSTREAM_OK) return 1;
  if (v == WS_RSTREAM_MALFORMED) {
    /* Returned, never unserialized: a ws_decode_error for a stated R
     * value (kept), the bytes as they are without a stated format. */
    a->malformed = 1;
    return 1;
  }
  a->refused++;
  a->refused_for = v;
  return 0;
}

static SEXP unserialize_body(void *data) {
  SEXP call = PROTECT(Rf_lang2(Rf_install("unserialize"), (SEXP)data));
  SEXP out = Rf_eval(call, R_BaseEnv);
  UNPROTECT(1);
  return out;
}

static void release_sexp(void *value) { R_ReleaseObject((SEXP)value); }

/* Whether a value holds something shared by reference: an environment
 * (other than the global, base and empty environments, namespaces and
 * package environments, which serialize as references to this session's
 * own), an external pointer or a weak reference. A caller who changes
 * such a thing changes it for everyone holding the value, so a value
 * that holds one is never handed out twice from the value cache: it is
 * cached as its verified bytes and decoded afresh at each lookup. Too
 * deep to traverse (a very long pairlist is followed along, not into) counts as
 * holding one. */
#define REF_TRAVERSE_MAX_DEPTH 10000

static int special_env(SEXP env) {
  return env == R_GlobalEnv || env == R_BaseEnv || env == R_EmptyEnv ||
         R_IsNamespaceEnv(env) || R_IsPackageEnv(env) || env == R_BaseNamespace;
}

static int holds_reference(SEXP x, int depth) {
  if (depth > REF_TRAVERSE_MAX_DEPTH) return 1;
  for (;;) {
    if (x == R_NilValue) return 0;
    if (ATTRIB(x) != R_NilValue && TYPEOF(x) != CHARSXP &&
        holds_reference(ATTRIB(x), depth + 1))
      return 1;
    switch (TYPEOF(x)) {
    case ENVSXP:
      return !special_env(x);
    case EXTPTRSXP:
    case WEAKREFSXP:
      return 1;
    case VECSXP:
    case EXPRSXP:
      for (R_xlen_t i = 0; i < XLENGTH(x); i++)
        if (holds_reference(VECTOR_ELT(x, i), depth + 1)) return 1;
      return 0;
    case CLOSXP:
      if (holds_reference(WS_CLOSURE_FORMALS(x), depth + 1) ||
          holds_reference(R_ClosureExpr(x), depth + 1))
        return 1;
      x = WS_CLOSURE_ENV(x);
      continue;
    case PROMSXP:
      return 1; /* not a value a lookup should hand out twice */
    case LISTSXP:
    case LANGSXP:
    case DOTSXP:
      if (holds_reference(CAR(x), depth + 1) || holds_reference(TAG(x), depth + 1))
        return 1;
      x = CDR(x);
      continue;
    default:
      return 0;
    }
  }
}

/* The value cache's stand-in for a value decoded at each lookup: its
 * verified serialized bytes in an external pointer's protected slot (no
 * cached value is otherwise an external pointer: one that holds one is
 * never cached as a value). */
static SEXP encoded_value(SEXP bytes) {
  return R_MakeExternalPtr(NULL, R_NilValue, bytes);
}

static int is_encoded_value(SEXP v) { return TYPEOF(v) == EXTPTRSXP; }

static SEXP posixct(SEXP x);

/* The meta's producer, NA when it names none. */
static SEXP producer_of(const ws_meta *m) {
  return m->has_producer && m->producer[0] != '\0'
             ? Rf_mkCharCE(m->producer, CE_UTF8) : NA_STRING;
}

/* The last access recorded in the meta, in seconds; NA when none. */
static double accessed_of(const ws_meta *m) {
  if (m->accessed_secs == 0 && m->accessed_nanos == 0) return NA_REAL;
  return (double)m->accessed_secs + (double)m->accessed_nanos / 1e9;
}

static const char *kind_name(const ws_store *s, const ws_meta *m) {
  return ws_kind_as_read(s, m) == WS_KIND_FINAL ? "final" : "checkpoint";
}

static SEXP make_entry(const ws_store *s, SEXP value, const ws_found *f,
                       const char *key) {
  const char *names[] = {"payload", "objective", "iteration", "kind",
                         "written", "run_id",    "bytes",     "key",
                         "producer", "accessed", "authenticated", ""};
  SEXP e = PROTECT(Rf_mkNamed(VECSXP, names));
  const ws_meta *m = &f->meta;
  SET_VECTOR_ELT(e, 0, value);
  SET_VECTOR_ELT(e, 1, Rf_ScalarReal(m->has_objective ? m->objective : NA_REAL));
  SET_VECTOR_ELT(e, 2, Rf_ScalarReal(m->has_iteration ? (double)m->iteration
                                                      : NA_REAL));
  SET_VECTOR_ELT(e, 3, Rf_mkString(kind_name(s, m)));
  SET_VECTOR_ELT(e, 4, posixct(Rf_ScalarReal((double)m->written_secs +
                                             (double)m->written_nanos / 1e9)));
  SET_VECTOR_ELT(e, 5, Rf_ScalarString(Rf_mkCharCE(f->run_id, CE_UTF8)));
  SET_VECTOR_ELT(e, 6, Rf_ScalarReal((double)m->payload_bytes));
  SET_VECTOR_ELT(e, 7, Rf_mkString(key));
  SET_VECTOR_ELT(e, 8, Rf_ScalarString(producer_of(m)));
  SET_VECTOR_ELT(e, 9, posixct(Rf_ScalarReal(accessed_of(m))));
  SET_VECTOR_ELT(e, 10, Rf_ScalarLogical(f->authenticated));
  Rf_setAttrib(e, R_ClassSymbol, Rf_mkString("ws_entry"));
  UNPROTECT(1);
  return e;
}

/* The value of a verified R-serialized payload; R_NilValue (and *failed)
 * when the bytes are not a readable serialization. */
static SEXP decode(SEXP bytes, int *failed) {
  *failed = 0;
  return R_tryCatchError(unserialize_body, bytes, error_to_null, failed);
}


/* Says which entries the guard skipped. Called last, with the result
 * protected: a handler of the warning may run any R code. */
static void warn_refused(const alloc_ctx *a, const char *key) {
  if (a->refused == 0) return;
  ws_warn("ws_unsafe_payload",
          "skipped %d entr%s of key %s: %s R serialization %s, which "
          "unserialize() would hand out to run at first use "
          "(CVE-2024-27322); left in place",
          a->refused, a->refused == 1 ? "y" : "ies", key,
          a->refused == 1 ? "its" : "their",
          a->refused_for == WS_RSTREAM_PROMISE
              ? "holds a promise outside an environment's frame"
              : a->refused_for == WS_RSTREAM_UNSUPPORTED
                    ? "is in the ASCII format, which is not checked"
                    : "could not be checked (out of memory)");
}

/* touch: record an access in the entry returned; NA: as the store's
 * semantics say (ws_cachem() asks for it on any store for its LRU).
 * authenticated: with a secret, only authenticated entries (the APIs that
 * return stored values as their own: ws_compute(), ws_cachem(), ...). */
SEXP C_ws_lookup(SEXP store, SEXP key, SEXP latest, SEXP touch,
                 SEXP authenticated) {
  ws_store *s = store_arg(store);
  const char *k = key_arg(key);
  ws_mode mode = Rf_asLogical(latest) == TRUE ? WS_MODE_LATEST : WS_MODE_BEST;
  int record = Rf_asLogical(touch);
  if (record == NA_LOGICAL)
    record = ws_store_options(s)->semantics == WS_SEMANTICS_ACCESS;
  alloc_ctx a = {R_NilValue, 0, 0, 0, 0, WS_RSTREAM_OK};
  PROTECT_WITH_INDEX(R_NilValue, &a.slot);
  ws_payload_sink sink = {sink_alloc, &a, sink_accept,
                          Rf_asLogical(authenticated) == TRUE};
  ws_found f;
  ws_error err;
  int rc = ws_store_lookup(s, k, mode, &sink, &f, &err);
  if (rc < 0) ws_raise(&err);
  if (rc == 0) {
    warn_refused(&a, k);
    UNPROTECT(1);
    return R_NilValue;
  }
  /* Before anything that can longjmp (the core holds nothing now). */
  if (record) ws_store_record_access(s, k, &f);
  if (f.cached_value != NULL) {
    SEXP held = (SEXP)f.cached_value;
    SEXP entry = VECTOR_ELT(held, 1);
    /* The hot path proper: the entry built when the payload was read,
     * itself, allocating nothing (the row was chosen under this handle's
     * semantics and secret, so every field reads the same). Not after an
     * access was recorded: the meta is no longer the one read. */
    if (entry != R_NilValue && !record) {
      UNPROTECT(1);
      return entry;
    }
    SEXP value = VECTOR_ELT(held, 0);
    /* Decoded before, so an error here is R's (memory), not the entry's:
     * it propagates, and nothing is held. */
    if (is_encoded_value(value))
      value = unserialize_body(R_ExternalPtrProtected(value));
    PROTECT(value);
    SEXP out = make_entry(s, value, &f, k);
    UNPROTECT(2);
    return out;
  }
  SEXP bytes = a.vec; /* the verified payload, protected in a.slot */
  SEXP value = bytes, cached = bytes;
  int nprot = 1, failed = 0;
  /* Without a stated format (a Rust writer's entry, or ours after a newer
   * Rust store's lookup rewrote the meta) the payload's header decides,
   * and bytes that then fail to decode are returned as they are. With a
   * secret, only an authenticated payload is ever decoded. */
  int stated = f.meta.format == WS_FORMAT_RSERIALIZED;
  int unstated_r = f.meta.format == WS_FORMAT_UNSTATED &&
                   (!ws_store_has_secret(s) || f.authenticated) &&
                   ws_is_r_serialization(RAW(bytes), (size_t)XLENGTH(bytes));
  if (unstated_r) {
    if (!a.malformed) {
      SEXP decoded = PROTECT(decode(bytes, &failed));
      nprot++;
      if (!failed) value = decoded;
    }
  } else if (stated) {
    /* Only now, with the checksum verified, are the bytes unserialized
     * (unless the guard found them malformed: then not at all). */
    if (a.malformed) {
      value = R_NilValue;
      failed = 1;
    } else {
      value = decode(bytes, &failed);
    }
    PROTECT(value);
    nprot++;
    if (failed) {
      /* Verified bytes are kept whatever goes wrong here: this R may be
       * out of memory, or too old for the serialization. */
      UNPROTECT(nprot);
      ws_raise_class("ws_decode_error",
                     "entry %s of key %s passed its checksum, but this R "
                     "cannot unserialize it (out of memory, or written by a "
                     "newer R?); it is kept", f.run_id, k);
    }
  }
  if (value != bytes) {
    cached = value;
    if (holds_reference(value, 0)) {
      cached = PROTECT(encoded_value(bytes));
      nprot++;
    }
  }
  SEXP out = PROTECT(make_entry(s, value, &f, k));
  nprot++;
  /* The cache hands these very objects to later lookups: any change a
   * caller makes must copy them first. (After an access was recorded the
   * meta is not the one read, and the row could never be served.) */
  if (!record) {
    MARK_NOT_MUTABLE(cached);
    SEXP held = PROTECT(Rf_allocVector(VECSXP, 2));
    nprot++;
    SET_VECTOR_ELT(held, 0, cached);
    if (cached == value) {
      /* A prebuilt entry only for a value that needs no decoding. */
      for (R_xlen_t i = 0; i < XLENGTH(out); i++)
        MARK_NOT_MUTABLE(VECTOR_ELT(out, i));
      MARK_NOT_MUTABLE(out);
      SET_VECTOR_ELT(held, 1, out);
    }
    R_PreserveObject(held);
    ws_store_value_cache_put(s, k, mode, &f, held, (size_t)f.meta.payload_bytes,
                             release_sexp, sink.authenticated_only);
  }
  warn_refused(&a, k);
  UNPROTECT(nprot);
  return out;
}

/* ---- listing and removal ---- */

static SEXP posixct(SEXP x) {
  SEXP cls = PROTECT(Rf_allocVector(STRSXP, 2));
  SET_STRING_ELT(cls, 0, Rf_mkChar("POSIXct"));
  SET_STRING_ELT(cls, 1, Rf_mkChar("POSIXt"));
  Rf_setAttrib(x, R_ClassSymbol, cls);
  UNPROTECT(1);
  return x;
}

/* A list of columns (key, run_id, kind, objective, iteration, written,
 * bytes, disk_bytes and, with labels, label); the R side makes it a data
 * frame. The core's array is freed by R_ExecWithCleanup whether building
 * the columns returns or longjmps (an allocation error). */
typedef struct list_ctx {
  ws_store *store;
  ws_listed *items;
  size_t n;
  int with_labels;
} list_ctx;

static void free_list_items(void *data) {
  list_ctx *c = data;
  free(c->items);
  c->items = NULL;
}

static SEXP list_columns(void *data) {
  const list_ctx *c = data;
  const char *names[] = {"key",        "run_id",   "kind",     "objective",
                         "iteration",  "written",  "bytes",    "disk_bytes",
                         "producer",   "accessed", "accessed_flag", "label",
                         "serves_value", ""};
  if (!c->with_labels) names[11] = "";
  SEXP out = PROTECT(Rf_mkNamed(VECSXP, names));
  R_xlen_t m = (R_xlen_t)c->n;
  SEXP col_key = Rf_allocVector(STRSXP, m);
  SET_VECTOR_ELT(out, 0, col_key);
  SEXP col_run = Rf_allocVector(STRSXP, m);
  SET_VECTOR_ELT(out, 1, col_run);
  SEXP col_kind = Rf_allocVector(STRSXP, m);
  SET_VECTOR_ELT(out, 2, col_kind);
  SEXP col_obj = Rf_allocVector(REALSXP, m);
  SET_VECTOR_ELT(out, 3, col_obj);
  SEXP col_it = Rf_allocVector(REALSXP, m);
  SET_VECTOR_ELT(out, 4, col_it);
  SEXP col_written = Rf_allocVector(REALSXP, m);
  SET_VECTOR_ELT(out, 5, col_written);
  posixct(col_written);
  SEXP col_bytes = Rf_allocVector(REALSXP, m);
  SET_VECTOR_ELT(out, 6, col_bytes);
  SEXP col_disk = Rf_allocVector(REALSXP, m);
  SET_VECTOR_ELT(out, 7, col_disk);
  SEXP col_producer = Rf_allocVector(STRSXP, m);
  SET_VECTOR_ELT(out, 8, col_producer);
  SEXP col_accessed = Rf_allocVector(REALSXP, m);
  SET_VECTOR_ELT(out, 9, col_accessed);
  posixct(col_accessed);
  SEXP col_flag = Rf_allocVector(LGLSXP, m);
  SET_VECTOR_ELT(out, 10, col_flag);
  /* With labels (ws_cachem()'s listing): also whether each entry is one
   * ws_cachem()'s get() may return (under a secret, authenticated), so
   * that keys() and exists() agree with get(). */
  SEXP col_label = R_NilValue, col_serves = R_NilValue;
  if (c->with_labels) {
    col_label = Rf_allocVector(STRSXP, m);
    SET_VECTOR_ELT(out, 11, col_label);
    col_serves = Rf_allocVector(LGLSXP, m);
    SET_VECTOR_ELT(out, 12, col_serves);
  }
  char *label = R_alloc(WS_LABEL_MAX + 1, 1);
  for (R_xlen_t i = 0; i < m; i++) {
    const ws_listed *it = &c->items[i];
    const ws_meta *meta = &it->meta;
    SET_STRING_ELT(col_key, i, Rf_mkChar(it->key));
    SET_STRING_ELT(col_run, i, Rf_mkCharCE(it->run_id, CE_UTF8));
    SET_STRING_ELT(col_kind, i, Rf_mkChar(ws_kind_as_read(c->store, meta) ==
                                                   WS_KIND_FINAL
                                               ? "final" : "checkpoint"));
    REAL(col_obj)[i] = meta->has_objective ? meta->objective : NA_REAL;
    REAL(col_it)[i] = meta->has_iteration ? (double)meta->iteration : NA_REAL;
    REAL(col_written)[i] = (double)meta->written_secs +
                           (double)meta->written_nanos / 1e9;
    REAL(col_bytes)[i] = (double)meta->payload_bytes;
    REAL(col_disk)[i] = (double)it->disk_bytes;
    SET_STRING_ELT(col_producer, i, producer_of(meta));
    REAL(col_accessed)[i] = accessed_of(meta);
    LOGICAL(col_flag)[i] = meta->accessed;
    if (c->with_labels) {
      SEXP lab = NA_STRING;
      if (ws_store_label(c->store, it->key, it->run_id, &it->meta_st, label,
                         WS_LABEL_MAX + 1))
        lab = Rf_mkCharCE(label, CE_UTF8);
      SET_STRING_ELT(col_label, i, lab);
      LOGICAL(col_serves)[i] =
          ws_store_serves_value(c->store, it->key, it->run_id, meta);
    }
  }
  UNPROTECT(1);
  return out;
}

SEXP C_ws_list(SEXP store, SEXP key, SEXP labels) {
  list_ctx c = {store_arg(store), NULL, 0, Rf_asLogical(labels) == TRUE};
  const char *k = key == R_NilValue ? NULL : key_arg(key);
  ws_error err;
  if (ws_store_list(c.store, k, &c.items, &c.n, &err) != 0) ws_raise(&err);
  return R_ExecWithCleanup(list_columns, &c, free_list_items, &c);
}

SEXP C_ws_remove(SEXP store, SEXP key, SEXP keep_run_id) {
  ws_store *s = store_arg(store);
  const char *k = key_arg(key);
  const char *keep = NULL;
  if (keep_run_id != R_NilValue) {
    keep = run_id_arg(keep_run_id);
  }
  uint64_t removed = 0;
  ws_error err;
  if (ws_store_remove(s, k, keep, &removed, &err) != 0) ws_raise(&err);
  return Rf_ScalarReal((double)removed);
}

/* ---- claims (single flight) ---- */

static void claim_finalizer(SEXP ptr) {
  ws_claim *c = R_ExternalPtrAddr(ptr);
  if (c != NULL) {
    ws_claim_release(c);
    R_ClearExternalPtr(ptr);
  }
}

/* A claim on key (an external pointer whose finalizer lets go of it, so
 * an R error or interrupt in the computation cannot keep it), or NULL
 * when another live process holds it. */
SEXP C_ws_claim(SEXP store, SEXP key) {
  ws_store *s = store_arg(store);
  const char *k = key_arg(key);
  SEXP ptr = PROTECT(R_MakeExternalPtr(NULL, R_NilValue, R_NilValue));
  R_RegisterCFinalizerEx(ptr, claim_finalizer, TRUE);
  ws_claim *c = NULL;
  ws_error err;
  int rc = ws_claim_try(s, k, &c, &err);
  if (rc < 0) ws_raise(&err);
  UNPROTECT(1);
  if (rc == 0) return R_NilValue;
  R_SetExternalPtrAddr(ptr, c);
  return ptr;
}

SEXP C_ws_release(SEXP claim) {
  if (TYPEOF(claim) == EXTPTRSXP) claim_finalizer(claim);
  return R_NilValue;
}

/* One entry, by run id (ws_cachem()'s pruning of what it listed). */
SEXP C_ws_remove_entry(SEXP store, SEXP key, SEXP run_id) {
  ws_store *s = store_arg(store);
  const char *k = key_arg(key);
  const char *rid = run_id_arg(run_id);
  ws_store_remove_run(s, k, rid);
  return R_NilValue;
}

/* ---- sweep, clock, faults, cache ---- */

SEXP C_ws_evict(SEXP store, SEXP verify) {
  ws_store *s = store_arg(store);
  ws_sweep_stats st;
  ws_error err;
  unsigned flags = WS_SWEEP_FORCE;
  if (Rf_asLogical(verify) == TRUE) flags |= WS_SWEEP_VERIFY;
  if (ws_store_sweep(s, flags, &st, &err) != 0) ws_raise(&err);
  const char *names[] = {"entries", "bytes", "removed", "temps_removed",
                         "corrupt", ""};
  double values[] = {(double)st.entries, (double)st.bytes, (double)st.removed,
                     (double)st.temps_removed, (double)st.corrupt};
  return named_numbers(names, values);
}

SEXP C_ws_advance_time(SEXP store, SEXP seconds) {
  ws_store *s = store_arg(store);
  double sec = Rf_asReal(seconds);
  if (!R_FINITE(sec) || sec < 0 || sec > 1e9)
    ws_raise_arg("seconds", "`seconds` must be a single number from 0 to 1e9");
  ws_store_advance_clock(s, (uint64_t)llround(sec * 1e9));
  return R_NilValue;
}

SEXP C_ws_inject_fault(SEXP store, SEXP point, SEXP action, SEXP times) {
  ws_store *s = store_arg(store);
  int p = Rf_asInteger(point), a = Rf_asInteger(action), t = Rf_asInteger(times);
  if (p <= WS_FAULT_NONE || p >= WS_FAULT_NPOINTS || a < WS_FAULT_REMOVE_DIR ||
      a > WS_FAULT_STOP || t == NA_INTEGER || t < 0)
    ws_raise_arg("point", "invalid fault injection");
  ws_store_set_fault(s, (ws_fault_point)p, (ws_fault_action)a, t);
  return R_NilValue;
}

SEXP C_ws_sweep_state(SEXP store) {
  ws_store *s = store_arg(store);
  ws_sweep_state st;
  ws_store_sweep_state(s, &st);
  const char *names[] = {"saves", "sweeps", "saves_since_sweep",
                         "walked_at_last_sweep", "byte_estimate",
                         "adopted_marker", ""};
  double values[] = {(double)st.saves, (double)st.sweeps,
                     (double)st.saves_since_sweep,
                     (double)st.walked_at_last_sweep, (double)st.byte_total,
                     (double)st.adopted_marker};
  return named_numbers(names, values);
}

SEXP C_ws_value_cache_usage(void) {
  size_t n, bytes;
  ws_value_cache_usage(&n, &bytes);
  const char *names[] = {"entries", "bytes", ""};
  double values[] = {(double)n, (double)bytes};
  return named_numbers(names, values);
}

SEXP C_ws_value_cache_limits(SEXP entries, SEXP bytes) {
  double e = Rf_asReal(entries), b = Rf_asReal(bytes);
  if (!R_FINITE(e) || e < 0 || e > 1e9)
    ws_raise_arg("warmstart.cache_max_entries",
                 "option `warmstart.cache_max_entries` must be a number from 0 to 1e9");
  if (ISNAN(b) || b < 0)
    ws_raise_arg("warmstart.cache_max_bytes",
                 "option `warmstart.cache_max_bytes` must be a number >= 0");
  ws_value_cache_set_limits((size_t)e, (!R_FINITE(b) || b >= (double)SIZE_MAX)
                                      ? SIZE_MAX : (size_t)b);
  return R_NilValue;
}

SEXP C_ws_value_cache_clear(void) {
  ws_value_cache_clear();
  return R_NilValue;
}

SEXP C_ws_is_r_serialization(SEXP bytes) {
  if (TYPEOF(bytes) != RAWSXP) return Rf_ScalarLogical(FALSE);
  return Rf_ScalarLogical(ws_is_r_serialization(RAW(bytes), (size_t)XLENGTH(bytes)));
}

/* Which of the strings are keys (names.c's rule), for R code that looks at
 * directory names; NA is not a key. */
SEXP C_ws_is_key(SEXP x) {
  if (TYPEOF(x) != STRSXP) ws_raise_arg("x", "`x` must be a character vector");
  R_xlen_t n = XLENGTH(x);
  SEXP out = PROTECT(Rf_allocVector(LGLSXP, n));
  for (R_xlen_t i = 0; i < n; i++) {
    SEXP s = STRING_ELT(x, i);
    LOGICAL(out)[i] = s != NA_STRING && ws_valid_key(CHAR(s));
  }
  UNPROTECT(1);
  return out;
}

SEXP C_ws_check_key(SEXP key) {
  key_arg(key);
  return R_NilValue;
}

SEXP C_ws_check_run_id(SEXP run_id) {
  run_id_arg(run_id);
  return R_NilValue;
}

SEXP C_ws_same_object(SEXP x, SEXP y) { return Rf_ScalarLogical(x == y); }

SEXP C_ws_host_token(void) { return Rf_mkString(ws_host_token()); }

/* SHA-256 of a raw vector in lowercase hex, for tests that write metas. */
SEXP C_ws_sha256(SEXP bytes) {
  if (TYPEOF(bytes) != RAWSXP) ws_raise_arg("bytes", "`bytes` must be a raw vector");
  char hex[WS_CHECKSUM_HEX + 1];
  if (ws_sha256_hex(RAW(bytes), (size_t)XLENGTH(bytes), hex) != 0)
    ws_raise_class("ws_error", "SHA-256 failed (OpenSSL)");
  return Rf_mkString(hex);
}
