/* The entry meta JSON, schema v1, as the Rust store reads and writes it
 * (serde field names and types).
 *
 * Reading must agree with serde_json: an entry the Rust store accepts is
 * never deleted here, and one it rejects is never trusted. cJSON alone is
 * more lenient than serde (any control character as white space, numbers
 * such as "01" or "+1", invalid UTF-8) and reads every number through a
 * double (an iteration above 2^53 would change). So a strict scan of the
 * text (RFC 8259, as serde_json reads it) comes first and keeps the raw
 * text of each top-level value; cJSON then gives the unescaped keys and
 * strings, and integers are read from their raw text.
 *
 * Numbers are written and read independently of the C locale's decimal
 * point (LC_NUMERIC): under a comma-decimal locale printf writes "1,5". */
#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ws_core.h"

/* ---- numbers, whatever the locale ---- */

static const char *locale_point(void) {
  const struct lconv *lc = localeconv();
  return (lc != NULL && lc->decimal_point != NULL && lc->decimal_point[0] != '\0')
             ? lc->decimal_point : ".";
}

/* Replace the first `from` in buf (capacity cap) by `to`. */
static int replace_point(char *buf, size_t cap, const char *from, const char *to) {
  char *at = strstr(buf, from);
  if (at == NULL || strcmp(from, to) == 0) return 0;
  size_t nf = strlen(from), nt = strlen(to), tail = strlen(at + nf);
  if ((size_t)(at - buf) + nt + tail + 1 > cap) return -1;
  memmove(at + nt, at + nf, tail + 1);
  memcpy(at, to, nt);
  return 0;
}

/* Parses the JSON number text s[0..n) as a double, correctly rounded. */
static int parse_double(const char *s, size_t n, double *out) {
  /* Room for a decimal point of a few bytes; a number may be any length
   * (serde reads 1.000...0 with 600 zeros), so long ones go to the heap. */
  char small[128];
  size_t cap = n + 16;
  char *buf = cap <= sizeof small ? small : malloc(cap);
  if (buf == NULL) return -1;
  memcpy(buf, s, n);
  buf[n] = '\0';
  int rc = -1;
  if (replace_point(buf, cap, ".", locale_point()) == 0) {
    char *end = NULL;
    errno = 0;
    double d = strtod(buf, &end);
    /* serde_json refuses a number out of a double's range; an underflow to
     * zero or a subnormal it takes. */
    if (end != NULL && *end == '\0' && isfinite(d)) {
      *out = d;
      rc = 0;
    }
  }
  if (buf != small) free(buf);
  return rc;
}

/* The shortest %g form that reads back to exactly the same double, with a
 * '.' whatever the locale. cJSON's own printer accepts a 15-digit form
 * within one epsilon, which loses the last bit (0.1 + 0.2 comes back as
 * 0.3) and prints DBL_MAX as a number that reads back as infinity. */
int ws_format_double(double v, char *buf, size_t cap) {
  for (int digits = 15; digits <= 17; digits++) {
    snprintf(buf, cap, "%.*g", digits, v);
    if (strtod(buf, NULL) == v) break; /* both in the current locale */
  }
  return replace_point(buf, cap, locale_point(), ".");
}

/* An unsigned integer field from its raw JSON text, as serde reads one: an
 * integer literal (no sign, fraction or exponent; serde refuses even
 * "-0" and "5.0") within max. */
static int parse_uint(const char *s, size_t n, uint64_t max, uint64_t *out) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    unsigned d = (unsigned)(s[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return -1;
    v = v * 10 + d;
  }
  if (n == 0 || v > max) return -1;
  *out = v;
  return 0;
}

/* ---- the strict scan ---- */

enum { V_OBJECT, V_ARRAY, V_STRING, V_NUMBER, V_TRUE, V_FALSE, V_NULL };

/* What a scanned string holds beyond plain text: STR_INVALID, not valid
 * Unicode (invalid UTF-8, a lone surrogate escape: serde refuses such a
 * string where it reads it, and skips it unread elsewhere); STR_NUL, a
 * \u0000 escape (valid, but equal to none of the names and values we
 * compare with, and cJSON's C strings would cut it short). */
enum { STR_INVALID = 1, STR_NUL = 2 };

/* A top-level member (or element, for the sequence form): the raw text of
 * its key (with quotes; NULL in a sequence) and of its value, the value's
 * kind, and the flags of key and value strings. */
typedef struct member {
  const char *key, *val;
  size_t key_len, len;
  int kind;
  int key_flags, val_flags;
} member;

typedef struct jscan {
  const unsigned char *p, *end;
  int top_kind;
  member *top; /* malloc'd: jscan_free() */
  size_t ntop, cap;
} jscan;

static void jscan_init(jscan *j, const char *text, size_t len) {
  memset(j, 0, sizeof *j);
  j->p = (const unsigned char *)text;
  j->end = j->p + len;
}

static void jscan_free(jscan *j) {
  free(j->top);
  j->top = NULL;
}

static void skip_ws(jscan *j) {
  while (j->p < j->end &&
         (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
    j->p++;
}

static int hex4(const unsigned char *p, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    unsigned c = p[i], d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return -1;
    v = v * 16 + d;
  }
  *out = v;
  return 0;
}

/* A string at j->p; -1 on a syntax error (serde rejects those anywhere:
 * a raw control character, a bad escape), else 0 with its STR_ flags. */
static int scan_string(jscan *j, int *flags) {
  *flags = 0;
  j->p++; /* the opening quote */
  while (j->p < j->end) {
    unsigned c = *j->p;
    if (c == '"') {
      j->p++;
      return 0;
    }
    if (c < 0x20) return -1;
    if (c == '\\') {
      if (j->end - j->p < 2) return -1;
      unsigned e = j->p[1];
      if (e == 'u') {
        unsigned u;
        if (j->end - j->p < 6 || hex4(j->p + 2, &u) != 0) return -1;
        j->p += 6;
        if (u == 0) *flags |= STR_NUL;
        if (u >= 0xDC00 && u <= 0xDFFF) *flags |= STR_INVALID;
        if (u >= 0xD800 && u <= 0xDBFF) {
          unsigned low;
          if (j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u' &&
              hex4(j->p + 2, &low) == 0 && low >= 0xDC00 && low <= 0xDFFF)
            j->p += 6;
          else
            *flags |= STR_INVALID; /* a lone leading half */
        }
        continue;
      }
      if (e == '\0' || strchr("\"\\/bfnrt", (int)e) == NULL) return -1;
      j->p += 2;
      continue;
    }
    size_t n = ws_utf8_len(j->p, j->end);
    if (n == 0) {
      *flags |= STR_INVALID;
      n = 1;
    }
    j->p += n;
  }
  return -1; /* unterminated */
}

static int scan_number(jscan *j) {
  const unsigned char *p = j->p, *e = j->end;
  if (p < e && *p == '-') p++;
  if (p >= e) return -1;
  if (*p == '0') {
    p++;
  } else if (*p >= '1' && *p <= '9') {
    while (p < e && *p >= '0' && *p <= '9') p++;
  } else {
    return -1;
  }
  if (p < e && *p == '.') {
    p++;
    if (p >= e || *p < '0' || *p > '9') return -1;
    while (p < e && *p >= '0' && *p <= '9') p++;
  }
  if (p < e && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < e && (*p == '+' || *p == '-')) p++;
    if (p >= e || *p < '0' || *p > '9') return -1;
    while (p < e && *p >= '0' && *p <= '9') p++;
  }
  j->p = p;
  return 0;
}

static int scan_literal(jscan *j, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0) return -1;
  j->p += n;
  return 0;
}

static int scan_scalar(jscan *j, int *kind, int *flags) {
  *flags = 0;
  if (j->p >= j->end) return -1;
  switch (*j->p) {
  case '"':
    *kind = V_STRING;
    return scan_string(j, flags);
  case 't':
    *kind = V_TRUE;
    return scan_literal(j, "true");
  case 'f':
    *kind = V_FALSE;
    return scan_literal(j, "false");
  case 'n':
    *kind = V_NULL;
    return scan_literal(j, "null");
  default:
    *kind = V_NUMBER;
    return scan_number(j);
  }
}

/* An object's key and its colon; the key's raw text (with its quotes) in
 * [*key, *key_end). */
static int scan_key(jscan *j, const unsigned char **key,
                    const unsigned char **key_end, int *flags) {
  skip_ws(j);
  if (j->p >= j->end || *j->p != '"') return -1;
  *key = j->p;
  if (scan_string(j, flags) != 0) return -1;
  *key_end = j->p;
  skip_ws(j);
  if (j->p >= j->end || *j->p != ':') return -1;
  j->p++;
  return 0;
}

/* The whole text as one JSON document, iteratively: serde_json skips an
 * unknown field's value however deeply it nests (100,000 levels were
 * read), so no recursion. Records the members of the top-level object or
 * array in j->top. 0, or -1 where serde_json would fail. */
static int scan_document(jscan *j) {
  unsigned char *stack = NULL; /* '{' or '[' per open container */
  size_t depth = 0, cap = 0;
  const unsigned char *start = NULL, *key = NULL, *key_end = NULL;
  int key_flags = 0, rc = -1;
  skip_ws(j);
  for (;;) {
    /* Expecting a value. */
    int kind, flags = 0;
    if (depth == 1) start = j->p;
    if (j->p < j->end && (*j->p == '{' || *j->p == '[')) {
      unsigned char open = *j->p;
      if (depth == cap) {
        size_t nc = cap ? cap * 2 : 64;
        unsigned char *ns = realloc(stack, nc);
        if (ns == NULL) goto out;
        stack = ns;
        cap = nc;
      }
      stack[depth++] = open;
      if (depth == 1) j->top_kind = open == '{' ? V_OBJECT : V_ARRAY;
      j->p++;
      skip_ws(j);
      if (j->p < j->end && *j->p == (open == '{' ? '}' : ']')) {
        j->p++;
        depth--;
        kind = open == '{' ? V_OBJECT : V_ARRAY;
      } else {
        if (open == '{') {
          int kf;
          const unsigned char *k, *ke;
          if (scan_key(j, &k, &ke, &kf) != 0) goto out;
          if (depth == 1) {
            key = k;
            key_end = ke;
            key_flags = kf;
          }
        }
        skip_ws(j);
        continue;
      }
    } else if (scan_scalar(j, &kind, &flags) != 0) {
      goto out;
    }
    /* A value ended; close containers as far as it goes. */
    for (;;) {
      if (depth == 0) goto done;
      if (depth == 1) {
        if (j->ntop == j->cap) {
          size_t nc = j->cap ? j->cap * 2 : 16;
          member *nm = realloc(j->top, nc * sizeof *nm);
          if (nm == NULL) goto out;
          j->top = nm;
          j->cap = nc;
        }
        member *m = &j->top[j->ntop++];
        m->key = stack[0] == '{' ? (const char *)key : NULL;
        m->key_len = m->key ? (size_t)(key_end - key) : 0;
        m->val = (const char *)start;
        m->len = (size_t)(j->p - start);
        m->kind = kind;
        m->key_flags = m->key ? key_flags : 0;
        m->val_flags = flags;
      }
      skip_ws(j);
      if (j->p >= j->end) goto out;
      unsigned char open = stack[depth - 1];
      if (*j->p == ',') {
        j->p++;
        if (open == '{') {
          int kf;
          const unsigned char *k, *ke;
          if (scan_key(j, &k, &ke, &kf) != 0) goto out;
          if (depth == 1) {
            key = k;
            key_end = ke;
            key_flags = kf;
          }
        }
        skip_ws(j);
        break; /* the next value */
      }
      if (*j->p != (open == '{' ? '}' : ']')) goto out;
      j->p++;
      depth--;
      kind = open == '{' ? V_OBJECT : V_ARRAY;
      flags = 0;
    }
  }
done:
  skip_ws(j);
  if (j->p == j->end) rc = 0; /* else serde: "trailing characters" */
out:
  free(stack);
  return rc;
}

/* A scanned string's value, unescaped by cJSON (NULL when it cannot). The
 * caller cJSON_Delete()s the item. */
static cJSON *string_item(const char *raw, size_t len) {
  cJSON *item = cJSON_ParseWithLength(raw, len);
  if (item != NULL && !cJSON_IsString(item)) {
    cJSON_Delete(item);
    item = NULL;
  }
  return item;
}

/* Whether the scanned string raw[0..len) (with its STR_ flags) equals the
 * C string want. */
static int string_is(const char *raw, size_t len, int flags, const char *want) {
  if (flags != 0) return 0;
  cJSON *item = string_item(raw, len);
  int same = item != NULL && strcmp(item->valuestring, want) == 0;
  cJSON_Delete(item);
  return same;
}

/* ---- the fields ---- */

enum {
  F_SCHEMA, F_SECS, F_NANOS, F_OBJECTIVE, F_ITERATION, F_KIND, F_CHECKSUM,
  F_BYTES, /* the Rust struct's fields (0.3.122), in declaration order */
  F_PRODUCER, F_ACCESSED, F_ACCESSED_SECS, F_ACCESSED_NANOS, /* added later,
                                                   all #[serde(default)] */
  F_FORMAT, F_DIGEST, F_LABEL, /* ours */
  NFIELDS
};
static const char *const field_names[NFIELDS] = {
    "schema_version", "written_unix_secs",  "written_nanos",  "objective",
    "iteration",      "kind",               "checksum_hex",   "payload_bytes",
    "producer",       "accessed",           "accessed_unix_secs",
    "accessed_nanos", "payload_format",     "meta_sha256",    "label"};
#define N_RUST_FIELDS 8

/* The digest of 0.1.0's metas: a fixed little-endian layout of the fields
 * it knew (not the label). Still verified, for entries that version
 * wrote; new metas carry a digest of their whole text (below). */
static void put_le(unsigned char **p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++) *(*p)++ = (unsigned char)(v >> (8 * i));
}

static int legacy_digest(const ws_meta *m, char hex[WS_CHECKSUM_HEX + 1]) {
  unsigned char buf[128], *p = buf;
  int has_objective = m->has_objective && isfinite(m->objective);
  uint64_t obj_bits = 0;
  if (has_objective) memcpy(&obj_bits, &m->objective, sizeof obj_bits);
  put_le(&p, m->schema_version, 4);
  put_le(&p, m->written_secs, 8);
  put_le(&p, m->written_nanos, 4);
  put_le(&p, (uint64_t)has_objective, 1);
  put_le(&p, obj_bits, 8);
  put_le(&p, (uint64_t)m->has_iteration, 1);
  put_le(&p, m->has_iteration ? m->iteration : 0, 8);
  put_le(&p, (uint64_t)m->kind, 1);
  memcpy(p, m->checksum_hex, WS_CHECKSUM_HEX);
  p += WS_CHECKSUM_HEX;
  put_le(&p, m->payload_bytes, 8);
  put_le(&p, (uint64_t)m->format, 1);
  return ws_sha256_hex(buf, (size_t)(p - buf), hex);
}

/* Where the whole-text digest stands: the last member, exactly as we write
 * it, so that it covers every byte before it (every field we write, the
 * label included, and any a later version adds). */
static const char digest_member[] = ",\"meta_sha256\":\"";
#define DIGEST_TAIL_LEN (sizeof digest_member - 1 + WS_CHECKSUM_HEX + 2)

/* 1 when text ends in our digest member and the digest matches the text
 * before it; 0 when it does not end so; -1 when it does and mismatches. */
static int text_digest_check(const char *text, size_t len) {
  if (len < DIGEST_TAIL_LEN + 1) return 0;
  const char *tail = text + len - DIGEST_TAIL_LEN;
  if (memcmp(tail, digest_member, sizeof digest_member - 1) != 0 ||
      memcmp(text + len - 2, "\"}", 2) != 0)
    return 0;
  /* The digest is over the object as it was before the member was added:
   * the text up to it, closed with '}'. */
  ws_sha256 *h = ws_sha256_new();
  unsigned char md[32];
  char hex[WS_CHECKSUM_HEX + 1];
  int ok = h != NULL && ws_sha256_update(h, text, (size_t)(tail - text)) == 0 &&
           ws_sha256_update(h, "}", 1) == 0 && ws_sha256_final(h, md) == 0;
  ws_sha256_free(h);
  if (!ok) return -1;
  ws_hex(md, 32, hex);
  return memcmp(hex, tail + sizeof digest_member - 1, WS_CHECKSUM_HEX) == 0 ? 1 : -1;
}

static int add_raw(cJSON *obj, const char *name, const char *text) {
  cJSON *item = cJSON_CreateRaw(text);
  if (item == NULL) return -1;
  if (!cJSON_AddItemToObject(obj, name, item)) {
    cJSON_Delete(item);
    return -1;
  }
  return 0;
}

/* Integers are written as raw JSON text: cJSON prints every number through
 * a double and would switch to exponent form ("1e+16"), which serde
 * rejects for an integer field. */
static int add_u64(cJSON *obj, const char *name, uint64_t v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%" PRIu64, v);
  return add_raw(obj, name, buf);
}

/* body (a JSON object's text, freed here) with our digest member appended:
 * a SHA-256 of the text before it. Schema v1 has no checksum over the meta
 * itself, so a damaged objective or kind would read as a valid, wrong entry
 * (a bad entry made "best"). */
static char *with_digest(char *body, void (*release)(void *)) {
  char *out = NULL;
  size_t len = strlen(body);
  char hex[WS_CHECKSUM_HEX + 1];
  if (len >= 2 && body[len - 1] == '}' && ws_sha256_hex(body, len, hex) == 0 &&
      (out = malloc(len + DIGEST_TAIL_LEN + 1)) != NULL) {
    memcpy(out, body, len - 1);
    snprintf(out + len - 1, DIGEST_TAIL_LEN + 2, "%s%s\"}", digest_member, hex);
  }
  release(body);
  return out;
}

static void release_cjson(void *p) { cJSON_free(p); }

char *ws_meta_to_json(const ws_meta *m, const char *label) {
  cJSON *o = cJSON_CreateObject();
  char *body = NULL;
  if (o == NULL) return NULL;
  int bad = 0;
  bad |= add_u64(o, "schema_version", m->schema_version);
  /* Who wrote it, in the newer Rust stores' field: they read a Final whose
   * producer is not their own build as a Checkpoint. */
  if (m->has_producer)
    bad |= cJSON_AddStringToObject(o, "producer", m->producer) ? 0 : -1;
  bad |= add_u64(o, "written_unix_secs", m->written_secs);
  bad |= add_u64(o, "written_nanos", m->written_nanos);
  if (m->has_objective && isfinite(m->objective)) {
    char num[48];
    bad |= ws_format_double(m->objective, num, sizeof num);
    bad |= add_raw(o, "objective", num);
  } else {
    bad |= cJSON_AddNullToObject(o, "objective") ? 0 : -1;
  }
  if (m->has_iteration)
    bad |= add_u64(o, "iteration", m->iteration);
  else
    bad |= cJSON_AddNullToObject(o, "iteration") ? 0 : -1;
  bad |= cJSON_AddStringToObject(o, "kind", m->kind == WS_KIND_FINAL
                                                 ? "Final" : "Checkpoint")
             ? 0 : -1;
  bad |= cJSON_AddStringToObject(o, "checksum_hex", m->checksum_hex) ? 0 : -1;
  bad |= add_u64(o, "payload_bytes", m->payload_bytes);
  /* Extra fields: the Rust reader ignores unknown fields. */
  bad |= cJSON_AddStringToObject(o, "payload_format",
                                 m->format == WS_FORMAT_RSERIALIZED
                                     ? "R-serialized" : "raw")
             ? 0 : -1;
  /* What the entry is for, in the caller's words (ws_cachem() keeps its
   * string keys here). */
  if (label != NULL)
    bad |= cJSON_AddStringToObject(o, "label", label) ? 0 : -1;
  if (!bad) body = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return body == NULL ? NULL : with_digest(body, release_cjson);
}

static int get_uint(const member *m, uint64_t max, uint64_t *out) {
  return m != NULL && m->kind == V_NUMBER ? parse_uint(m->val, m->len, max, out)
                                          : -1;
}

/* kind, as serde reads a unit variant: "Final", or the map form
 * {"Final": null}. */
static int get_kind(const member *m, ws_kind *out) {
  static const char *const variants[] = {"Checkpoint", "Final"};
  const char *raw = m->val;
  size_t len = m->len;
  if (m->kind == V_OBJECT) {
    jscan j;
    jscan_init(&j, m->val, m->len);
    int ok = scan_document(&j) == 0 && j.ntop == 1 && j.top[0].kind == V_NULL;
    int rc = -1;
    for (int v = 0; ok && v < 2; v++) {
      if (string_is(j.top[0].key, j.top[0].key_len, j.top[0].key_flags, variants[v])) {
        *out = v == 1 ? WS_KIND_FINAL : WS_KIND_CHECKPOINT;
        rc = 0;
      }
    }
    jscan_free(&j);
    return rc;
  }
  if (m->kind != V_STRING) return -1;
  for (int v = 0; v < 2; v++) {
    if (string_is(raw, len, m->val_flags, variants[v])) {
      *out = v == 1 ? WS_KIND_FINAL : WS_KIND_CHECKPOINT;
      return 0;
    }
  }
  return -1;
}

/* A string field's value into buf (cap bytes), or -1. */
static int get_string(const member *m, char *buf, size_t cap) {
  if (m == NULL || m->kind != V_STRING || m->val_flags != 0) return -1;
  cJSON *item = string_item(m->val, m->len);
  int rc = -1;
  if (item != NULL && strlen(item->valuestring) < cap) {
    memcpy(buf, item->valuestring, strlen(item->valuestring) + 1);
    rc = 0;
  }
  cJSON_Delete(item);
  return rc;
}

static int read_fields(const member *const *f, ws_meta *out) {
  uint64_t v;
  char text[WS_CHECKSUM_HEX + 2];
  memset(out, 0, sizeof *out);
  if (get_uint(f[F_SCHEMA], UINT32_MAX, &v) != 0) return -1;
  out->schema_version = (uint32_t)v;
  if (get_uint(f[F_SECS], UINT64_MAX, &out->written_secs) != 0) return -1;
  if (f[F_NANOS] != NULL) { /* absent means 0 (serde default); any u32 */
    if (get_uint(f[F_NANOS], UINT32_MAX, &v) != 0) return -1;
    out->written_nanos = (uint32_t)v;
  }
  const member *o = f[F_OBJECTIVE];
  if (o != NULL && o->kind != V_NULL) {
    if (o->kind != V_NUMBER || parse_double(o->val, o->len, &out->objective) != 0)
      return -1;
    out->has_objective = 1;
  }
  const member *it = f[F_ITERATION];
  if (it != NULL && it->kind != V_NULL) {
    if (get_uint(it, UINT64_MAX, &out->iteration) != 0) return -1;
    out->has_iteration = 1;
  }
  if (f[F_KIND] == NULL || get_kind(f[F_KIND], &out->kind) != 0) return -1;
  /* serde takes any string here; one that is not a SHA-256 in lowercase
   * hex can match no payload, and the Rust store then removes the entry
   * at lookup. We treat it as corrupt at once. */
  if (get_string(f[F_CHECKSUM], text, sizeof text) != 0 ||
      strlen(text) != WS_CHECKSUM_HEX)
    return -1;
  for (int i = 0; i < WS_CHECKSUM_HEX; i++)
    if (!((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f')))
      return -1;
  memcpy(out->checksum_hex, text, WS_CHECKSUM_HEX + 1);
  if (get_uint(f[F_BYTES], UINT64_MAX, &out->payload_bytes) != 0) return -1;
  /* The newer Rust stores' fields, read as their serde does. */
  if (f[F_PRODUCER] != NULL) {
    /* Any string; one too long to keep reads as unknown (""), as absent. */
    const member *p = f[F_PRODUCER];
    if (p->kind != V_STRING || (p->val_flags & STR_INVALID)) return -1;
    out->has_producer = 1;
    if (get_string(p, out->producer, sizeof out->producer) != 0)
      out->producer[0] = '\0';
  }
  if (f[F_ACCESSED] != NULL) {
    if (f[F_ACCESSED]->kind != V_TRUE && f[F_ACCESSED]->kind != V_FALSE)
      return -1;
    out->accessed = f[F_ACCESSED]->kind == V_TRUE;
  }
  if (f[F_ACCESSED_SECS] != NULL &&
      get_uint(f[F_ACCESSED_SECS], UINT64_MAX, &out->accessed_secs) != 0)
    return -1;
  if (f[F_ACCESSED_NANOS] != NULL) {
    if (get_uint(f[F_ACCESSED_NANOS], UINT32_MAX, &v) != 0) return -1;
    out->accessed_nanos = (uint32_t)v;
  }
  out->format = WS_FORMAT_UNSTATED;
  if (f[F_FORMAT] != NULL) {
    char fmt[16];
    /* Not a format we can decode (a newer warmstart's?): not data to hand
     * out, but serde accepts it, so the entry is left alone. */
    if (get_string(f[F_FORMAT], fmt, sizeof fmt) != 0) return WS_META_FOREIGN;
    if (strcmp(fmt, "R-serialized") == 0)
      out->format = WS_FORMAT_RSERIALIZED;
    else if (strcmp(fmt, "raw") == 0)
      out->format = WS_FORMAT_RAW;
    else
      return WS_META_FOREIGN;
  }
  return 0;
}

/* The field set 0.1.0 wrote, for its digest. */
static int legacy_shape(const member *const *f) {
  for (int i = 0; i < N_RUST_FIELDS; i++)
    if (f[i] == NULL) return 0;
  return f[F_FORMAT] != NULL && f[F_DIGEST] != NULL && f[F_PRODUCER] == NULL &&
         f[F_ACCESSED] == NULL && f[F_ACCESSED_SECS] == NULL &&
         f[F_ACCESSED_NANOS] == NULL;
}

/* The scanned members by field; -1 when serde would refuse the shape. */
static int match_fields(const jscan *j, const member **f) {
  for (int k = 0; k < NFIELDS; k++) f[k] = NULL;
  if (j->top_kind == V_ARRAY) {
    /* serde reads a struct from a sequence too: the Rust fields in order,
     * all of them (a missing one is "invalid length", one more "trailing
     * elements"). */
    if (j->ntop != N_RUST_FIELDS) return -1;
    for (int k = 0; k < N_RUST_FIELDS; k++) f[k] = &j->top[k];
    return 0;
  }
  for (size_t i = 0; i < j->ntop; i++) {
    const member *m = &j->top[i];
    /* serde reads every key as a string: an invalid one fails the meta. */
    if (m->key_flags & STR_INVALID) return -1;
    for (int k = 0; k < NFIELDS; k++) {
      if (!string_is(m->key, m->key_len, m->key_flags, field_names[k])) continue;
      if (f[k] != NULL) return -1; /* serde: "duplicate field" */
      f[k] = m;
    }
    /* Unknown fields are ignored, as serde does. */
  }
  return 0;
}

int ws_meta_parse(const char *text, size_t len, ws_meta *out) {
  jscan j;
  const member *f[NFIELDS];
  jscan_init(&j, text, len);
  int rc = -1;
  if (scan_document(&j) != 0 || (j.top_kind != V_OBJECT && j.top_kind != V_ARRAY) ||
      j.ntop == 0 || match_fields(&j, f) != 0)
    goto done;
  int fields = read_fields(f, out);
  if (fields == -1) goto done;
  /* The Rust store writes neither a format nor a label: a meta that has one
   * is ours, and ours carry their digest. */
  if (f[F_DIGEST] == NULL && (f[F_FORMAT] != NULL || f[F_LABEL] != NULL))
    goto done;
  if (f[F_DIGEST] != NULL) {
    /* Ours: the whole-text digest, or 0.1.0's over its field layout. That
     * covers every field of a meta without a label, so it is accepted for
     * such a meta (0.1.0's unlabelled metas end like ours), and for a
     * labelled one only where 0.1.0 put the digest, before the label. */
    int check = text_digest_check(text, len);
    int legacy_ok = legacy_shape(f) && (check == 0 || f[F_LABEL] == NULL);
    char stored[WS_CHECKSUM_HEX + 2], digest[WS_CHECKSUM_HEX + 1];
    if (check != 1 &&
        (!legacy_ok || fields != 0 || get_string(f[F_DIGEST], stored, sizeof stored) != 0 ||
         legacy_digest(out, digest) != 0 || strcmp(stored, digest) != 0))
      goto done; /* a meta that does not match its own checksum */
  }
  out->digested = f[F_DIGEST] != NULL;
  rc = fields;
done:
  jscan_free(&j);
  return rc;
}

static uint64_t stamp_ns(uint64_t secs, uint32_t nanos) {
  /* Saturate: a corrupt far-future stamp must not wrap to the distant past. */
  if (secs >= UINT64_MAX / UINT64_C(1000000000) - 1) return UINT64_MAX;
  uint64_t ns = secs * UINT64_C(1000000000);
  return ns > UINT64_MAX - nanos ? UINT64_MAX : ns + nanos;
}

uint64_t ws_meta_written_ns(const ws_meta *m) {
  return stamp_ns(m->written_secs, m->written_nanos);
}

uint64_t ws_meta_accessed_ns(const ws_meta *m) {
  return stamp_ns(m->accessed_secs, m->accessed_nanos);
}

/* ---- recording an access ---- */

typedef struct text_buf {
  char *p;
  size_t n, cap;
} text_buf;

static int buf_add(text_buf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t nc = (b->n + n + 1) * 2;
    char *np = realloc(b->p, nc);
    if (np == NULL) return -1;
    b->p = np;
    b->cap = nc;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
  return 0;
}

/* The raw text of each member is copied as it was read: an unknown field
 * (a later Rust store's, the label, another writer's) survives untouched,
 * and so does every number's exact spelling. */
char *ws_meta_touched(const char *text, size_t len, uint64_t secs,
                      uint32_t nanos) {
  static const int replaced[] = {F_ACCESSED, F_ACCESSED_SECS, F_ACCESSED_NANOS,
                                 F_DIGEST};
  jscan j;
  jscan_init(&j, text, len);
  if (scan_document(&j) != 0 || j.top_kind != V_OBJECT) {
    jscan_free(&j);
    return NULL;
  }
  text_buf b = {NULL, 0, 0};
  int bad = buf_add(&b, "{", 1);
  for (size_t i = 0; i < j.ntop && !bad; i++) {
    const member *m = &j.top[i];
    int skip = 0;
    for (size_t k = 0; k < sizeof replaced / sizeof replaced[0]; k++)
      skip |= string_is(m->key, m->key_len, m->key_flags, field_names[replaced[k]]);
    if (skip) continue;
    bad |= buf_add(&b, m->key, m->key_len) || buf_add(&b, ":", 1) ||
           buf_add(&b, m->val, m->len) || buf_add(&b, ",", 1);
  }
  jscan_free(&j);
  char stamp[96];
  int n = snprintf(stamp, sizeof stamp,
                   "\"accessed\":true,\"accessed_unix_secs\":%" PRIu64
                   ",\"accessed_nanos\":%" PRIu32 "}",
                   secs, nanos);
  if (bad || n < 0 || (size_t)n >= sizeof stamp || buf_add(&b, stamp, (size_t)n)) {
    free(b.p);
    return NULL;
  }
  return with_digest(b.p, free);
}

int ws_meta_label(const char *text, size_t len, char *buf, size_t cap) {
  jscan j;
  const member *f[NFIELDS];
  jscan_init(&j, text, len);
  int found = scan_document(&j) == 0 && j.top_kind == V_OBJECT &&
              match_fields(&j, f) == 0 && get_string(f[F_LABEL], buf, cap) == 0;
  jscan_free(&j);
  return found;
}
