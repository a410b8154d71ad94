/* SHA-256 and HMAC-SHA256 through OpenSSL's EVP interface: it picks the
 * CPU's SHA instructions where they exist, which matters for cold lookups
 * of large payloads (hash while reading). On Windows they come from CNG
 * (platform_win.c); ws_hex and ws_sha256_fd_hex are shared. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include "ws_core.h"

/* On Windows the same functions come from CNG (platform_win.c). */
#ifndef _WIN32
#include <openssl/evp.h>
#include <openssl/hmac.h>

struct ws_sha256 {
  EVP_MD_CTX *ctx;
};

ws_sha256 *ws_sha256_new(void) {
  ws_sha256 *h = malloc(sizeof *h);
  if (h == NULL) return NULL;
  h->ctx = EVP_MD_CTX_new();
  if (h->ctx == NULL || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
    ws_sha256_free(h);
    return NULL;
  }
  return h;
}

int ws_sha256_update(ws_sha256 *h, const void *data, size_t n) {
  if (n == 0) return 0;
  return EVP_DigestUpdate(h->ctx, data, n) == 1 ? 0 : -1;
}

int ws_sha256_final(ws_sha256 *h, unsigned char out[32]) {
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(h->ctx, out, &len) != 1 || len != 32) return -1;
  return 0;
}

void ws_sha256_free(ws_sha256 *h) {
  if (h == NULL) return;
  EVP_MD_CTX_free(h->ctx);
  free(h);
}

int ws_sha256_hex(const void *data, size_t n, char out[WS_CHECKSUM_HEX + 1]) {
  unsigned char md[32];
  unsigned int len = 0;
  /* EVP_Digest is the one-shot form; no context to leak on failure. */
  if (EVP_Digest(data, n, md, &len, EVP_sha256(), NULL) != 1 || len != 32)
    return -1;
  ws_hex(md, 32, out);
  return 0;
}

int ws_hmac_sha256(const void *key, size_t key_n, const void *data, size_t n,
                   unsigned char out[32]) {
  unsigned int len = 0;
  if (key_n > INT_MAX) return -1;
  return HMAC(EVP_sha256(), key, (int)key_n, data, n, out, &len) != NULL &&
                 len == 32
             ? 0 : -1;
}
#endif /* !_WIN32 */

void ws_hex(const unsigned char *bytes, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 0x0f];
  }
  out[2 * n] = '\0';
}

int ws_sha256_fd_hex(int fd, char out[WS_CHECKSUM_HEX + 1], uint64_t *bytes) {
  enum { BUF = 1 << 20 };
  unsigned char *buf = malloc(BUF);
  ws_sha256 *h = ws_sha256_new();
  int rc = (buf == NULL || h == NULL) ? -1 : 0;
  if (rc != 0) errno = ENOMEM;
  *bytes = 0;
  while (rc == 0) {
    ssize_t r = read(fd, buf, BUF);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) rc = -1;
    if (r <= 0) break;
    *bytes += (uint64_t)r;
    if (ws_sha256_update(h, buf, (size_t)r) != 0) {
      rc = -1;
      errno = EIO;
    }
  }
  unsigned char md[32];
  if (rc == 0 && ws_sha256_final(h, md) != 0) {
    rc = -1;
    errno = EIO;
  }
  if (rc == 0) ws_hex(md, 32, out);
  int saved = errno;
  ws_sha256_free(h);
  free(buf);
  errno = saved;
  return rc;
}
