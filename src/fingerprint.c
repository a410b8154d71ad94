/* ws_key(): SHA-256 over a canonical, typed, length-framed encoding of R
 * values, traversed in C and streamed into the hash (no serialization buffer).
 * This file is glue (it reads SEXPs); the hash itself is the core's.
 *
 * Why not hash serialize(): its header carries the R version and native
 * encoding, it writes ALTREP compact vectors differently from the same
 * values materialized, keeps attribute order, and drags formula and
 * function environments, srcrefs and bytecode into the bytes.
 *
 * Encoding, version 1 (documented in ?ws_key; a change to it changes keys:
 * bump KEY_VERSION and say so in NEWS.md). u64 is unsigned 64-bit
 * little-endian; a string is u64 byte length + its UTF-8 bytes.
 *   "warmstart-key" 0x00, KEY_VERSION, u64 number of arguments, then per
 *   argument: u8 0 (unnamed) or u8 1 + string (its name), then the value.
 *   value: u8 tag, u64 number of attributes, the attributes sorted by name
 *   (string name + value each), u64 length, then by tag:
 *     0x00 NULL         length 0
 *     0x08 logical      n x i32 (TRUE 1, FALSE 0, NA INT_MIN)
 *     0x09 integer      n x i32 (NA INT_MIN)
 *     0x0A double       n x f64 bits; -0 as 0, NA_real_ as 0x7FF00000000007A2,
 *                       every other NaN as 0x7FF8000000000000
 *     0x0B complex      n x (re, im), each part as a double
 *     0x10 character    n x (u8 0 for NA, or u8 1 + string)
 *     0x18 raw          n bytes
 *     0x20 list, 0x21 expression   n values
 *     0x28 symbol       length = byte length, then the name's bytes
 *     0x29 pairlist, 0x2A call     n nodes: u8 0, or u8 1 + string (tag);
 *                                  then the node's value
 *     0x30 function     length 2: formals (a pairlist or NULL), body
 *     0x31 primitive    as a symbol: its name
 *     0x38 S4 object    length 0 (its slots are its attributes)
 * Left out: the environment of functions, formulas and terms; srcref,
 * srcfile and wholeSrcref attributes of functions and code; data.table's
 * .internal.selfref. Compact row names c(NA, -n) are hashed as 1:n.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define R_NO_REMAP
#include <R.h>
#include <Rinternals.h>

#include "closure.h"
#include "glue.h"
#include "core/ws_core.h"

#define KEY_VERSION 1
enum {
  TAG_NULL = 0x00,
  TAG_LOGICAL = 0x08,
  TAG_INTEGER = 0x09,
  TAG_DOUBLE = 0x0A,
  TAG_COMPLEX = 0x0B,
  TAG_CHARACTER = 0x10,
  TAG_RAW = 0x18,
  TAG_LIST = 0x20,
  TAG_EXPRESSION = 0x21,
  TAG_SYMBOL = 0x28,
  TAG_PAIRLIST = 0x29,
  TAG_CALL = 0x2A,
  TAG_FUNCTION = 0x30,
  TAG_PRIMITIVE = 0x31,
  TAG_S4 = 0x38
};

/* Elements per chunk when a vector must be converted before hashing
 * (canonical NaN, ALTREP regions, big-endian hosts): 8 KiB of doubles
 * stays in L1 between the conversion and the hash. */
#define CHUNK 1024

#define MAX_DEPTH 2048
typedef enum { STEP_ELT, STEP_NAME, STEP_ATTR, STEP_FORMALS, STEP_BODY } step_kind;
typedef struct step {
  step_kind kind;
  R_xlen_t index;   /* STEP_ELT: 0-based */
  const char *name; /* STEP_NAME, STEP_ATTR */
} step;

/* The state of one ws_key() call. The traversal runs R code (deparse() of a
 * primitive, ALTREP region methods) that may call ws_key() again, and it
 * can raise an R error (a value we refuse, a failed allocation while
 * translating a string): so the state is per call, in memory R reclaims
 * when the call ends however it ends (R_alloc), and the one thing R does
 * not own, the OpenSSL context, is freed by R_ExecWithCleanup. */
typedef struct hasher {
  ws_sha256 *h;
  int failed;
  size_t used;
  unsigned char buf[1 << 12];
  union {
    double d[CHUNK];
    int i[CHUNK];
    Rcomplex c[CHUNK / 2];
    Rbyte r[CHUNK * 8];
    uint64_t u[CHUNK];
  } chunk;
  /* Where we are in the value, for error messages. */
  step *path;
  int depth, path_cap;
  const char *root_name;
  char dots[32];
  char where[1024];
} hasher;

static void flush(hasher *k) {
  if (k->used > 0 && ws_sha256_update(k->h, k->buf, k->used) != 0) k->failed = 1;
  k->used = 0;
}

/* Small fields are batched: one EVP update per field would cost more than
 * the hashing itself. Large blocks go straight from R's memory. */
static void put(hasher *k, const void *data, size_t n) {
  if (n >= sizeof k->buf / 2) {
    flush(k);
    if (ws_sha256_update(k->h, data, n) != 0) k->failed = 1;
    return;
  }
  if (k->used + n > sizeof k->buf) flush(k);
  memcpy(k->buf + k->used, data, n);
  k->used += n;
}

static void put_u8(hasher *k, unsigned v) {
  unsigned char b = (unsigned char)v;
  put(k, &b, 1);
}

static void put_u64(hasher *k, uint64_t v) {
  unsigned char b[8];
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
  put(k, b, 8);
}

static void put_bytes(hasher *k, const char *s, size_t n) {
  put_u64(k, n);
  put(k, s, n);
}

/* ---- where we are in the value, for error messages ---- */

static int syntactic(const char *s) {
  if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '.'))
    return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
          (*s >= '0' && *s <= '9') || *s == '.' || *s == '_'))
      return 0;
  return 1;
}

/* Renders the path as R code, e.g. model$smooth[[2]] or attr(x, "env");
 * names are cut at 200 bytes and the whole at 1023. */
static const char *path_string(hasher *k) {
  char *out = k->where;
  const size_t cap = sizeof k->where;
  char tmp[1300];
  snprintf(out, cap, "%.200s", k->root_name);
  for (int i = 0; i < k->depth; i++) {
    const step *p = &k->path[i];
    switch (p->kind) {
    case STEP_ELT:
      snprintf(tmp, sizeof tmp, "%s[[%lld]]", out, (long long)p->index + 1);
      break;
    case STEP_NAME:
      snprintf(tmp, sizeof tmp, syntactic(p->name) ? "%s$%.200s" : "%s$`%.200s`",
               out, p->name);
      break;
    case STEP_ATTR:
      snprintf(tmp, sizeof tmp, "attr(%s, \"%.200s\")", out, p->name);
      break;
    case STEP_FORMALS:
      snprintf(tmp, sizeof tmp, "formals(%s)", out);
      break;
    case STEP_BODY:
      snprintf(tmp, sizeof tmp, "body(%s)", out);
      break;
    }
    snprintf(out, cap, "%.1023s", tmp);
  }
  return out;
}

static void push(hasher *k, step_kind kind, R_xlen_t index, const char *name) {
  if (k->depth >= MAX_DEPTH)
    ws_raise_arg(k->root_name, "`%s` is nested more than %d levels deep; "
                 "ws_key() cannot hash it", path_string(k), MAX_DEPTH);
  if (k->depth == k->path_cap) {
    /* Grown in R's memory: the old block is reclaimed with the call. */
    int cap = k->path_cap * 2;
    step *p = (step *)R_alloc((size_t)cap, sizeof *p);
    memcpy(p, k->path, (size_t)k->depth * sizeof *p);
    k->path = p;
    k->path_cap = cap;
  }
  k->path[k->depth].kind = kind;
  k->path[k->depth].index = index;
  k->path[k->depth].name = name;
  k->depth++;
}

static void pop(hasher *k) { k->depth--; }

static void refuse(hasher *k, const char *what) {
  ws_raise_arg(k->root_name, "`%s` is %s, which ws_key() cannot hash (only "
               "the environments of functions and formulas are left out of "
               "a key)", path_string(k), what);
}

/* ---- strings ---- */

static void put_charsxp(hasher *k, SEXP s) {
  /* Strings declared "bytes" have no encoding to translate from: their
   * bytes are the value. Others are hashed as UTF-8, so a latin1 "café"
   * hashes like the UTF-8 one. translateCharUTF8 hands back CHAR(s) itself
   * for ASCII and UTF-8 strings; a translation is released at once, so a
   * long latin1 vector does not pile up copies. */
  if (Rf_getCharCE(s) == CE_BYTES) {
    put_bytes(k, CHAR(s), (size_t)LENGTH(s));
    return;
  }
  const void *vmax = vmaxget();
  const char *u = Rf_translateCharUTF8(s);
  put_bytes(k, u, u == CHAR(s) ? (size_t)LENGTH(s) : strlen(u));
  vmaxset(vmax);
}

/* ---- vectors ---- */

static uint64_t double_bits(double d) {
  uint64_t u;
  memcpy(&u, &d, sizeof u);
  return u;
}

static uint64_t to_le64(uint64_t u) {
#ifdef WORDS_BIGENDIAN
  return __builtin_bswap64(u);
#else
  return u;
#endif
}

static uint32_t to_le32(uint32_t u) {
#ifdef WORDS_BIGENDIAN
  return __builtin_bswap32(u);
#else
  return u;
#endif
}

/* Doubles: one pass to see whether a chunk needs canonical forms (zeros,
 * NaNs); the common chunk is then hashed straight from R's memory. */
static void put_doubles(hasher *k, SEXP x, R_xlen_t n, int complex_parts) {
  const double *p = complex_parts ? (const double *)COMPLEX_OR_NULL(x)
                                  : REAL_OR_NULL(x);
  R_xlen_t total = complex_parts ? 2 * n : n;
  for (R_xlen_t off = 0; off < total; off += CHUNK) {
    R_xlen_t m = total - off < CHUNK ? total - off : CHUNK;
    const double *src;
    if (p != NULL) {
      src = p + off;
    } else if (complex_parts) { /* ALTREP without a data pointer */
      COMPLEX_GET_REGION(x, off / 2, m / 2, k->chunk.c);
      src = k->chunk.d;
    } else {
      REAL_GET_REGION(x, off, m, k->chunk.d);
      src = k->chunk.d;
    }
    int special = 0;
    for (R_xlen_t i = 0; i < m; i++) special |= (src[i] != src[i]) | (src[i] == 0);
#ifdef WORDS_BIGENDIAN
    special = 1;
#endif
    if (!special) {
      put(k, src, (size_t)m * sizeof(double));
      continue;
    }
    for (R_xlen_t i = 0; i < m; i++) {
      double d = src[i];
      uint64_t u;
      if (ISNA(d))
        u = UINT64_C(0x7FF00000000007A2);
      else if (d != d)
        u = UINT64_C(0x7FF8000000000000);
      else if (d == 0)
        u = 0;
      else
        u = double_bits(d);
      k->chunk.u[i] = to_le64(u);
    }
    put(k, k->chunk.u, (size_t)m * sizeof(uint64_t));
  }
}

static void put_ints(hasher *k, SEXP x, R_xlen_t n, int logical) {
  const int *p = logical ? LOGICAL_OR_NULL(x) : INTEGER_OR_NULL(x);
  for (R_xlen_t off = 0; off < n; off += CHUNK) {
    R_xlen_t m = n - off < CHUNK ? n - off : CHUNK;
    const int *src;
    if (p != NULL) {
      src = p + off;
    } else {
      if (logical)
        LOGICAL_GET_REGION(x, off, m, k->chunk.i);
      else
        INTEGER_GET_REGION(x, off, m, k->chunk.i);
      src = k->chunk.i;
    }
    int convert = logical; /* C code can store any nonzero int as TRUE */
#ifdef WORDS_BIGENDIAN
    convert = 1;
#endif
    if (!convert) {
      put(k, src, (size_t)m * sizeof(int));
      continue;
    }
    for (R_xlen_t i = 0; i < m; i++) {
      int v = src[i];
      if (logical && v != NA_LOGICAL) v = v != 0;
      k->chunk.i[i] = (int)to_le32((uint32_t)v);
    }
    put(k, k->chunk.i, (size_t)m * sizeof(int));
  }
}

static void put_raw(hasher *k, SEXP x, R_xlen_t n) {
  const Rbyte *p = RAW_OR_NULL(x);
  if (p != NULL) {
    put(k, p, (size_t)n);
    return;
  }
  for (R_xlen_t off = 0; off < n; off += (R_xlen_t)sizeof k->chunk.r) {
    R_xlen_t m = n - off < (R_xlen_t)sizeof k->chunk.r ? n - off
                                                      : (R_xlen_t)sizeof k->chunk.r;
    RAW_GET_REGION(x, off, m, k->chunk.r);
    put(k, k->chunk.r, (size_t)m);
  }
}

/* Compact row names, c(NA_integer_, +-n): hashed as the integers 1:n. */
static void put_seq(hasher *k, R_xlen_t n) {
  put_u8(k, TAG_INTEGER);
  put_u64(k, 0);
  put_u64(k, (uint64_t)n);
  for (R_xlen_t off = 0; off < n; off += CHUNK) {
    R_xlen_t m = n - off < CHUNK ? n - off : CHUNK;
    for (R_xlen_t i = 0; i < m; i++)
      k->chunk.i[i] = (int)to_le32((uint32_t)(off + i + 1));
    put(k, k->chunk.i, (size_t)m * sizeof(int));
  }
}

/* ---- attributes ---- */

typedef struct attr {
  const char *name; /* UTF-8 */
  SEXP value;
} attr;

static int cmp_attr(const void *a, const void *b) {
  return strcmp(((const attr *)a)->name, ((const attr *)b)->name);
}

static int inherits_formula(SEXP x) {
  return Rf_isObject(x) && Rf_inherits(x, "formula");
}

static int is_code(SEXP x) {
  int t = TYPEOF(x);
  return t == CLOSXP || t == LANGSXP || t == EXPRSXP;
}

static int skipped_attr(SEXP x, const char *name) {
  if (strcmp(name, ".internal.selfref") == 0) return 1; /* data.table */
  if (is_code(x) && (strcmp(name, "srcref") == 0 ||
                     strcmp(name, "srcfile") == 0 ||
                     strcmp(name, "wholeSrcref") == 0))
    return 1;
  return strcmp(name, ".Environment") == 0 && inherits_formula(x);
}

static int compact_row_names(SEXP v, R_xlen_t *n) {
  if (TYPEOF(v) != INTSXP || XLENGTH(v) != 2 || ATTRIB(v) != R_NilValue)
    return 0;
  const int *p = INTEGER_OR_NULL(v);
  if (p == NULL || p[0] != NA_INTEGER || p[1] == NA_INTEGER) return 0;
  *n = p[1] < 0 ? -(R_xlen_t)p[1] : (R_xlen_t)p[1];
  return 1;
}

static void put_value(hasher *k, SEXP x);

static void put_attributes(hasher *k, SEXP x) {
  size_t n = 0;
  for (SEXP a = ATTRIB(x); a != R_NilValue; a = CDR(a)) n++;
  if (n == 0 || TYPEOF(ATTRIB(x)) != LISTSXP) {
    put_u64(k, 0);
    return;
  }
  attr *v = (attr *)R_alloc(n, sizeof *v);
  size_t m = 0;
  for (SEXP a = ATTRIB(x); a != R_NilValue; a = CDR(a)) {
    const char *name = Rf_translateCharUTF8(PRINTNAME(TAG(a)));
    if (skipped_attr(x, name)) continue;
    v[m].name = name;
    v[m].value = CAR(a);
    m++;
  }
  /* A set: the order R happens to keep attributes in is not part of the
   * value (structure(1, a = 1, b = 2) equals structure(1, b = 2, a = 1)). */
  qsort(v, m, sizeof *v, cmp_attr);
  put_u64(k, m);
  for (size_t i = 0; i < m; i++) {
    put_bytes(k, v[i].name, strlen(v[i].name));
    R_xlen_t rows;
    if (strcmp(v[i].name, "row.names") == 0 &&
        compact_row_names(v[i].value, &rows)) {
      put_seq(k, rows);
      continue;
    }
    push(k, STEP_ATTR, 0, v[i].name);
    put_value(k, v[i].value);
    pop(k);
  }
}

/* ---- the traversal ---- */

static void put_header(hasher *k, int tag, SEXP x) {
  put_u8(k, (unsigned)tag);
  put_attributes(k, x);
}

static void put_node_list(hasher *k, SEXP x) {
  R_xlen_t n = 0;
  for (SEXP p = x; p != R_NilValue; p = CDR(p)) n++;
  put_u64(k, (uint64_t)n);
  R_xlen_t i = 0;
  for (SEXP p = x; p != R_NilValue; p = CDR(p), i++) {
    if (TAG(p) == R_NilValue) {
      put_u8(k, 0);
      push(k, STEP_ELT, i, NULL);
    } else {
      SEXP nm = PRINTNAME(TAG(p));
      put_u8(k, 1);
      put_charsxp(k, nm);
      push(k, STEP_NAME, 0, CHAR(nm));
    }
    put_value(k, CAR(p));
    pop(k);
  }
}

static SEXP primitive_name(SEXP x) {
  /* No API gives a primitive's name; deparse() does: .Primitive("sum"). */
  SEXP call = PROTECT(Rf_lang2(Rf_install("deparse"), x));
  SEXP out = Rf_eval(call, R_BaseEnv);
  UNPROTECT(1);
  return out;
}

static void put_value(hasher *k, SEXP x) {
  R_CheckStack();
  R_xlen_t n;
  switch (TYPEOF(x)) {
  case NILSXP:
    put_u8(k, TAG_NULL);
    put_u64(k, 0);
    put_u64(k, 0);
    return;
  case LGLSXP:
  case INTSXP:
    n = XLENGTH(x);
    put_header(k, TYPEOF(x) == LGLSXP ? TAG_LOGICAL : TAG_INTEGER, x);
    put_u64(k, (uint64_t)n);
    put_ints(k, x, n, TYPEOF(x) == LGLSXP);
    return;
  case REALSXP:
  case CPLXSXP:
    n = XLENGTH(x);
    put_header(k, TYPEOF(x) == REALSXP ? TAG_DOUBLE : TAG_COMPLEX, x);
    put_u64(k, (uint64_t)n);
    put_doubles(k, x, n, TYPEOF(x) == CPLXSXP);
    return;
  case STRSXP:
    n = XLENGTH(x);
    put_header(k, TAG_CHARACTER, x);
    put_u64(k, (uint64_t)n);
    for (R_xlen_t i = 0; i < n; i++) {
      SEXP s = STRING_ELT(x, i);
      if (s == NA_STRING) {
        put_u8(k, 0);
      } else {
        put_u8(k, 1);
        put_charsxp(k, s);
      }
    }
    return;
  case RAWSXP:
    n = XLENGTH(x);
    put_header(k, TAG_RAW, x);
    put_u64(k, (uint64_t)n);
    put_raw(k, x, n);
    return;
  case VECSXP:
  case EXPRSXP: {
    n = XLENGTH(x);
    put_header(k, TYPEOF(x) == VECSXP ? TAG_LIST : TAG_EXPRESSION, x);
    put_u64(k, (uint64_t)n);
    SEXP names = Rf_getAttrib(x, R_NamesSymbol);
    for (R_xlen_t i = 0; i < n; i++) {
      SEXP nm = TYPEOF(names) == STRSXP ? STRING_ELT(names, i) : NA_STRING;
      if (nm != NA_STRING && CHAR(nm)[0] != '\0')
        push(k, STEP_NAME, 0, CHAR(nm));
      else
        push(k, STEP_ELT, i, NULL);
      put_value(k, VECTOR_ELT(x, i));
      pop(k);
    }
    return;
  }
  case SYMSXP: {
    SEXP nm = PRINTNAME(x);
    put_u8(k, TAG_SYMBOL);
    put_u64(k, 0);
    put_charsxp(k, nm); /* u64 byte length + bytes */
    return;
  }
  case LISTSXP:
  case LANGSXP:
    put_header(k, TYPEOF(x) == LISTSXP ? TAG_PAIRLIST : TAG_CALL, x);
    put_node_list(k, x);
    return;
  case CLOSXP:
    /* Formals and body only: the environment, srcref and bytecode are how
     * the function was made, not what it computes. */
    put_header(k, TAG_FUNCTION, x);
    put_u64(k, 2);
    push(k, STEP_FORMALS, 0, NULL);
    put_value(k, WS_CLOSURE_FORMALS(x));
    pop(k);
    push(k, STEP_BODY, 0, NULL);
    put_value(k, R_ClosureExpr(x));
    pop(k);
    return;
  case BUILTINSXP:
  case SPECIALSXP: {
    SEXP nm = PROTECT(primitive_name(x));
    put_u8(k, TAG_PRIMITIVE);
    put_u64(k, 0);
    if (TYPEOF(nm) == STRSXP && XLENGTH(nm) >= 1)
      put_charsxp(k, STRING_ELT(nm, 0));
    else
      put_u64(k, 0);
    UNPROTECT(1);
    return;
  }
  case S4SXP:
    put_header(k, TAG_S4, x);
    put_u64(k, 0);
    return;
  case ENVSXP:
    refuse(k, "an environment");
    return;
  case EXTPTRSXP:
    refuse(k, "an external pointer");
    return;
  case WEAKREFSXP:
    refuse(k, "a weak reference");
    return;
  case BCODESXP:
    refuse(k, "byte code");
    return;
  case PROMSXP:
    refuse(k, "a promise");
    return;
  case DOTSXP:
    refuse(k, "a `...` object");
    return;
  default:
    refuse(k, Rf_type2char(TYPEOF(x)));
  }
}

typedef struct key_call {
  SEXP args;
  hasher *k;
} key_call;

static SEXP key_body(void *data) {
  key_call *c = data;
  hasher *k = c->k;
  SEXP args = c->args;
  R_xlen_t n = XLENGTH(args);
  SEXP names = Rf_getAttrib(args, R_NamesSymbol);
  put(k, "warmstart-key", 14); /* includes the NUL */
  put_u8(k, KEY_VERSION);
  put_u64(k, (uint64_t)n);
  for (R_xlen_t i = 0; i < n; i++) {
    SEXP nm = names == R_NilValue ? NA_STRING : STRING_ELT(names, i);
    if (nm == NA_STRING || CHAR(nm)[0] == '\0') {
      put_u8(k, 0);
      snprintf(k->dots, sizeof k->dots, "..%lld", (long long)i + 1);
      k->root_name = k->dots;
    } else {
      put_u8(k, 1);
      put_charsxp(k, nm);
      k->root_name = CHAR(nm);
    }
    put_value(k, VECTOR_ELT(args, i));
  }
  unsigned char md[32];
  flush(k);
  if (ws_sha256_final(k->h, md) != 0) k->failed = 1;
  if (k->failed) Rf_error("SHA-256 failed (OpenSSL)");
  char hex[65];
  ws_hex(md, 32, hex);
  return Rf_mkString(hex);
}

static void key_cleanup(void *data) {
  key_call *c = data;
  ws_sha256_free(c->k->h);
  c->k->h = NULL;
}

SEXP C_ws_key(SEXP args) {
  key_call c = {args, (hasher *)R_alloc(1, sizeof(hasher))};
  memset(c.k, 0, sizeof *c.k);
  c.k->path_cap = 64;
  c.k->path = (step *)R_alloc((size_t)c.k->path_cap, sizeof(step));
  /* The last allocation before the context exists: nothing to leak if it
   * fails, and R_ExecWithCleanup frees it whatever happens after. */
  if ((c.k->h = ws_sha256_new()) == NULL) Rf_error("cannot start SHA-256 (OpenSSL)");
  return R_ExecWithCleanup(key_body, &c, key_cleanup, &c);
}
