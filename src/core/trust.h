/* Who may write to a store (trust.c) and the secret that authenticates
 * entries (auth.c). Internal to the core. */
#ifndef WS_TRUST_H
#define WS_TRUST_H

#include <stdint.h>

#include "ws_core.h"

/* A handle's trust: whose writing it accepts. */
typedef struct ws_trust {
  ws_trust_mode mode;
  uint32_t uid; /* the effective user at open */
  uint32_t gid; /* GROUP: the group of the root, fixed at open */
} ws_trust;

void ws_trust_init(ws_trust *t, ws_trust_mode mode);
/* At open: checks the root (GROUP: takes its group as the trusted one). */
int ws_trust_open_root(ws_trust *t, const char *root, ws_error *err);
/* NULL when what the stamp describes can be written only by those t
 * trusts; otherwise why not: "owner", "group" or "others". No system call
 * unless a group must be looked up (cached for the process). */
const char *ws_trust_judge(const ws_trust *t, const ws_stamp *st);
/* 0 when trusted; -1 with a WS_ERR_UNTRUSTED error naming path. */
int ws_trust_check(const ws_trust *t, const ws_stamp *st, const char *path,
                   ws_error *err);
/* The modes new directories and files get: private to the user (USER),
 * shared with the group (GROUP), as before trust was checked (ANY). */
unsigned ws_trust_dir_mode(const ws_trust *t);
unsigned ws_trust_file_mode(const ws_trust *t);

/* What the store makes. Every directory and file the core creates under a
 * root (key dirs, entries and their temps, access rewrites, claims, the
 * sweep's marker) is made here and nowhere else, with the store's exact
 * mode whatever the process's umask: a group's members must be able to
 * read what one of them wrote and add entries beside it, and a private
 * store stays private. (ANY keeps the umask's word, as before trust was
 * checked.) */
typedef enum {
  WS_MADE_ENTRY, /* written once, then only read or replaced by rename */
  WS_MADE_CLAIM  /* opened for reading and writing by every claimer */
} ws_made_kind;
/* mkdir -p path; the leaf, when this call made it, gets the store's
 * directory mode (*made set). -1 with errno. */
int ws_make_dir(const ws_trust *t, const char *path, int durable, int *made);
/* A new file name in dirfd (O_CREAT | O_EXCL | O_NOFOLLOW, plus flags),
 * with the store's mode for its kind. The descriptor, or -1 with errno
 * (EEXIST when the name is taken). */
int ws_make_file_at(const ws_trust *t, int dirfd, const char *name, int flags,
                    ws_made_kind kind);

/* A secret, in memory only. */
typedef struct ws_auth ws_auth;
ws_auth *ws_auth_new(const void *secret, size_t n);
void ws_auth_free(ws_auth *a);
/* Which secret: 64 bits of an HMAC of a constant, never the secret. */
uint64_t ws_auth_key_id(const ws_auth *a);
/* Takes a meta text as ws_meta_to_json() wrote it (ending in its
 * meta_sha256 member) for the entry run_id of key, and returns it with an
 * hmac_sha256 member before that one (bound to the key and run id too),
 * the digest recomputed over it; json is freed. NULL when out of memory
 * or OpenSSL fails. */
char *ws_auth_sign_meta(const ws_auth *a, const char *key, const char *run_id,
                        char *json);
/* Fills m's has_tag, tag and signed_sha256 from a meta text that
 * ws_meta_parse() accepted. */
void ws_auth_read_claim(const char *text, size_t len, ws_meta *m);
/* 1 when m, the meta of entry run_id of key, carries a tag that a holds
 * the secret of, made for that key and run id. */
int ws_auth_verify(const ws_auth *a, const char *key, const char *run_id,
                   const ws_meta *m);

#endif
