/* Wall clock and unique ids. */
#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "ws_core.h"

uint64_t ws_real_now_ns(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return 0;
  return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

uint64_t ws_unique_ns(uint64_t now_ns) {
  /* Two saves in one clock tick must still get distinct run ids and temp
   * names. A forked child inherits `last`, but its pid differs. */
  static uint64_t last = 0;
  if (now_ns <= last) now_ns = last + 1;
  last = now_ns;
  return now_ns;
}

void ws_fresh_run_id(uint64_t now_ns, char out[WS_RUNID_MAX + 1]) {
  snprintf(out, WS_RUNID_MAX + 1, "r%lx-%" PRIx64, (unsigned long)getpid(),
           ws_unique_ns(now_ns));
}
