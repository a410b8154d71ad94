/* Keys, run ids and temp file names. Every name is validated before a path
 * is built from it, so nothing a caller passes can reach outside the root. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
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

/* Length of the UTF-8 sequence at p, which ends before end (RFC 3629: no
 * overlongs, no surrogates, at most U+10FFFF), 0 when invalid. Shared
 * with the meta scanner (meta.c): run ids and JSON strings follow the
 * same rule, a Rust String's. */
size_t ws_utf8_len(const unsigned char *p, const unsigned char *end) {
  unsigned c = p[0];
  size_t n;
  unsigned lo = 0x80, hi = 0xBF;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else return 0;
  if ((size_t)(end - p) < n) return 0;
  if (p[1] < lo || p[1] > hi) return 0;
  for (size_t i = 2; i < n; i++)
    if (p[i] < 0x80 || p[i] > 0xBF) return 0;
  return n;
}

int ws_valid_key(const char *s) {
  size_t n = hex_run(s);
  return s[n] == '\0' && n >= WS_KEY_MIN && n <= WS_KEY_MAX;
}

/* Every name the Rust store can write for an entry: its save_overwrite()
 * takes any run id (the gam crate's checkpoints are "ckpt-r<pid>-<nanos>").
 * Without a '.' the name splits unambiguously into "<run id>.<ext>" and can
 * never look like a temp ("<run id>.<ext>.tmp.<...>"); without '/' it names
 * a file in the key dir and nothing else. Control characters are refused
 * (no name the Rust store writes has one, and they would garble listings);
 * other bytes must form valid UTF-8, as a Rust String does. */
int ws_valid_run_id(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  const unsigned char *end = p + strlen(s);
  size_t n = 0;
  while (p[n] != '\0') {
    unsigned c = p[n];
    if (c < 0x20 || c == 0x7f || c == '/' || c == '.') return 0;
    if (c < 0x80) {
      n++;
      continue;
    }
    size_t len = ws_utf8_len(p + n, end);
    if (len == 0) return 0;
    n += len;
  }
  return n >= 1 && n <= WS_RUNID_MAX;
}

/* The core's guard on the names it is handed. Keys and run ids that come
 * from R were checked by the glue (key_arg, run_id_arg in glue.c, the one
 * place that tells the user what is wrong); failing here is a bug in the
 * caller, reported as such. It stays because a key or run id becomes a
 * path: an unchecked one could name a file outside the store. */
int ws_require_names(const char *key, const char *run_id, ws_error *err) {
  if (key != NULL && !ws_valid_key(key)) {
    ws_error_set(err, EINVAL, "internal error: an unchecked key reached the "
                 "store (%.80s)", key);
    return -1;
  }
  if (run_id != NULL && !ws_valid_run_id(run_id)) {
    ws_error_set(err, EINVAL, "internal error: an unchecked run id reached "
                 "the store (%.80s)", run_id);
    return -1;
  }
  return 0;
}

/* 64 bits whatever `long` is: a nonce is nanoseconds since 1970, and
 * Windows's long has 32 (read there as a long, a nonce did not parse and
 * became part of the host token, so nobody judged a dead writer's temps). */
static int parse_decimal(const char **p, int64_t *out) {
  const char *s = *p;
  size_t n = 0;
  int64_t v = 0;
  while (s[n] >= '0' && s[n] <= '9') {
    if (v > (INT64_MAX - 9) / 10) return -1;
    v = v * 10 + (s[n] - '0');
    n++;
  }
  if (n == 0) return -1;
  *p = s + n;
  *out = v;
  return 0;
}

int ws_parse_temp_name(const char *name, ws_temp_name *out) {
  /* <runid>.<bin|json>.tmp.<pid>.<nonce>.<attempt>.<host token>; the Rust
   * store writes the same without the token. */
  const char *tmp = strstr(name, ".tmp.");
  if (tmp == NULL) return 0;
  memset(out, 0, sizeof *out);
  const char *p = tmp + 5;
  int64_t pid;
  if (parse_decimal(&p, &pid) != 0 || pid > LONG_MAX) return 0;
  out->pid = (long)pid;
  if (*p != '\0' && *p != '.') return 0;
  /* Skip nonce and attempt; whatever follows them is the host token. */
  for (int field = 0; field < 2 && *p == '.'; field++) {
    int64_t ignored;
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

#ifndef _WIN32
/* Up to cap-1 bytes of a small text file, trailing white space cut; "" when
 * it cannot be read (the system lacks it). */
static void read_token_file(const char *path, char *buf, size_t cap) {
  buf[0] = '\0';
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = read(fd, buf, cap - 1);
  close(fd); /* read-only: nothing to lose */
  if (n < 0) n = 0;
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) n--;
  buf[n] = '\0';
}
#endif

const char *ws_host_token(void) {
  /* Who may judge a writer by its pid: only a process that sees the same
   * processes. That is one kernel run (boot id) and one pid namespace:
   * containers on one machine often share the hostname but not their
   * pids, and a pid that is dead in ours may be a live writer in theirs.
   * The hostname is mixed in for systems without /proc. Cached: a fork
   * keeps all three (a process that enters a new pid namespace execs). */
  static char token[WS_HOST_TOKEN_LEN + 1];
  if (token[0] != '\0') return token;
  char host[256], boot[128], pidns[64], text[480];
  if (gethostname(host, sizeof host) != 0) host[0] = '\0';
  host[sizeof host - 1] = '\0';
#ifdef _WIN32
  /* One pid space per boot: a process-isolated container has a hostname
   * of its own. */
  ws_win_boot_id(boot, sizeof boot);
  snprintf(pidns, sizeof pidns, "windows");
#else
  read_token_file("/proc/sys/kernel/random/boot_id", boot, sizeof boot);
  ssize_t n = readlink("/proc/self/ns/pid", pidns, sizeof pidns - 1);
  pidns[n > 0 ? n : 0] = '\0';
#endif
  int len = snprintf(text, sizeof text, "%s%c%s%c%s", host, 0, boot, 0, pidns);
  char hex[WS_CHECKSUM_HEX + 1];
  if (boot[0] == '\0' || pidns[0] == '\0' || len < 0 ||
      ws_sha256_hex(text, (size_t)len, hex) != 0) {
    /* Without the boot id or the pid namespace (no /proc), two processes
     * with one hostname may not see each other's pids: a token nobody
     * else has, so that others judge our temps by age, and we theirs. */
    snprintf(token, sizeof token, "p%0*lx%08lx", WS_HOST_TOKEN_LEN - 9,
             (long)getpid(), (unsigned long)ws_real_now_ns() & 0xffffffffUL);
    token[WS_HOST_TOKEN_LEN] = '\0';
    return token;
  }
  memcpy(token, hex, WS_HOST_TOKEN_LEN);
  token[WS_HOST_TOKEN_LEN] = '\0';
  return token;
}
