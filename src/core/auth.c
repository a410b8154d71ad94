/* Authenticated entries: with a secret, every meta a handle writes carries
 * an HMAC-SHA256 tag, and the handle returns R values only from entries
 * whose tag it can verify. Whoever can write to a shared store can compute
 * a checksum; without the secret they cannot compute a tag.
 *
 * The tag is the member "hmac_sha256", just before "meta_sha256" (which
 * stays last, so warmstart 0.1 and the Rust store, which ignore unknown
 * fields, read these metas as before):
 *
 *   hmac_sha256 = hex(HMAC-SHA256(secret, "warmstart tag 2" NUL key NUL
 *                                         run_id NUL SHA-256(T + "}")))
 *
 * where T is the meta text before `,"hmac_sha256"`: every field, including
 * checksum_hex, the payload's SHA-256, so the tag covers the payload too.
 * The key and run id are the entry's place, which its meta does not name:
 * without them a writer who holds no secret could copy a signed entry
 * into another key's dir (or rename it), and it would verify there, so
 * any signed value could answer any key. Tags of the first form (over
 * SHA-256(T + "}") alone, warmstart before issue 28) do not verify, and
 * their entries read as unauthenticated: there is no telling where such a
 * tag was meant to be. Hashing T first lets a listing shared by handles
 * with different secrets keep one 32-byte digest per entry instead of its
 * text. HMAC is OpenSSL's. */
#include <stdlib.h>
#include <string.h>

#include "trust.h"

struct ws_auth {
  unsigned char *secret;
  size_t n;
  uint64_t key_id;
};

static const char tag_member[] = ",\"hmac_sha256\":\"";
static const char digest_member[] = ",\"meta_sha256\":\"";
#define MEMBER_LEN (sizeof tag_member - 1) /* both are 16 characters */
#define TAG_MEMBER_LEN (MEMBER_LEN + 64 + 1)      /* ,"hmac_sha256":"<hex>" */
#define DIGEST_MEMBER_LEN (MEMBER_LEN + 64 + 2)   /* ,"meta_sha256":"<hex>"} */

static int hmac(const ws_auth *a, const void *data, size_t n,
                unsigned char out[32]) {
  return ws_hmac_sha256(a->secret, a->n, data, n, out);
}

/* The tag of an entry at key/run_id whose meta text hashes to signed_sha.
 * Keys and run ids hold no NUL (names.c), so the fields cannot run into
 * each other. */
static int entry_tag(const ws_auth *a, const char *key, const char *run_id,
                     const unsigned char signed_sha[32], unsigned char out[32]) {
  static const char label[] = "warmstart tag 2";
  size_t kn = strlen(key), rn = strlen(run_id);
  if (kn > WS_KEY_MAX || rn > WS_RUNID_MAX) return -1;
  unsigned char buf[sizeof label + WS_KEY_MAX + 1 + WS_RUNID_MAX + 1 + 32];
  unsigned char *p = buf;
  memcpy(p, label, sizeof label); /* with its NUL */
  p += sizeof label;
  memcpy(p, key, kn + 1);
  p += kn + 1;
  memcpy(p, run_id, rn + 1);
  p += rn + 1;
  memcpy(p, signed_sha, 32);
  p += 32;
  return hmac(a, buf, (size_t)(p - buf), out);
}

/* Clears the secret before its memory is freed; the volatile stores keep
 * the compiler from dropping them as dead. */
static void wipe(void *p, size_t n) {
  volatile unsigned char *q = p;
  while (n-- > 0) *q++ = 0;
}

/* Compares tags in time that does not depend on where they first differ,
 * so that a forger cannot learn a tag byte by byte from timings. */
static int equal_in_constant_time(const unsigned char *a,
                                  const unsigned char *b, size_t n) {
  volatile unsigned char diff = 0;
  for (size_t i = 0; i < n; i++) diff |= (unsigned char)(a[i] ^ b[i]);
  return diff == 0;
}

ws_auth *ws_auth_new(const void *secret, size_t n) {
  static const char id_label[] = "warmstart secret id";
  if (n == 0 || n > (1u << 20)) return NULL;
  ws_auth *a = calloc(1, sizeof *a);
  if (a == NULL || (a->secret = malloc(n)) == NULL) {
    free(a);
    return NULL;
  }
  memcpy(a->secret, secret, n);
  a->n = n;
  unsigned char id[32];
  if (hmac(a, id_label, sizeof id_label - 1, id) != 0) {
    ws_auth_free(a);
    return NULL;
  }
  memcpy(&a->key_id, id, sizeof a->key_id);
  if (a->key_id == 0) a->key_id = 1; /* 0 means "no secret" */
  return a;
}

void ws_auth_free(ws_auth *a) {
  if (a == NULL) return;
  wipe(a->secret, a->n);
  free(a->secret);
  free(a);
}

uint64_t ws_auth_key_id(const ws_auth *a) { return a->key_id; }

/* SHA-256 of text[0..n) followed by "}": the object as it stood before the
 * member that follows was added (meta.c's convention for meta_sha256). */
static int closed_sha256(const char *text, size_t n, unsigned char out[32]) {
  ws_sha256 *h = ws_sha256_new();
  int ok = h != NULL && ws_sha256_update(h, text, n) == 0 &&
           ws_sha256_update(h, "}", 1) == 0 && ws_sha256_final(h, out) == 0;
  ws_sha256_free(h);
  return ok ? 0 : -1;
}

static int ends_with_digest(const char *text, size_t len) {
  return len > DIGEST_MEMBER_LEN &&
         memcmp(text + len - DIGEST_MEMBER_LEN, digest_member, MEMBER_LEN) == 0 &&
         memcmp(text + len - 2, "\"}", 2) == 0;
}

char *ws_auth_sign_meta(const ws_auth *a, const char *key, const char *run_id,
                        char *json) {
  size_t len = json == NULL ? 0 : strlen(json);
  if (!ends_with_digest(json, len)) {
    free(json);
    return NULL;
  }
  size_t body = len - DIGEST_MEMBER_LEN;
  unsigned char signed_sha[32], tag[32], digest[32];
  char *out = malloc(body + TAG_MEMBER_LEN + DIGEST_MEMBER_LEN + 1);
  if (out == NULL || closed_sha256(json, body, signed_sha) != 0 ||
      entry_tag(a, key, run_id, signed_sha, tag) != 0) {
    free(out);
    free(json);
    return NULL;
  }
  char *p = out;
  memcpy(p, json, body);
  p += body;
  free(json);
  memcpy(p, tag_member, MEMBER_LEN);
  p += MEMBER_LEN;
  ws_hex(tag, 32, p);
  p += 64;
  *p++ = '"';
  if (closed_sha256(out, (size_t)(p - out), digest) != 0) {
    free(out);
    return NULL;
  }
  memcpy(p, digest_member, MEMBER_LEN);
  p += MEMBER_LEN;
  ws_hex(digest, 32, p);
  p += 64;
  memcpy(p, "\"}", 3);
  return out;
}

static int unhex(const char *s, unsigned char out[32]) {
  for (int i = 0; i < 64; i++) {
    char c = s[i];
    int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                                                   : -1;
    if (v < 0) return -1;
    if (i % 2 == 0)
      out[i / 2] = (unsigned char)(v << 4);
    else
      out[i / 2] |= (unsigned char)v;
  }
  return 0;
}

void ws_auth_read_claim(const char *text, size_t len, ws_meta *m) {
  /* By position, from the end: the text is a valid JSON object (the
   * parser accepted it), and a quote is a string's delimiter unless
   * escaped, so these bytes can only be its last two members. */
  m->has_tag = 0;
  if (!ends_with_digest(text, len) || len < DIGEST_MEMBER_LEN + TAG_MEMBER_LEN + 1)
    return;
  const char *member = text + len - DIGEST_MEMBER_LEN - TAG_MEMBER_LEN;
  if (memcmp(member, tag_member, MEMBER_LEN) != 0 || member[TAG_MEMBER_LEN - 1] != '"' ||
      unhex(member + MEMBER_LEN, m->tag) != 0 ||
      closed_sha256(text, (size_t)(member - text), m->signed_sha256) != 0)
    return;
  m->has_tag = 1;
}

int ws_auth_verify(const ws_auth *a, const char *key, const char *run_id,
                   const ws_meta *m) {
  unsigned char want[32];
  return a != NULL && m->has_tag &&
         entry_tag(a, key, run_id, m->signed_sha256, want) == 0 &&
         equal_in_constant_time(want, m->tag, 32);
}
