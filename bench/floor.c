/* The physical floor of a durable 1 KB save: the same system calls a
 * warmstart save makes, and nothing else (no hashing, no JSON, no R).
 * Per save, in a key dir that exists: pin the dir (open + flock), write
 * the payload temp (open, write, fsync, close), create the meta temp,
 * rename the payload, write and fsync the meta, rename it, fsync the dir,
 * then the root (a durable save syncs the root too: the key dir may be new,
 * made by it or by another process that has not synced it yet).
 *   cc -O2 -o floor bench/floor.c && ./floor ROOT N [durable=1]
 * The key dir is ROOT/key. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
  perror(what);
  exit(1);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: floor ROOT N [durable]\n");
    return 2;
  }
  const char *root = argv[1];
  char dir[2048];
  snprintf(dir, sizeof dir, "%s/key", root);
  int n = atoi(argv[2]);
  int durable = argc > 3 ? atoi(argv[3]) : 1;
  char payload[1024], meta[320], tmp_bin[4096], tmp_meta[4096], bin[4096],
      json[4096];
  memset(payload, 'x', sizeof payload);
  memset(meta, 'm', sizeof meta);
  if (mkdir(root, 0700) != 0 && access(root, F_OK) != 0) die("mkdir root");
  if (mkdir(dir, 0700) != 0 && access(dir, F_OK) != 0) die("mkdir");
  double t0 = now();
  for (int i = 0; i < n; i++) {
    snprintf(tmp_bin, sizeof tmp_bin, "%s/r1-%x.bin.tmp.1.%d.0.h", dir, i, i);
    snprintf(tmp_meta, sizeof tmp_meta, "%s/r1-%x.json.tmp.1.%d.0.h", dir, i, i);
    snprintf(bin, sizeof bin, "%s/r1-%x.bin", dir, i);
    snprintf(json, sizeof json, "%s/r1-%x.json", dir, i);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || flock(dfd, LOCK_SH) != 0) die("pin");
    int fd = open(tmp_bin, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, payload, sizeof payload) != sizeof payload) die("bin");
    if (durable && fsync(fd) != 0) die("fsync bin");
    if (close(fd) != 0) die("close bin");
    int mfd = open(tmp_meta, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (mfd < 0) die("meta");
    if (rename(tmp_bin, bin) != 0) die("rename bin");
    if (write(mfd, meta, sizeof meta) != sizeof meta) die("write meta");
    if (durable && fsync(mfd) != 0) die("fsync meta");
    if (close(mfd) != 0) die("close meta");
    if (rename(tmp_meta, json) != 0) die("rename meta");
    if (durable && fsync(dfd) != 0) die("fsync dir");
    close(dfd);
    if (durable) {
      int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (rfd < 0 || fsync(rfd) != 0) die("fsync root");
      close(rfd);
    }
  }
  double t = now() - t0;
  printf("%.3f us per save (%d saves, durable=%d)\n", t / n * 1e6, n, durable);
  return 0;
}
