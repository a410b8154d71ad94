/* An LD_PRELOAD shim for tests: flock() fails with ENOLCK, as on a
 * filesystem without locks, or for a process on another host whose locks
 * this kernel never sees. */
#include <errno.h>

int flock(int fd, int operation) {
  (void)fd;
  (void)operation;
  errno = ENOLCK;
  return -1;
}
