/* Compiled into the coverage build of warmstart only (tools/coverage.sh
 * copies it into the build's src/): hands gcov's dump to the preloaded
 * flush.c, which calls it before a process ends without exit(). */
#include <dlfcn.h>
#include <stddef.h>

extern void __gcov_dump(void);

static void flush(void) { __gcov_dump(); }

typedef void (*flusher)(void);

static void call(const char *name) {
  void (*f)(flusher) = (void (*)(flusher))dlsym(RTLD_DEFAULT, name);
  if (f != NULL) f(flush);
}

__attribute__((constructor)) static void ws_coverage_on_load(void) {
  call("ws_coverage_register");
}

__attribute__((destructor)) static void ws_coverage_on_unload(void) {
  call("ws_coverage_unregister");
}
