/* libFuzzer target: the R serialization check (rstream.c), built from the
 * C core alone. Any input must be judged without a crash, leak, undefined
 * behaviour or a read past its end; and a judgement reached from a whole
 * stream (ok, or a promise) must not change when bytes follow it, since
 * unserialize() ignores what follows the value. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws_core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* A copy of exactly `size` bytes, so that ASan sees any read past it. */
  uint8_t *copy = malloc(size ? size : 1);
  assert(copy != NULL);
  memcpy(copy, data, size);
  ws_rstream_verdict v = ws_rstream_check(copy, size);
  assert(v >= WS_RSTREAM_OK && v <= WS_RSTREAM_NOMEM);
  if (v == WS_RSTREAM_OK || v == WS_RSTREAM_PROMISE) {
    uint8_t *longer = malloc(size + 16);
    assert(longer != NULL);
    memcpy(longer, data, size);
    memset(longer + size, 0xfe, 16);
    assert(ws_rstream_check(longer, size + 16) == v);
    free(longer);
  }
  free(copy);
  return 0;
}
