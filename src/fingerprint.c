/* ws_key(): SHA-256 over a canonical, typed, length-framed encoding of R
 * values, streamed into the hash (no serialization buffer).
 *
 * Encoding, version 1 (a change to it changes every key: bump the version
 * byte and say so in NEWS.md):
 *   "warmstart-key" 0x00, version byte, u64 number of arguments, then per
 *   argument: u8 0 (unnamed) or u8 1 + string (its name), then the value.
 *   string: u64 byte length + UTF-8 bytes. u64 is little-endian.
 *   value: u8 type tag, u64 attribute count (0: none), u64 length, data.
 *     character (tag 0x10): per element u8 0 for NA, or u8 1 + string.
 *     raw (tag 0x18): the bytes.
 */
#include <stdint.h>
#include <string.h>

#define R_NO_REMAP
#include <R.h>
#include <Rinternals.h>

#include "glue.h"
#include "ws_core.h"

#define KEY_VERSION 1
enum { TAG_CHARACTER = 0x10, TAG_RAW = 0x18 };

typedef struct hasher {
  ws_sha256 *h;
  int failed;
  size_t used;
  unsigned char buf[1 << 14];
} hasher;

/* Small fields are batched: one EVP update per field would cost more than
 * the hashing itself. */
static void put(hasher *k, const void *data, size_t n) {
  if (n >= sizeof k->buf / 2) {
    if (k->used > 0 && ws_sha256_update(k->h, k->buf, k->used) != 0) k->failed = 1;
    k->used = 0;
    if (ws_sha256_update(k->h, data, n) != 0) k->failed = 1;
    return;
  }
  if (k->used + n > sizeof k->buf) {
    if (ws_sha256_update(k->h, k->buf, k->used) != 0) k->failed = 1;
    k->used = 0;
  }
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

static void put_string(hasher *k, const char *s) {
  size_t n = strlen(s);
  put_u64(k, n);
  put(k, s, n);
}

/* Validation happens before the hasher exists, so an R error here leaks
 * nothing. */
static void check_value(SEXP x, R_xlen_t i) {
  if (TYPEOF(x) != STRSXP && TYPEOF(x) != RAWSXP)
    Rf_error("`...` element %ld must be a character or raw vector, not %s",
             (long)(i + 1), Rf_type2char(TYPEOF(x)));
  if (ATTRIB(x) != R_NilValue)
    Rf_error("`...` element %ld must have no attributes (names, dim, class)",
             (long)(i + 1));
}

static void put_value(hasher *k, SEXP x) {
  R_xlen_t n = XLENGTH(x);
  if (TYPEOF(x) == STRSXP) {
    put_u8(k, TAG_CHARACTER);
    put_u64(k, 0);
    put_u64(k, (uint64_t)n);
    for (R_xlen_t i = 0; i < n; i++) {
      SEXP s = STRING_ELT(x, i);
      if (s == NA_STRING) {
        put_u8(k, 0);
      } else {
        put_u8(k, 1);
        put_string(k, Rf_translateCharUTF8(s));
      }
    }
  } else {
    put_u8(k, TAG_RAW);
    put_u64(k, 0);
    put_u64(k, (uint64_t)n);
    put(k, RAW(x), (size_t)n);
  }
}

SEXP C_ws_key(SEXP args) {
  R_xlen_t n = XLENGTH(args);
  SEXP names = Rf_getAttrib(args, R_NamesSymbol);
  for (R_xlen_t i = 0; i < n; i++) check_value(VECTOR_ELT(args, i), i);
  /* One context for the process, reset per call: translating a string to
   * UTF-8 may allocate, and an R error there longjmps past us; a static
   * context leaks nothing when that happens. R calls us on one thread. */
  static hasher k; /* 16 KiB: kept off the C stack */
  if (k.h == NULL && (k.h = ws_sha256_new()) == NULL)
    Rf_error("cannot start SHA-256 (OpenSSL)");
  if (ws_sha256_reset(k.h) != 0) Rf_error("cannot start SHA-256 (OpenSSL)");
  k.failed = 0;
  k.used = 0;
  put(&k, "warmstart-key", 14); /* includes the NUL */
  put_u8(&k, KEY_VERSION);
  put_u64(&k, (uint64_t)n);
  for (R_xlen_t i = 0; i < n; i++) {
    SEXP nm = names == R_NilValue ? NA_STRING : STRING_ELT(names, i);
    if (nm == NA_STRING || CHAR(nm)[0] == '\0') {
      put_u8(&k, 0);
    } else {
      put_u8(&k, 1);
      put_string(&k, Rf_translateCharUTF8(nm));
    }
    put_value(&k, VECTOR_ELT(args, i));
  }
  unsigned char md[32];
  if (k.used > 0 && ws_sha256_update(k.h, k.buf, k.used) != 0) k.failed = 1;
  if (ws_sha256_final(k.h, md) != 0) k.failed = 1;
  if (k.failed) Rf_error("SHA-256 failed (OpenSSL)");
  char hex[65];
  ws_hex(md, 32, hex);
  return Rf_mkString(hex);
}
