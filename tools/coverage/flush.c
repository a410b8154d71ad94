/* Preloaded into every process of a `make coverage` run (tools/coverage.sh)
 * so that gcov's counters of processes that never run exit() reach the
 * .gcda files: forked children end with _exit() (parallel::mcparallel,
 * mclapply), and the fault hooks end a writer with raise(SIGKILL). The
 * instrumented library registers its flusher (flush-hook.c, compiled
 * into the coverage build only) when it is loaded. A process killed
 * from outside (kill -9 by a test) still loses its counters. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#define MAX_FLUSHERS 8
static void (*flushers[MAX_FLUSHERS])(void);

void ws_coverage_register(void (*flush)(void)) {
  for (int i = 0; i < MAX_FLUSHERS; i++)
    if (flushers[i] == NULL) {
      flushers[i] = flush;
      return;
    }
}

void ws_coverage_unregister(void (*flush)(void)) {
  for (int i = 0; i < MAX_FLUSHERS; i++)
    if (flushers[i] == flush) flushers[i] = NULL;
}

static void flush_all(void) {
  for (int i = 0; i < MAX_FLUSHERS; i++)
    if (flushers[i] != NULL) flushers[i]();
}

void _exit(int status) {
  flush_all();
  void (*real)(int) = (void (*)(int))dlsym(RTLD_NEXT, "_exit");
  real(status);
  __builtin_unreachable();
}

void _Exit(int status) {
  flush_all();
  void (*real)(int) = (void (*)(int))dlsym(RTLD_NEXT, "_Exit");
  real(status);
  __builtin_unreachable();
}

int raise(int sig) {
  if (sig == SIGKILL || sig == SIGABRT) flush_all();
  int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "raise");
  return real(sig);
}

int kill(pid_t pid, int sig) {
  if (sig == SIGKILL && (pid == 0 || pid == getpid())) flush_all();
  int (*real)(pid_t, int) = (int (*)(pid_t, int))dlsym(RTLD_NEXT, "kill");
  return real(pid, sig);
}
