/* The entry meta JSON, schema v1, as the Rust store reads and writes it
 * (serde field names). Parsing is strict about types, because a meta of the
 * wrong shape is a corrupt entry to clean up, never data to trust. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ws_core.h"

/* Integers are written as raw JSON text: cJSON prints every number through a
 * double and would switch to exponent form ("1e+16"), which serde rejects for
 * an integer field. */
static int add_u64(cJSON *obj, const char *name, uint64_t v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%" PRIu64, v);
  return cJSON_AddItemToObject(obj, name, cJSON_CreateRaw(buf)) ? 0 : -1;
}

/* The shortest %g form that reads back to exactly the same double. cJSON's
 * own printer accepts a 15-digit form within one epsilon, which loses the
 * last bit (0.1 + 0.2 comes back as 0.3) and prints DBL_MAX as a number
 * that reads back as infinity. */
static int add_double(cJSON *obj, const char *name, double v) {
  char buf[40];
  for (int digits = 15; digits <= 17; digits++) {
    snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (strtod(buf, NULL) == v) break;
  }
  return cJSON_AddItemToObject(obj, name, cJSON_CreateRaw(buf)) ? 0 : -1;
}

/* Schema v1 has no checksum over the meta itself, so a damaged objective
 * or kind would read as a valid, wrong entry (a bad entry made "best").
 * We add one, "meta_sha256", over a fixed binary layout of every field
 * (little-endian, so the same on every host); a meta without it (the Rust
 * store's) is read as before. The label is not covered. */
static void put_le(unsigned char **p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++) *(*p)++ = (unsigned char)(v >> (8 * i));
}

static int meta_digest(const ws_meta *m, char hex[WS_CHECKSUM_HEX + 1]) {
  unsigned char buf[128], *p = buf;
  /* As written: a non-finite objective is written as null. */
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

char *ws_meta_to_json(const ws_meta *m, const char *label) {
  cJSON *o = cJSON_CreateObject();
  char *out = NULL;
  if (o == NULL) return NULL;
  int bad = 0;
  bad |= add_u64(o, "schema_version", m->schema_version);
  bad |= add_u64(o, "written_unix_secs", m->written_secs);
  bad |= add_u64(o, "written_nanos", m->written_nanos);
  if (m->has_objective && isfinite(m->objective))
    bad |= add_double(o, "objective", m->objective);
  else
    bad |= cJSON_AddNullToObject(o, "objective") ? 0 : -1;
  if (m->has_iteration)
    bad |= add_u64(o, "iteration", m->iteration);
  else
    bad |= cJSON_AddNullToObject(o, "iteration") ? 0 : -1;
  bad |= cJSON_AddStringToObject(o, "kind", m->kind == WS_KIND_FINAL
                                                 ? "Final" : "Checkpoint")
             ? 0 : -1;
  bad |= cJSON_AddStringToObject(o, "checksum_hex", m->checksum_hex) ? 0 : -1;
  bad |= add_u64(o, "payload_bytes", m->payload_bytes);
  /* An extra field: the Rust reader ignores unknown fields. */
  bad |= cJSON_AddStringToObject(o, "payload_format",
                                 m->format == WS_FORMAT_RSERIALIZED
                                     ? "R-serialized" : "raw")
             ? 0 : -1;
  char digest[WS_CHECKSUM_HEX + 1];
  if (meta_digest(m, digest) != 0)
    bad = -1;
  else
    bad |= cJSON_AddStringToObject(o, "meta_sha256", digest) ? 0 : -1;
  /* Another extra field: what the entry is for, in the caller's words
   * (ws_cachem() keeps its string keys here). */
  if (label != NULL)
    bad |= cJSON_AddStringToObject(o, "label", label) ? 0 : -1;
  if (!bad) out = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return out;
}

/* A JSON number that is a whole number in [0, max]. 2^53 bounds what a
 * double holds exactly. */
static int get_uint(const cJSON *item, double max, uint64_t *out) {
  if (!cJSON_IsNumber(item)) return -1;
  double d = item->valuedouble;
  if (!(d >= 0) || d > max || d != floor(d)) return -1;
  *out = (uint64_t)d;
  return 0;
}

static const double MAX_EXACT = 9007199254740992.0; /* 2^53 */

int ws_meta_parse(const char *text, size_t len, ws_meta *out) {
  static const char *known[] = {"schema_version", "written_unix_secs",
                                "written_nanos",  "objective",
                                "iteration",      "kind",
                                "checksum_hex",   "payload_bytes",
                                "payload_format", "meta_sha256"};
  enum { NKNOWN = sizeof known / sizeof known[0] };
  const cJSON *field[NKNOWN] = {0};
  cJSON *root = cJSON_ParseWithLength(text, len);
  int rc = -1;
  uint64_t v;
  if (root == NULL) return -1;
  if (!cJSON_IsObject(root)) goto done;
  /* serde rejects a duplicated field; so do we. Unknown fields are ignored,
   * as serde does, so a newer writer's additions stay readable. */
  for (const cJSON *it = root->child; it != NULL; it = it->next) {
    if (it->string == NULL) goto done;
    for (int i = 0; i < NKNOWN; i++) {
      if (strcmp(it->string, known[i]) == 0) {
        if (field[i] != NULL) goto done;
        field[i] = it;
      }
    }
  }
  memset(out, 0, sizeof *out);
  if (get_uint(field[0], 4294967295.0, &v) != 0) goto done;
  out->schema_version = (uint32_t)v;
  if (get_uint(field[1], MAX_EXACT, &out->written_secs) != 0) goto done;
  if (field[2] != NULL) { /* absent means 0 (serde default) */
    if (get_uint(field[2], 999999999.0, &v) != 0) goto done;
    out->written_nanos = (uint32_t)v;
  }
  if (field[3] != NULL && !cJSON_IsNull(field[3])) {
    if (!cJSON_IsNumber(field[3]) || !isfinite(field[3]->valuedouble))
      goto done;
    out->has_objective = 1;
    out->objective = field[3]->valuedouble;
  }
  if (field[4] != NULL && !cJSON_IsNull(field[4])) {
    if (get_uint(field[4], MAX_EXACT, &out->iteration) != 0) goto done;
    out->has_iteration = 1;
  }
  if (!cJSON_IsString(field[5])) goto done;
  if (strcmp(field[5]->valuestring, "Checkpoint") == 0)
    out->kind = WS_KIND_CHECKPOINT;
  else if (strcmp(field[5]->valuestring, "Final") == 0)
    out->kind = WS_KIND_FINAL;
  else
    goto done;
  if (!cJSON_IsString(field[6])) goto done;
  const char *hex = field[6]->valuestring;
  if (strlen(hex) != WS_CHECKSUM_HEX) goto done;
  for (int i = 0; i < WS_CHECKSUM_HEX; i++) {
    char c = hex[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) goto done;
  }
  memcpy(out->checksum_hex, hex, WS_CHECKSUM_HEX + 1);
  if (get_uint(field[7], MAX_EXACT, &out->payload_bytes) != 0) goto done;
  out->format = WS_FORMAT_RAW;
  if (field[8] != NULL) {
    if (!cJSON_IsString(field[8])) goto done;
    if (strcmp(field[8]->valuestring, "R-serialized") == 0)
      out->format = WS_FORMAT_RSERIALIZED;
    else if (strcmp(field[8]->valuestring, "raw") != 0)
      goto done; /* a format we cannot decode is not data to hand out */
  }
  if (field[9] != NULL) {
    char digest[WS_CHECKSUM_HEX + 1];
    if (!cJSON_IsString(field[9]) || meta_digest(out, digest) != 0 ||
        strcmp(field[9]->valuestring, digest) != 0)
      goto done; /* a meta that does not match its own checksum */
  }
  rc = 0;
done:
  cJSON_Delete(root);
  return rc;
}

uint64_t ws_meta_written_ns(const ws_meta *m) {
  /* Saturate: a corrupt far-future stamp must not wrap to the distant past. */
  if (m->written_secs >= UINT64_MAX / UINT64_C(1000000000) - 1) return UINT64_MAX;
  return m->written_secs * UINT64_C(1000000000) + m->written_nanos;
}

int ws_meta_label(const char *text, size_t len, char *buf, size_t cap) {
  cJSON *root = cJSON_ParseWithLength(text, len);
  int found = 0;
  const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, "label");
  if (cJSON_IsString(item) && item->valuestring != NULL &&
      strlen(item->valuestring) < cap) {
    memcpy(buf, item->valuestring, strlen(item->valuestring) + 1);
    found = 1;
  }
  cJSON_Delete(root);
  return found;
}
