/* Keys, run ids and temp file names. Every name is validated before a path
 * is built from it, so nothing a caller passes can reach outside the root. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ws_core.h"

static int is_lower_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static size_t hex_run(const char *s) {
  size_t n = 0;
  while (is_lower_hex(s[n])) n++;
  return n;
}

int ws_valid_key(const char *s) {
  size_t n = hex_run(s);
  return s[n] == '\0' && n >= WS_KEY_MIN && n <= WS_KEY_MAX;
}

int ws_valid_run_id(const char *s) {
  if (s[0] != 'r') return 0;
  size_t pid_len = hex_run(s + 1);
  if (pid_len < 1 || pid_len > 16 || s[1 + pid_len] != '-') return 0;
  const char *t = s + 2 + pid_len;
  size_t ns_len = hex_run(t);
  return ns_len >= 1 && ns_len <= 32 && t[ns_len] == '\0';
}

long ws_run_id_pid(const char *run_id) {
  /* Only called on valid run ids; a pid too large for a long is no live
   * process of ours, so it reads as -1 (dead). */
  errno = 0;
  char *end = NULL;
  unsigned long long v = strtoull(run_id + 1, &end, 16);
  if (errno != 0 || end == NULL || *end != '-' || v > LONG_MAX) return -1;
  return (long)v;
}

static int parse_decimal(const char **p, long *out) {
  const char *s = *p;
  size_t n = 0;
  long v = 0;
  while (s[n] >= '0' && s[n] <= '9') {
    if (v > (LONG_MAX - 9) / 10) return -1;
    v = v * 10 + (s[n] - '0');
    n++;
  }
  if (n == 0) return -1;
  *p = s + n;
  *out = v;
  return 0;
}

int ws_parse_temp_name(const char *name, ws_temp_name *out) {
  /* <runid>.<bin|json>.tmp.<pid>.<nonce>.<attempt>.<host>; the Rust store
   * writes the same without the host, which then counts as this host. */
  const char *tmp = strstr(name, ".tmp.");
  if (tmp == NULL) return 0;
  memset(out, 0, sizeof *out);
  const char *p = tmp + 5;
  if (parse_decimal(&p, &out->pid) != 0) return 0;
  if (*p != '\0' && *p != '.') return 0;
  /* Skip nonce and attempt; whatever follows them is the host. */
  for (int field = 0; field < 2 && *p == '.'; field++) {
    long ignored;
    const char *q = p + 1;
    if (parse_decimal(&q, &ignored) != 0) break;
    p = q;
  }
  if (*p == '.' && p[1] != '\0') out->host = p + 1;
  size_t prefix = (size_t)(tmp - name);
  size_t stem = 0;
  if (prefix > 5 && memcmp(tmp - 5, ".json", 5) == 0) {
    out->is_meta = 1;
    stem = prefix - 5;
  } else if (prefix > 4 && memcmp(tmp - 4, ".bin", 4) == 0) {
    stem = prefix - 4;
  }
  if (stem > 0 && stem <= WS_RUNID_MAX) {
    memcpy(out->run_id, name, stem);
    out->run_id[stem] = '\0';
    if (!ws_valid_run_id(out->run_id)) out->run_id[0] = '\0';
  }
  return 1;
}

const char *ws_hostname(void) {
  /* Cached: the host does not change under a running process (a fork keeps
   * it). Characters that could not stand in a file name are replaced. */
  static char host[65];
  static int done = 0;
  if (!done) {
    char buf[256];
    if (gethostname(buf, sizeof buf) != 0) buf[0] = '\0';
    buf[sizeof buf - 1] = '\0';
    size_t n = 0;
    for (; buf[n] != '\0' && n < sizeof host - 1; n++) {
      unsigned char c = (unsigned char)buf[n];
      host[n] = (isalnum(c) || c == '-' || c == '_' || c == '.') ? (char)c : '_';
    }
    if (n == 0) host[n++] = '_';
    host[n] = '\0';
    done = 1;
  }
  return host;
}
