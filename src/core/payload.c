/* What a payload's own bytes say it is, for entries whose meta states no
 * format: those the Rust store wrote, and ours after a newer Rust store's
 * lookup rewrote the meta with only its own fields (payload_format gone).
 *
 * An R value is stored as serialize(version = 3, xdr = FALSE), whose
 * header is "B\n", then in native byte order the format version (3), the
 * writing R's version, the oldest R that reads it (3.5.0), and the native
 * encoding's name (length, then the bytes). Ten fixed bytes and a name: a
 * raw payload carries that by chance with negligible odds, and one that
 * ws_save() is given with such a header is stored as an R value instead,
 * so no raw payload of ours ever carries it. A payload that carries it and
 * still fails to unserialize is returned as its raw bytes, not deleted. */
#include <string.h>

#include "ws_core.h"

#define R_SERIAL_VERSION 3
#define R_VERSION_3_5_0 ((3 << 16) | (5 << 8))
#define R_CODESET_MAX 63

static int native_int(const unsigned char *p) {
  int v;
  memcpy(&v, p, sizeof v);
  return v;
}

int ws_is_r_serialization(const unsigned char *p, size_t n) {
  const size_t fixed = 2 + 4 * 4;
  if (n < fixed || p[0] != 'B' || p[1] != '\n') return 0;
  if (native_int(p + 2) != R_SERIAL_VERSION) return 0;
  if (native_int(p + 6) < R_VERSION_3_5_0) return 0; /* the writer's R */
  if (native_int(p + 10) != R_VERSION_3_5_0) return 0;
  int nelen = native_int(p + 14);
  if (nelen < 1 || nelen > R_CODESET_MAX || n < fixed + (size_t)nelen) return 0;
  for (int i = 0; i < nelen; i++)
    if (p[fixed + i] < 0x21 || p[fixed + i] > 0x7e) return 0;
  return 1;
}
