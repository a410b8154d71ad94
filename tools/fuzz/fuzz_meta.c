/* libFuzzer target: the schema v1 meta parser (meta.c), built from the C
 * core alone. Any input must parse or be refused without a crash, leak or
 * undefined behaviour; what parses must survive a write/parse round trip
 * unchanged (what we write, we read back as written); a meta signed with a
 * secret still parses, and its tag verifies under that secret only
 * (auth.c). */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trust.h"
#include "ws_core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ws_meta m;
  char label[WS_LABEL_MAX + 1];
  (void)ws_meta_label((const char *)data, size, label, sizeof label);
  if (ws_meta_parse((const char *)data, size, &m) != 0) return 0;
  (void)ws_meta_written_ns(&m);
  static ws_auth *ours = NULL, *theirs = NULL;
  if (ours == NULL) {
    ours = ws_auth_new("fuzzing secret, 32 bytes long...", 32);
    theirs = ws_auth_new("another secret, as long as ours.", 32);
    assert(ours != NULL && theirs != NULL);
  }
  ws_auth_read_claim((const char *)data, size, &m);
  /* No input forges a tag (for the key and run id the signed one below has). */
  assert(!ws_auth_verify(ours, "0123456789abcdef0123456789abcdef", "r1", &m));
  int has_label = ws_meta_label((const char *)data, size, label, sizeof label);
  char *json = ws_meta_to_json(&m, has_label ? label : NULL);
  assert(json != NULL);
  ws_meta back;
  assert(ws_meta_parse(json, strlen(json), &back) == 0);
  assert(back.schema_version == m.schema_version);
  assert(back.written_secs == m.written_secs);
  assert(back.written_nanos == m.written_nanos);
  assert(back.has_objective == m.has_objective);
  assert(!m.has_objective || back.objective == m.objective);
  assert(back.has_iteration == m.has_iteration);
  assert(!m.has_iteration || back.iteration == m.iteration);
  assert(back.kind == m.kind);
  assert(strcmp(back.checksum_hex, m.checksum_hex) == 0);
  assert(back.payload_bytes == m.payload_bytes);
  /* A meta that states no format (the Rust store's) is never written back
   * as such: our saves state one, "raw" unless R-serialized. */
  assert(back.format == (m.format == WS_FORMAT_UNSTATED ? WS_FORMAT_RAW : m.format));
  char *signed_json = ws_auth_sign_meta(ours, "0123456789abcdef0123456789abcdef", "r1", json);
  assert(signed_json != NULL); /* json is freed */
  ws_meta sig;
  assert(ws_meta_parse(signed_json, strlen(signed_json), &sig) == 0);
  assert(strcmp(sig.checksum_hex, m.checksum_hex) == 0);
  ws_auth_read_claim(signed_json, strlen(signed_json), &sig);
  /* The tag binds the entry's key and run id: elsewhere it does not verify. */
  assert(sig.has_tag &&
         ws_auth_verify(ours, "0123456789abcdef0123456789abcdef", "r1", &sig) &&
         !ws_auth_verify(ours, "0123456789abcdef0123456789abcdef", "r2", &sig) &&
         !ws_auth_verify(ours, "0123456789abcdef0123456789abcdeg", "r1", &sig) &&
         !ws_auth_verify(theirs, "0123456789abcdef0123456789abcdef", "r1", &sig));
  free(signed_json);
  return 0;
}
