/* The core's guarantees, tested from C alone, so that they can be checked
 * where R cannot run: built for Windows with MinGW and run under Wine by
 * `make test-windows` (tools/windows/test.sh), and built natively for the
 * same checks on Linux. It drives the core through its API (ws_core.h) and
 * runs copies of itself as other processes for the concurrent and killed
 * cases.
 *
 *   core_test run <dir>          all cases, in <dir> (made, then removed)
 *   core_test writer <root> <key> <n> <tag>   n saves, each checked
 *   core_test reader <root> <key> <n>         n lookups, each checked
 *   core_test die <root> <key> <point>        dies at a point of a save
 *   core_test claim <root> <key>              0 when it got the claim, 3 not
 *   core_test links-prepare <root> <outside>  (POSIX only) links in <root>
 *                                            to entries in <outside>
 *   core_test links-check <root> <outside>    none of them followed
 *
 * Every payload is "<tag>:<i>:" followed by bytes that depend on tag and i,
 * so that a reader can tell a whole payload from a torn or mixed one
 * without trusting the store's own checksum. Prints "N passed, N failed". */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifdef _WIN32
#include <process.h>
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#include <signal.h>
#include <spawn.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>
extern char **environ;
#endif

#include "ws_core.h"

#define KEY_A "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
#define KEY_B "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
#define KEY_C "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"

static int passed, failed;
static const char *self;

#define CHECK(cond, what)                                                    \
  do {                                                                       \
    if (cond) {                                                              \
      passed++;                                                              \
    } else {                                                                 \
      failed++;                                                              \
      fprintf(stderr, "FAILED %s:%d: %s\n", __FILE__, __LINE__, what);       \
    }                                                                        \
  } while (0)

/* ---- payloads ---- */

static size_t make_payload(unsigned char *buf, size_t cap, const char *tag,
                           int i, size_t n) {
  int h = snprintf((char *)buf, cap, "%s:%d:", tag, i);
  uint32_t x = 2166136261u;
  for (const char *p = tag; *p; p++) x = (x ^ (unsigned char)*p) * 16777619u;
  x ^= (uint32_t)i * 2654435761u;
  for (size_t k = (size_t)h; k < n && k < cap; k++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    buf[k] = (unsigned char)x;
  }
  return n < cap ? n : cap;
}

/* Whole: the bytes are what make_payload gives for the tag and index the
 * payload names itself with. */
static int payload_whole(const unsigned char *p, size_t n) {
  char tag[64];
  int i;
  const char *colon = memchr(p, ':', n < 64 ? n : 64);
  if (colon == NULL) return 0;
  size_t tl = (size_t)(colon - (const char *)p);
  memcpy(tag, p, tl);
  tag[tl] = '\0';
  if (sscanf((const char *)p + tl + 1, "%d:", &i) != 1) return 0;
  unsigned char *want = malloc(n ? n : 1);
  if (want == NULL) return 0;
  make_payload(want, n, tag, i, n);
  int same = memcmp(want, p, n) == 0;
  free(want);
  return same;
}

typedef struct sink_buf {
  unsigned char *buf;
  size_t n;
} sink_buf;

static void *sink_alloc(void *ctx, size_t n) {
  sink_buf *b = ctx;
  free(b->buf);
  b->buf = malloc(n ? n : 1);
  b->n = n;
  return b->buf;
}

static ws_store *open_store_as(const char *root, uint64_t budget,
                               ws_semantics semantics) {
  ws_options opt;
  memset(&opt, 0, sizeof opt);
  opt.size_budget = budget;
  opt.durable = 1;
  opt.semantics = semantics;
  opt.trust = WS_TRUST_USER;
  ws_store *s = NULL;
  ws_error err;
  memset(&err, 0, sizeof err);
  if (ws_store_open(root, &opt, &s, &err) != 0) {
    fprintf(stderr, "cannot open store %s: %s\n", root, err.msg);
    return NULL;
  }
  return s;
}

static ws_store *open_store(const char *root, uint64_t budget) {
  return open_store_as(root, budget, WS_SEMANTICS_0_3_122);
}

static int save(ws_store *s, const char *key, const char *run_id,
                const char *tag, int i, size_t n, double objective,
                char run_out[WS_RUNID_MAX + 1]) {
  unsigned char *buf = malloc(n);
  if (buf == NULL) return -1;
  make_payload(buf, n, tag, i, n);
  ws_meta m;
  memset(&m, 0, sizeof m);
  m.format = WS_FORMAT_RAW;
  m.has_objective = 1;
  m.objective = objective;
  m.kind = WS_KIND_CHECKPOINT;
  ws_error err;
  memset(&err, 0, sizeof err);
  char local[WS_RUNID_MAX + 1];
  int rc = ws_store_save(s, key, run_id, buf, n, &m, NULL,
                         run_out ? run_out : local, &err);
  if (rc != 0) fprintf(stderr, "save %s:%d failed: %s\n", tag, i, err.msg);
  free(buf);
  return rc;
}

/* 1 found (payload in *b, checked whole), 0 none, -1 error or torn. */
static int lookup(ws_store *s, const char *key, ws_mode mode, sink_buf *b,
                  ws_found *f) {
  ws_payload_sink sink = {.alloc = sink_alloc, .ctx = b, .accept = NULL, .authenticated_only = 0};
  ws_error err;
  memset(&err, 0, sizeof err);
  int rc = ws_store_lookup(s, key, mode, &sink, f, &err);
  if (rc < 0) fprintf(stderr, "lookup failed: %s\n", err.msg);
  if (rc == 1 && !payload_whole(b->buf, b->n)) {
    fprintf(stderr, "lookup returned a torn payload (%zu bytes)\n", b->n);
    return -1;
  }
  return rc;
}

static int starts_with(const sink_buf *b, const char *prefix) {
  size_t n = strlen(prefix);
  return b->n >= n && memcmp(b->buf, prefix, n) == 0;
}

/* Is the best entry of `key` there, whole, starting with `prefix`? (No
 * store: no.) */
static int best_starts_with(ws_store *s, const char *key, const char *prefix) {
  if (s == NULL) return 0;
  sink_buf b = {NULL, 0};
  ws_found f;
  int ok = lookup(s, key, WS_MODE_BEST, &b, &f) == 1 && starts_with(&b, prefix);
  free(b.buf);
  return ok;
}

/* ---- processes ---- */

typedef struct child {
#ifdef _WIN32
  intptr_t handle;
#else
  pid_t pid;
#endif
} child;

static int spawn(child *c, const char *const argv[]) {
#ifdef _WIN32
  /* _spawnv joins its arguments with spaces: quote the ones with spaces. */
  char quoted[8][1024];
  const char *args[9];
  int i = 0;
  for (; argv[i] != NULL && i < 8; i++) {
    if (strchr(argv[i], ' ') != NULL)
      snprintf(quoted[i], sizeof quoted[i], "\"%s\"", argv[i]);
    else
      snprintf(quoted[i], sizeof quoted[i], "%s", argv[i]);
    args[i] = quoted[i];
  }
  args[i] = NULL;
  c->handle = _spawnv(_P_NOWAIT, self, args);
  return c->handle == -1 ? -1 : 0;
#else
  return posix_spawn(&c->pid, self, NULL, NULL, (char *const *)argv, environ) == 0
             ? 0 : -1;
#endif
}

/* The child's exit code; 137 when it was killed. */
static int wait_child(child *c) {
#ifdef _WIN32
  int status = 0;
  if (_cwait(&status, c->handle, 0) == -1) return -1;
  return status;
#else
  int status = 0;
  while (waitpid(c->pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
#endif
}

static void nap(int ms) {
#ifdef _WIN32
  Sleep((DWORD)ms);
#else
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
#endif
}

/* ---- files, for the cases that damage or inspect the store ---- */

static int key_dir(char *out, size_t cap, ws_store *s, const char *key) {
  return ws_join(out, cap, ws_store_root(s), key);
}

static int count_names(const char *dir, const char *suffix) {
  DIR *d = opendir(dir);
  if (d == NULL) return -1;
  int n = 0;
  struct dirent *e;
  size_t sl = strlen(suffix);
  while ((e = readdir(d)) != NULL) {
    size_t l = strlen(e->d_name);
    if (l >= sl && strcmp(e->d_name + l - sl, suffix) == 0) n++;
  }
  closedir(d);
  return n;
}

static int count_containing(const char *dir, const char *part) {
  DIR *d = opendir(dir);
  if (d == NULL) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strstr(e->d_name, part) != NULL) n++;
  closedir(d);
  return n;
}

static void remove_tree(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    DIR *d = opendir(path);
    if (d != NULL) {
      struct dirent *e;
      char sub[PATH_MAX];
      while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (ws_join(sub, sizeof sub, path, e->d_name) == 0) remove_tree(sub);
      }
      closedir(d);
    }
    rmdir(path);
  } else {
    unlink(path);
  }
}

/* Flips one byte in the middle of a file, in place. */
static int damage(const char *path) {
  int fd = open(path, O_RDWR);
  if (fd < 0) return -1;
  struct stat st;
  unsigned char b;
  int rc = -1;
  if (fstat(fd, &st) == 0 && st.st_size > 8 &&
      lseek(fd, (off_t)(st.st_size / 2), SEEK_SET) >= 0 && read(fd, &b, 1) == 1) {
    b ^= 0xff;
    if (lseek(fd, (off_t)(st.st_size / 2), SEEK_SET) >= 0 && write(fd, &b, 1) == 1)
      rc = 0;
  }
  close(fd);
  return rc;
}

/* ---- the cases ---- */

static void case_save_lookup(const char *root) {
  ws_store *s = open_store(root, UINT64_MAX);
  CHECK(s != NULL, "open a new store");
  if (s == NULL) return;
  sink_buf b = {NULL, 0};
  ws_found f;
  CHECK(lookup(s, KEY_A, WS_MODE_BEST, &b, &f) == 0, "an empty store has nothing");
  char r1[WS_RUNID_MAX + 1], r2[WS_RUNID_MAX + 1], r3[WS_RUNID_MAX + 1];
  CHECK(save(s, KEY_A, NULL, "one", 1, 1000, 3.0, r1) == 0, "save 1");
  CHECK(save(s, KEY_A, NULL, "two", 2, 70000, 1.0, r2) == 0, "save 2");
  CHECK(save(s, KEY_A, NULL, "three", 3, 5000, 2.0, r3) == 0, "save 3");
  CHECK(lookup(s, KEY_A, WS_MODE_BEST, &b, &f) == 1 && starts_with(&b, "two:2:"),
        "best is the lowest objective");
  CHECK(strcmp(f.run_id, r2) == 0, "best names its run");
  CHECK(lookup(s, KEY_A, WS_MODE_LATEST, &b, &f) == 1 && starts_with(&b, "three:3:"),
        "latest is the last save");
  /* A payload big enough for the hashing thread (8 MiB and up). */
  CHECK(save(s, KEY_B, NULL, "big", 7, (size_t)12 << 20, 0.5, NULL) == 0,
        "save 12 MiB");
  CHECK(lookup(s, KEY_B, WS_MODE_BEST, &b, &f) == 1 && b.n == ((size_t)12 << 20),
        "12 MiB read back whole");
  /* Replace an entry in place (explicit run id): atomic replace. */
  CHECK(save(s, KEY_A, r2, "two-again", 22, 900, 0.25, NULL) == 0,
        "replace an entry by run id");
  CHECK(lookup(s, KEY_A, WS_MODE_BEST, &b, &f) == 1 &&
            starts_with(&b, "two-again:22:") && strcmp(f.run_id, r2) == 0,
        "the replaced entry is read");
  char dir[PATH_MAX];
  key_dir(dir, sizeof dir, s, KEY_A);
  CHECK(count_names(dir, ".json") == 3, "three metas after the replace");
  free(b.buf);
  ws_store_close(s);
  s = open_store(root, UINT64_MAX);
  CHECK(best_starts_with(s, KEY_A, "two-again:22:"),
        "a new handle reads what the old one saved");
  ws_store_close(s);
}

static void case_corrupt(const char *root) {
  ws_store *s = open_store(root, UINT64_MAX);
  if (s == NULL) return;
  char good[WS_RUNID_MAX + 1], bad[WS_RUNID_MAX + 1];
  CHECK(save(s, KEY_C, NULL, "good", 1, 4000, 2.0, good) == 0, "save good");
  CHECK(save(s, KEY_C, NULL, "bad", 2, 4000, 1.0, bad) == 0, "save better");
  char dir[PATH_MAX], path[PATH_MAX], name[WS_RUNID_MAX + 8];
  key_dir(dir, sizeof dir, s, KEY_C);
  snprintf(name, sizeof name, "%s.bin", bad);
  ws_join(path, sizeof path, dir, name);
  CHECK(damage(path) == 0, "flip a byte of the better payload");
  /* A new handle: the value cache must not hide the damage. */
  ws_store_close(s);
  ws_value_cache_clear();
  s = open_store(root, UINT64_MAX);
  CHECK(best_starts_with(s, KEY_C, "good:1:"),
        "a damaged payload is never returned; the next best is");
  struct stat st;
  CHECK(lstat(path, &st) != 0, "the damaged payload was removed");
  ws_store_close(s);
}

/* A reader holds a payload open while a sweep removes its entry, and a
 * writer replaces a meta a reader holds open: on Windows this needs
 * FILE_SHARE_DELETE on every open and POSIX-semantics removal. */
static void case_open_files(const char *root) {
  ws_store *s = open_store(root, UINT64_MAX);
  if (s == NULL) return;
  char run[WS_RUNID_MAX + 1];
  CHECK(save(s, KEY_A, NULL, "held", 5, 3000, 9.0, run) == 0, "save held");
  char dir[PATH_MAX], bin[PATH_MAX], meta[PATH_MAX], name[WS_RUNID_MAX + 8];
  key_dir(dir, sizeof dir, s, KEY_A);
  snprintf(name, sizeof name, "%s.bin", run);
  ws_join(bin, sizeof bin, dir, name);
  snprintf(name, sizeof name, "%s.json", run);
  ws_join(meta, sizeof meta, dir, name);
  int dirfd = ws_open_dir(dir);
  CHECK(dirfd >= 0, "open the key dir");
  snprintf(name, sizeof name, "%s.bin", run);
  ws_stamp st;
  int held = dirfd >= 0 ? ws_open_regular_at(dirfd, name, &st) : -1;
  snprintf(name, sizeof name, "%s.json", run);
  int held_meta = dirfd >= 0 ? ws_open_regular_at(dirfd, name, &st) : -1;
  CHECK(held >= 0 && held_meta >= 0, "a reader opens the payload and meta");
  /* Replace the meta under the reader (explicit run id: rename over). */
  CHECK(save(s, KEY_A, run, "held-again", 6, 3000, 9.0, NULL) == 0,
        "replace an entry whose files a reader holds open");
  ws_error err;
  memset(&err, 0, sizeof err);
  uint64_t removed = 0;
  CHECK(ws_store_remove(s, KEY_A, NULL, &removed, &err) == 0 && removed >= 1,
        "remove entries while a reader holds one open");
  struct stat ls;
  CHECK(lstat(bin, &ls) != 0 && lstat(meta, &ls) != 0,
        "the names are gone while still open");
  char buf[16];
  CHECK(held >= 0 && read(held, buf, 5) == 5 && memcmp(buf, "held:", 5) == 0,
        "the reader still reads its bytes");
  if (held >= 0) close(held);
  if (held_meta >= 0) close(held_meta);
  if (dirfd >= 0) close(dirfd);
  CHECK(save(s, KEY_A, run, "reborn", 7, 3000, 9.0, NULL) == 0,
        "the same run id can be written again");
  sink_buf b = {NULL, 0};
  ws_found f;
  CHECK(lookup(s, KEY_A, WS_MODE_LATEST, &b, &f) == 1 && starts_with(&b, "reborn:7:"),
        "and read");
  free(b.buf);
  ws_store_close(s);
}

static void case_sweep(const char *root) {
  ws_store *s = open_store(root, 200000);
  if (s == NULL) return;
  for (int i = 0; i < 30; i++) save(s, KEY_B, NULL, "sweep", i, 20000, (double)i, NULL);
  ws_sweep_stats stats;
  memset(&stats, 0, sizeof stats);
  ws_error err;
  memset(&err, 0, sizeof err);
  CHECK(ws_store_sweep(s, WS_SWEEP_FORCE, &stats, &err) == 0, "sweep");
  ws_listed *list = NULL;
  size_t n = 0;
  CHECK(ws_store_list(s, NULL, &list, &n, &err) == 0, "list");
  uint64_t bytes = 0;
  for (size_t i = 0; i < n; i++) bytes += list[i].disk_bytes;
  free(list);
  CHECK(n > 0 && bytes <= 200000, "the sweep keeps the store within its budget");
  ws_store_close(s);
}

static void case_concurrent(const char *root) {
  enum { WRITERS = 4, READERS = 2, SAVES = 15, LOOKS = 60 };
  ws_store *s = open_store(root, UINT64_MAX);
  if (s == NULL) return;
  ws_error err;
  memset(&err, 0, sizeof err);
  uint64_t removed = 0;
  CHECK(ws_store_remove(s, KEY_C, NULL, &removed, &err) == 0, "empty the key");
  ws_store_close(s);
  child kids[WRITERS + READERS];
  char tags[WRITERS][16], n_saves[16], n_looks[16];
  snprintf(n_saves, sizeof n_saves, "%d", SAVES);
  snprintf(n_looks, sizeof n_looks, "%d", LOOKS);
  int started = 0;
  for (int w = 0; w < WRITERS; w++) {
    snprintf(tags[w], sizeof tags[w], "w%d", w);
    const char *argv[] = {self, "writer", root, KEY_C, n_saves, tags[w], NULL};
    if (spawn(&kids[started], argv) == 0) started++;
  }
  for (int r = 0; r < READERS; r++) {
    const char *argv[] = {self, "reader", root, KEY_C, n_looks, NULL};
    if (spawn(&kids[started], argv) == 0) started++;
  }
  CHECK(started == WRITERS + READERS, "start 4 writers and 2 readers");
  int ok = 0;
  for (int i = 0; i < started; i++) ok += wait_child(&kids[i]) == 0;
  CHECK(ok == started, "every writer saved and every reader read whole payloads");
  s = open_store(root, UINT64_MAX);
  if (s == NULL) return;
  ws_listed *list = NULL;
  size_t n = 0;
  int rc = ws_store_list(s, KEY_C, &list, &n, &err);
  free(list);
  if (rc != 0 || n != WRITERS * SAVES)
    fprintf(stderr, "listed %zu entries of %d saved\n", n, WRITERS * SAVES);
  CHECK(rc == 0 && n == WRITERS * SAVES, "no save lost");
  ws_store_close(s);
}

static const char *point_names[] = {"mid_bin_write", "before_bin_rename",
                                    "before_meta_rename"};
static const ws_fault_point points[] = {
    WS_FAULT_MID_BIN_WRITE, WS_FAULT_BEFORE_BIN_RENAME,
    WS_FAULT_BEFORE_META_RENAME};

static void case_killed_writer(const char *root) {
  for (int p = 0; p < 3; p++) {
    ws_store *s = open_store(root, UINT64_MAX);
    if (s == NULL) return;
    ws_error err;
    memset(&err, 0, sizeof err);
    uint64_t removed = 0;
    ws_store_remove(s, KEY_B, NULL, &removed, &err);
    CHECK(save(s, KEY_B, NULL, "before", p, 2000, 5.0, NULL) == 0, "save before");
    child c;
    const char *argv[] = {self, "die", root, KEY_B, point_names[p], NULL};
    CHECK(spawn(&c, argv) == 0, "start a writer that dies");
    int code = wait_child(&c);
    char what[128];
    snprintf(what, sizeof what, "the writer was killed %s", point_names[p]);
    CHECK(code == 137, what);
    char dir[PATH_MAX];
    key_dir(dir, sizeof dir, s, KEY_B);
    CHECK(count_containing(dir, ".tmp.") >= 1, "the killed writer left a temp");
    sink_buf b = {NULL, 0};
    ws_found f;
    char before[32];
    snprintf(before, sizeof before, "before:%d:", p);
    ws_value_cache_clear();
    snprintf(what, sizeof what, "after a writer killed %s, the lookup returns "
             "the last whole entry", point_names[p]);
    CHECK(lookup(s, KEY_B, WS_MODE_BEST, &b, &f) == 1 && starts_with(&b, before),
          what);
    free(b.buf);
    ws_sweep_stats stats;
    memset(&stats, 0, sizeof stats);
    CHECK(ws_store_sweep(s, WS_SWEEP_FORCE, &stats, &err) == 0, "sweep");
    CHECK(count_containing(dir, ".tmp.") == 0,
          "the sweep removes a dead writer's temps at once (same host, pid dead)");
    ws_store_close(s);
  }
}

static void case_claims(const char *root) {
  ws_store *s = open_store(root, UINT64_MAX);
  if (s == NULL) return;
  ws_claim *c = NULL;
  ws_error err;
  memset(&err, 0, sizeof err);
  CHECK(ws_claim_try(s, KEY_A, &c, &err) == 1 && c != NULL, "take a claim");
  child k;
  const char *argv[] = {self, "claim", root, KEY_A, NULL};
  CHECK(spawn(&k, argv) == 0 && wait_child(&k) == 3,
        "another process cannot take a held claim");
  ws_claim_release(c);
  CHECK(spawn(&k, argv) == 0 && wait_child(&k) == 0,
        "it can once the claim is released");
  /* The kernel releases a dead holder's lock. */
  const char *hold[] = {self, "claim-die", root, KEY_A, NULL};
  CHECK(spawn(&k, hold) == 0 && wait_child(&k) == 137, "a holder dies");
  c = NULL;
  CHECK(ws_claim_try(s, KEY_A, &c, &err) == 1, "its claim is free again");
  if (c != NULL) ws_claim_release(c);
  ws_store_close(s);
}

/* A writer's pin keeps a key dir from being removed; without a pin, an
 * empty key dir goes. */
static void case_pins(const char *root) {
  char dir[PATH_MAX];
  ws_join(dir, sizeof dir, root, "pinned-dir");
  CHECK(ws_mkdir_p(dir, 1, NULL) == 0, "make a dir");
  int pin = ws_dir_pin(dir, NULL, NULL);
  CHECK(pin >= 0, "pin it");
  errno = 0;
  CHECK(ws_rmdir_unpinned(dir) != 0 && errno == EBUSY,
        "a pinned dir is not removed");
  struct stat st;
  CHECK(lstat(dir, &st) == 0, "it is still there");
  if (pin >= 0) close(pin);
  CHECK(ws_rmdir_unpinned(dir) == 0, "unpinned, it is removed");
  CHECK(lstat(dir, &st) != 0, "and gone");
}

/* A root whose paths pass 260 characters (Windows's MAX_PATH) with a key
 * and a temp name, and whose names are not ASCII: every call must take
 * UTF-8 and long paths. */
static void case_paths(const char *root) {
  char deep[PATH_MAX], real[PATH_MAX];
  char long_name[201];
  memset(long_name, 'd', 200);
  long_name[200] = '\0';
  snprintf(deep, sizeof deep, "%s/%s/st\xc3\xb6re-\xe6\x95\xb0\xe6\x8d\xae", root,
           long_name);
  CHECK(ws_mkdir_p(deep, 1, NULL) == 0, "make a deep root with a non-ASCII name");
  CHECK(realpath(deep, real) != NULL && strlen(real) > 200,
        "resolve it");
  ws_store *s = open_store(deep, UINT64_MAX);
  CHECK(s != NULL, "open a store there");
  if (s == NULL) return;
  char run[WS_RUNID_MAX + 1];
  CHECK(save(s, KEY_A, NULL, "deep", 1, 5000, 1.0, run) == 0 &&
            save(s, KEY_A, run, "deeper", 2, 6000, 0.5, NULL) == 0,
        "save and replace there");
  CHECK(best_starts_with(s, KEY_A, "deeper:2:"), "look it up");
  ws_error err;
  memset(&err, 0, sizeof err);
  uint64_t removed = 0;
  CHECK(ws_store_remove(s, KEY_A, NULL, &removed, &err) == 0 && removed == 1,
        "remove it");
  ws_store_close(s);
}

/* The later gam stores' rule: a lookup records its access in the entry's
 * meta (a rewrite by temp + rename, probed for writability first). */
static void case_access(const char *root) {
  ws_store *s = open_store_as(root, UINT64_MAX, WS_SEMANTICS_ACCESS);
  CHECK(s != NULL, "open with access semantics");
  if (s == NULL) return;
  CHECK(save(s, KEY_B, NULL, "accessed", 1, 2000, 1.0, NULL) == 0, "save");
  sink_buf b = {NULL, 0};
  ws_found f;
  ws_value_cache_clear();
  CHECK(lookup(s, KEY_B, WS_MODE_BEST, &b, &f) == 1, "look it up");
  CHECK(ws_store_record_access(s, KEY_B, &f) == 1, "the access is recorded");
  ws_value_cache_clear();
  CHECK(lookup(s, KEY_B, WS_MODE_BEST, &b, &f) == 1 && f.meta.accessed,
        "and read back from the meta");
  free(b.buf);
  ws_store_close(s);
}

/* Roots as users write them: with "..", "." and doubled separators
 * (file.path("C:/data/", "cache")). */
static void case_unresolved_root(const char *root) {
  char messy[PATH_MAX], clean[PATH_MAX];
  snprintf(clean, sizeof clean, "%s/messy/store", root);
  snprintf(messy, sizeof messy, "%s/messy/x/.././/store", root);
  CHECK(ws_mkdir_p(messy, 1, NULL) == 0, "make a root named with .. and //");
  ws_store *s = open_store(messy, UINT64_MAX);
  CHECK(s != NULL, "open it");
  if (s == NULL) return;
  CHECK(save(s, KEY_C, NULL, "messy", 1, 1000, 1.0, NULL) == 0, "save there");
  ws_store_close(s);
  ws_value_cache_clear();
  s = open_store(clean, UINT64_MAX);
  CHECK(best_starts_with(s, KEY_C, "messy:1:"), "the same store under its plain name");
  if (s != NULL) ws_store_close(s);
}

/* ---- child roles ---- */

static int role_writer(const char *root, const char *key, int n, const char *tag) {
  ws_store *s = open_store(root, UINT64_MAX);
  if (s == NULL) return 2;
  int bad = 0;
  for (int i = 0; i < n; i++)
    if (save(s, key, NULL, tag, i, 1000 + (size_t)i * 997, (double)(i % 7), NULL) != 0)
      bad++;
  ws_store_close(s);
  return bad ? 1 : 0;
}

static int role_reader(const char *root, const char *key, int n) {
  ws_store *s = open_store(root, UINT64_MAX);
  if (s == NULL) return 2;
  int bad = 0;
  sink_buf b = {NULL, 0};
  for (int i = 0; i < n; i++) {
    ws_found f;
    ws_value_cache_clear(); /* read the files each time */
    if (lookup(s, key, i % 2 ? WS_MODE_LATEST : WS_MODE_BEST, &b, &f) < 0) bad++;
    nap(5);
  }
  free(b.buf);
  ws_store_close(s);
  return bad ? 1 : 0;
}

static int role_die(const char *root, const char *key, const char *point) {
  ws_store *s = open_store(root, UINT64_MAX);
  if (s == NULL) return 2;
  for (int p = 0; p < 3; p++)
    if (strcmp(point, point_names[p]) == 0)
      ws_store_set_fault(s, points[p], WS_FAULT_EXIT, 1);
  save(s, key, NULL, "never", 0, 50000, 0.0, NULL);
  return 1; /* not reached when the fault fires */
}

static int role_claim(const char *root, const char *key, int die) {
  ws_store *s = open_store(root, UINT64_MAX);
  if (s == NULL) return 2;
  ws_claim *c = NULL;
  ws_error err;
  memset(&err, 0, sizeof err);
  int rc = ws_claim_try(s, key, &c, &err);
  if (rc == 1 && die) {
#ifdef _WIN32
    TerminateProcess(GetCurrentProcess(), 137);
#else
    raise(SIGKILL);
#endif
  }
  if (c != NULL) ws_claim_release(c);
  ws_store_close(s);
  return rc == 1 ? 0 : rc == 0 ? 3 : 2;
}

/* ---- links: the store never follows one below its root ----
 * Made by the POSIX build (Windows needs a privilege to make symlinks, and
 * Wine's CreateSymbolicLinkW does not make one), then checked by either
 * build: Wine shows a host symlink to Windows code as a reparse point,
 * as Windows shows its own. In <root>: KEY_A's key dir is a link to a key
 * dir in <outside> holding a whole entry; KEY_B holds a whole entry whose
 * payload file is a link to a file in <outside> with the same bytes (so
 * its checksum matches). */
static int links_prepare(const char *root, const char *outside) {
#ifdef _WIN32
  (void)root;
  (void)outside;
  fprintf(stderr, "links-prepare: POSIX only\n");
  return 2;
#else
  char out_store[PATH_MAX], target[PATH_MAX], link[PATH_MAX], key_b[PATH_MAX];
  char moved[PATH_MAX], bin[PATH_MAX];
  char run[WS_RUNID_MAX + 1], name[WS_RUNID_MAX + 8];
  if (ws_join(out_store, sizeof out_store, outside, "store") != 0 ||
      ws_join(target, sizeof target, out_store, KEY_A) != 0 ||
      ws_join(link, sizeof link, root, KEY_A) != 0 ||
      ws_join(key_b, sizeof key_b, root, KEY_B) != 0 ||
      ws_join(moved, sizeof moved, outside, "payload.bin") != 0 ||
      ws_mkdir_p(out_store, 1, NULL) != 0 || ws_mkdir_p(root, 1, NULL) != 0)
    return 2;
  ws_store *o = open_store(out_store, UINT64_MAX);
  ws_store *s = open_store(root, UINT64_MAX);
  int rc = 2;
  if (o != NULL && s != NULL &&
      save(o, KEY_A, NULL, "outside", 1, 3000, 0.5, NULL) == 0 &&
      save(s, KEY_B, NULL, "outside", 2, 3000, 0.5, run) == 0) {
    /* KEY_A: the key dir itself is a link. KEY_B: its payload moves
     * out, and a link takes its place. */
    snprintf(name, sizeof name, "%s.bin", run);
    if (ws_join(bin, sizeof bin, key_b, name) == 0 && symlink(target, link) == 0 &&
        rename(bin, moved) == 0 && symlink(moved, bin) == 0)
      rc = 0;
  }
  if (o != NULL) ws_store_close(o);
  if (s != NULL) ws_store_close(s);
  return rc;
#endif
}

static int count_files(const char *dir) {
  DIR *d = opendir(dir);
  if (d == NULL) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
  closedir(d);
  return n;
}

static int links_check(const char *root, const char *outside) {
  char out_store[PATH_MAX], out_key[PATH_MAX], moved[PATH_MAX];
  if (ws_join(out_store, sizeof out_store, outside, "store") != 0 ||
      ws_join(out_key, sizeof out_key, out_store, KEY_A) != 0 ||
      ws_join(moved, sizeof moved, outside, "payload.bin") != 0)
    return 2;
  int files_before = count_files(out_key);
  CHECK(files_before == 2, "the outside entry is there (meta and payload)");
  ws_store *s = open_store(root, UINT64_MAX);
  CHECK(s != NULL, "open the store with the links");
  if (s != NULL) {
    sink_buf b = {NULL, 0};
    ws_found f;
    int rc = lookup(s, KEY_A, WS_MODE_BEST, &b, &f);
    CHECK(rc != 1 || !starts_with(&b, "outside:"),
          "a key dir that is a link is not followed");
    ws_value_cache_clear();
    rc = lookup(s, KEY_B, WS_MODE_BEST, &b, &f);
    CHECK(rc != 1 || !starts_with(&b, "outside:"),
          "a payload that is a link is not read");
    free(b.buf);
    ws_sweep_stats stats;
    memset(&stats, 0, sizeof stats);
    ws_error err;
    memset(&err, 0, sizeof err);
    (void)ws_store_sweep(s, WS_SWEEP_FORCE | WS_SWEEP_VERIFY, &stats, &err);
    uint64_t removed = 0;
    (void)ws_store_remove(s, KEY_A, NULL, &removed, &err);
    (void)ws_store_remove(s, KEY_B, NULL, &removed, &err);
    ws_store_close(s);
  }
  CHECK(count_files(out_key) == files_before,
        "sweep and removal leave the files behind a linked key dir alone");
  struct stat st;
  CHECK(stat(moved, &st) == 0 && st.st_size == 3000,
        "and the file behind a linked payload");
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
  self = argv[0];
  setvbuf(stdout, NULL, _IONBF, 0);
  if (argc == 6 && strcmp(argv[1], "writer") == 0)
    return role_writer(argv[2], argv[3], atoi(argv[4]), argv[5]);
  if (argc == 5 && strcmp(argv[1], "reader") == 0)
    return role_reader(argv[2], argv[3], atoi(argv[4]));
  if (argc == 5 && strcmp(argv[1], "die") == 0)
    return role_die(argv[2], argv[3], argv[4]);
  if (argc == 4 && strcmp(argv[1], "claim") == 0)
    return role_claim(argv[2], argv[3], 0);
  if (argc == 4 && strcmp(argv[1], "claim-die") == 0)
    return role_claim(argv[2], argv[3], 1);
  if (argc == 4 && strcmp(argv[1], "links-prepare") == 0)
    return links_prepare(argv[2], argv[3]);
  if (argc == 4 && strcmp(argv[1], "links-check") == 0)
    return links_check(argv[2], argv[3]);
  if (argc != 3 || strcmp(argv[1], "run") != 0) {
    fprintf(stderr, "usage: %s run <dir>\n", argv[0]);
    return 2;
  }
#ifdef _WIN32
  /* Our own path, as spawn needs it (argv[0] may lack the directory). */
  static char exe[PATH_MAX];
  wchar_t wexe[PATH_MAX];
  DWORD n = GetModuleFileNameW(NULL, wexe, PATH_MAX);
  if (n > 0 && n < PATH_MAX &&
      WideCharToMultiByte(CP_UTF8, 0, wexe, -1, exe, sizeof exe, NULL, NULL) > 0)
    self = exe;
#endif
  char root[PATH_MAX];
  if (ws_mkdir_p(argv[2], 1, NULL) != 0 || realpath(argv[2], root) == NULL) {
    fprintf(stderr, "cannot make %s: %s\n", argv[2], strerror(errno));
    return 2;
  }
  printf("store root: %s\n", root);
  struct { const char *name; void (*run)(const char *); } cases[] = {
      {"save and lookup", case_save_lookup},
      {"a damaged payload", case_corrupt},
      {"files held open by a reader", case_open_files},
      {"the sweep", case_sweep},
      {"4 writers and 2 readers at once", case_concurrent},
      {"killed writers", case_killed_writer},
      {"claims", case_claims},
      {"pins", case_pins},
      {"long and non-ASCII paths", case_paths},
      {"recorded accesses", case_access},
      {"roots named with .. and //", case_unresolved_root},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int before = failed;
    cases[i].run(root);
    printf("%-34s %s\n", cases[i].name, failed == before ? "ok" : "FAILED");
  }
  remove_tree(root);
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
