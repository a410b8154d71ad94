/* Who may write to a store. Checksums detect accidents, not tampering:
 * whoever can write into the root, a key dir or `.warmstart/` can put an R
 * value there whose use runs their code in the reader's session. So, like
 * ssh's StrictModes for ~/.ssh, what a handle reads must be writable only
 * by those it trusts, judged on the descriptor or stamp of the very object
 * read (the path's ancestors do not matter: whatever they lead to is
 * judged itself).
 *
 * USER: owned by the user or root; not writable by others; writable by
 *   its group only when that group is the user's own private group (the
 *   user private group scheme of Debian and Fedora, where the umask is 002:
 *   a group named like the user, whose only member is the user).
 * GROUP: owned by the user, root or a member of the root's group; not
 *   writable by others; writable by its group only when that is the root's
 *   group or the owner's private group.
 * ANY: no check.
 *
 * Group lookups go through NSS (getpwuid_r, getgrgid_r) once per user and
 * group per process: a process's own groups do not change either. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#ifndef _WIN32 /* platform_win.h: no user or group database */
#include <grp.h>
#include <pwd.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trust.h"

void ws_trust_init(ws_trust *t, ws_trust_mode mode) {
  t->mode = mode;
  t->uid = (uint32_t)geteuid();
  t->gid = UINT32_MAX;
}

/* ---- users and groups, through NSS ---- */

/* getpwuid_r/getgrgid_r with a buffer that grows on ERANGE; the records'
 * strings point into *buf (free it). 0 found, -1 not found or failed. */
static int user_of(uint32_t uid, struct passwd *pw, char **buf) {
  size_t cap = 4096;
  for (;;) {
    struct passwd *res = NULL;
    *buf = malloc(cap);
    if (*buf == NULL) return -1;
    int rc = getpwuid_r((uid_t)uid, pw, *buf, cap, &res);
    if (rc == 0 && res != NULL) return 0;
    free(*buf);
    *buf = NULL;
    if (rc != ERANGE || cap >= (1u << 20)) return -1;
    cap *= 4;
  }
}

static int group_of(uint32_t gid, struct group *gr, char **buf) {
  size_t cap = 4096;
  for (;;) {
    struct group *res = NULL;
    *buf = malloc(cap);
    if (*buf == NULL) return -1;
    int rc = getgrgid_r((gid_t)gid, gr, *buf, cap, &res);
    if (rc == 0 && res != NULL) return 0;
    free(*buf);
    *buf = NULL;
    if (rc != ERANGE || cap >= (1u << 20)) return -1;
    cap *= 4;
  }
}

enum { IS_MEMBER = 1, IS_PRIVATE = 2 };

/* IS_MEMBER: uid belongs to gid (its primary group, or listed in it).
 * IS_PRIVATE: gid is uid's own group: its primary group, named like the
 * user, with no other member listed. Unknown users and groups: 0. */
static int lookup_relation(uint32_t uid, uint32_t gid) {
  struct passwd pw;
  struct group gr;
  char *pbuf = NULL, *gbuf = NULL;
  int rel = 0;
  if (user_of(uid, &pw, &pbuf) != 0) return 0;
  if (group_of(gid, &gr, &gbuf) == 0) {
    int listed = 0, others = 0;
    for (char **m = gr.gr_mem; m != NULL && *m != NULL; m++) {
      if (strcmp(*m, pw.pw_name) == 0)
        listed = 1;
      else
        others = 1;
    }
    if ((uint32_t)pw.pw_gid == gid || listed) rel |= IS_MEMBER;
    if ((uint32_t)pw.pw_gid == gid && !others &&
        strcmp(gr.gr_name, pw.pw_name) == 0)
      rel |= IS_PRIVATE;
  } else if ((uint32_t)pw.pw_gid == gid) {
    rel |= IS_MEMBER; /* a primary group without a name */
  }
  free(pbuf);
  free(gbuf);
  return rel;
}

#define MEMO_SIZE 64
static struct memo {
  uint32_t uid, gid;
  int rel;
} memo[MEMO_SIZE];
static size_t memo_n = 0, memo_next = 0;

static int relation(uint32_t uid, uint32_t gid) {
  for (size_t i = 0; i < memo_n; i++)
    if (memo[i].uid == uid && memo[i].gid == gid) return memo[i].rel;
  int rel = lookup_relation(uid, gid);
  memo[memo_next] = (struct memo){uid, gid, rel};
  memo_next = (memo_next + 1) % MEMO_SIZE;
  if (memo_n < MEMO_SIZE) memo_n++;
  return rel;
}

/* ---- judging ---- */

static int trusted_owner(const ws_trust *t, uint32_t uid) {
  if (uid == t->uid || uid == 0) return 1;
  return t->mode == WS_TRUST_GROUP && (relation(uid, t->gid) & IS_MEMBER);
}

static int trusted_group(const ws_trust *t, const ws_stamp *st) {
  if (t->mode == WS_TRUST_GROUP && st->gid == t->gid) return 1;
  /* The owner's private group adds no writer. */
  return (relation(st->uid, st->gid) & IS_PRIVATE) != 0;
}

const char *ws_trust_judge(const ws_trust *t, const ws_stamp *st) {
  if (t->mode == WS_TRUST_ANY) return NULL;
  if (st->perm & S_IWOTH) return "others";
  if (!trusted_owner(t, st->uid)) return "owner";
  if ((st->perm & S_IWGRP) && !trusted_group(t, st)) return "group";
  return NULL;
}

int ws_trust_check(const ws_trust *t, const ws_stamp *st, const char *path,
                   ws_error *err) {
  const char *why = ws_trust_judge(t, st);
  if (why == NULL) return 0;
  const char *what = S_ISDIR((mode_t)st->type) ? "directory" : "file";
  const char *advice =
      t->mode == WS_TRUST_USER
          ? "If others are meant to share this store, open it with "
            "ws_open(trust = \"group\") (its group's members) or "
            "trust = \"any\", with a secret (see ?ws_open)"
          : "If they are meant to share this store, open it with "
            "ws_open(trust = \"any\") and a secret (see ?ws_open)";
  if (strcmp(why, "others") == 0) {
    ws_error_untrusted(err, path, why,
                       "refusing the store: the %s '%s' can be written by "
                       "any user (mode %04o), who could put code there that "
                       "runs in this R session. Remove their access (chmod "
                       "o-w) or, %s",
                       what, path, (unsigned)st->perm,
                       "to share the store with anyone, open it with "
                       "ws_open(trust = \"any\") and a secret (see ?ws_open)");
  } else if (strcmp(why, "owner") == 0) {
    ws_error_untrusted(err, path, why,
                       "refusing the store: the %s '%s' belongs to user %u, "
                       "who could put code there that runs in this R session "
                       "(user %u). %s",
                       what, path, (unsigned)st->uid, (unsigned)t->uid, advice);
  } else {
    ws_error_untrusted(err, path, why,
                       "refusing the store: the %s '%s' can be written by "
                       "the members of group %u (mode %04o), who could put "
                       "code there that runs in this R session. Remove their "
                       "access (chmod g-w) or, if they are meant to share "
                       "the store, open it with ws_open(trust = \"group\") "
                       "(see ?ws_open)",
                       what, path, (unsigned)st->gid, (unsigned)st->perm);
  }
  return -1;
}

unsigned ws_trust_dir_mode(const ws_trust *t) {
  switch (t->mode) {
  case WS_TRUST_USER: return 0700;
  case WS_TRUST_GROUP: return 02770; /* setgid: entries keep the group */
  default: return 0777;
  }
}

unsigned ws_trust_file_mode(const ws_trust *t) {
  switch (t->mode) {
  case WS_TRUST_USER: return 0600;
  case WS_TRUST_GROUP: return 0640;
  default: return 0644;
  }
}

/* A claim is opened read-write by whoever claims (an exclusive lock on
 * NFS needs a descriptor open for writing), so the group writes it too. */
static unsigned claim_mode(const ws_trust *t) {
  switch (t->mode) {
  case WS_TRUST_USER: return 0600;
  case WS_TRUST_GROUP: return 0660;
  default: return 0644;
  }
}

/* The umask takes bits away from what mkdir and open were asked for;
 * fchmod gives them back (and the setgid bit, which mkdir may drop). */
static int exact_mode(const ws_trust *t, int fd, unsigned mode) {
  if (t->mode == WS_TRUST_ANY) return 0;
  int rc;
  do rc = fchmod(fd, (mode_t)mode);
  while (rc != 0 && errno == EINTR);
  return rc;
}

int ws_make_dir(const ws_trust *t, const char *path, int durable, int *made) {
  int created = 0;
  if (made) *made = 0;
  if (ws_mkdir_p_mode(path, durable, &created, ws_trust_dir_mode(t)) != 0)
    return -1;
  if (made) *made = created;
  if (!created || t->mode == WS_TRUST_ANY) return 0;
  /* Through a descriptor that did not follow a link: a link put in its
   * place since the mkdir is refused (ELOOP), not chmod-ed. */
  int fd = ws_open_dir(path);
  if (fd < 0) return -1;
  int rc = exact_mode(t, fd, ws_trust_dir_mode(t));
  int saved = errno;
  close(fd); /* read-only: nothing to lose */
  errno = saved;
  return rc;
}

int ws_make_file_at(const ws_trust *t, int dirfd, const char *name, int flags,
                    ws_made_kind kind) {
  unsigned mode = kind == WS_MADE_CLAIM ? claim_mode(t) : ws_trust_file_mode(t);
  int fd;
  do fd = openat(dirfd, name, flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                 (mode_t)mode);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) return -1;
  if (exact_mode(t, fd, mode) != 0) {
    int saved = errno;
    close(fd); /* nothing written yet */
    (void)unlinkat(dirfd, name, 0);
    errno = saved;
    return -1;
  }
  return fd;
}

void ws_error_untrusted(ws_error *err, const char *path, const char *reason,
                        const char *fmt, ...) {
  if (err == NULL) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  err->cls = WS_ERR_UNTRUSTED;
  err->errnum = EPERM;
  snprintf(err->path, sizeof err->path, "%s", path);
  snprintf(err->argument, sizeof err->argument, "%s", reason);
}

int ws_trust_open_root(ws_trust *t, const char *root, ws_error *err) {
  ws_stamp st;
  int fd = ws_open_dir(root);
  if (fd < 0) {
    ws_error_io(err, errno, root, "cannot open store root '%s': %s", root,
                strerror(errno));
    return -1;
  }
  int rc = ws_stamp_fd(fd, &st);
  int saved = errno;
  close(fd); /* read-only: nothing to lose */
  if (rc != 0) {
    ws_error_io(err, saved, root, "cannot set up store root '%s': %s", root,
                strerror(saved));
    return -1;
  }
  if (t->mode == WS_TRUST_GROUP) t->gid = st.gid;
  return ws_trust_check(t, &st, root, err);
}
