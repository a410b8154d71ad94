/* Who may write to a store (trust.c). Internal to the core. */
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
/* At open: checks the root (GROUP: takes its group as the trusted one);
 * a root this open created first gets its exact mode. */
int ws_trust_open_root(ws_trust *t, const char *root, int created,
                       ws_error *err);
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
/* Gives a directory or file this process just created its exact mode,
 * whatever the umask took away (a group's members must be able to add
 * entries). -1 with errno. */
int ws_trust_fix_mode(const ws_trust *t, int fd, int is_dir);

#endif
