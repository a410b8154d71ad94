/* Windows implementations of the POSIX calls the core makes (see
 * platform_win.h for what each guarantee rests on), and SHA-256 and
 * HMAC-SHA256 through CNG. Paths arrive in UTF-8 with '/' or '\'; every
 * call goes through the wide (UTF-16) API, so names do not depend on the
 * ANSI code page. Errors become errno values the core already handles. */
#ifdef _WIN32

/* Windows 10's API (FILE_BASIC_INFO, FILE_RENAME_INFO, ...), whatever the
 * toolchain's default; the calls only Windows 10 has are tried at run time
 * and fall back where they are refused. */
#undef _WIN32_WINNT
#define _WIN32_WINNT 0x0A00
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <aclapi.h>
#include <bcrypt.h>
#include <io.h>
#include <sddl.h>
#include <stdarg.h>
#include <string.h>
#include <wchar.h>

/* The platform header renames POSIX names; the real ones are needed here. */
#include "platform_win.h"
#undef stat
#undef lstat
#undef fstat
#undef open
#undef close
#undef mkdir
#undef rmdir
#undef unlink
#undef raise
#undef kill
#undef opendir
#undef readdir
#undef closedir
#undef rewinddir
#undef DIR
#undef dirent

#include "ws_core.h"

/* Windows 10's POSIX-semantics delete and rename, named here because
 * MinGW's headers declare them only for a newer _WIN32_WINNT than the
 * one R builds for; older systems refuse them and we fall back. */
#define WS_FILE_DISPOSITION_INFO_EX ((FILE_INFO_BY_HANDLE_CLASS)21)
#define WS_FILE_RENAME_INFO_EX ((FILE_INFO_BY_HANDLE_CLASS)22)
#define WS_DISPOSITION_DELETE 0x1
#define WS_DISPOSITION_POSIX 0x2
#define WS_DISPOSITION_IGNORE_READONLY 0x10
#define WS_RENAME_REPLACE 0x1
#define WS_RENAME_POSIX 0x2

/* ---- errors ---- */

static int errno_of(DWORD e) {
  switch (e) {
  case ERROR_FILE_NOT_FOUND:
  case ERROR_PATH_NOT_FOUND:
  case ERROR_INVALID_NAME:
  case ERROR_BAD_PATHNAME:
  case ERROR_INVALID_DRIVE:
  case ERROR_BAD_NETPATH:
  case ERROR_DELETE_PENDING: return ENOENT;
  case ERROR_FILE_EXISTS:
  case ERROR_ALREADY_EXISTS: return EEXIST;
  case ERROR_ACCESS_DENIED:
  case ERROR_PRIVILEGE_NOT_HELD: return EACCES;
  case ERROR_SHARING_VIOLATION:
  case ERROR_LOCK_VIOLATION:
  case ERROR_IO_PENDING: return EWOULDBLOCK;
  case ERROR_DIR_NOT_EMPTY: return ENOTEMPTY;
  case ERROR_DISK_FULL:
  case ERROR_HANDLE_DISK_FULL: return ENOSPC;
  case ERROR_WRITE_PROTECT: return EROFS;
  case ERROR_NOT_SAME_DEVICE: return EXDEV;
  case ERROR_NOT_ENOUGH_MEMORY:
  case ERROR_OUTOFMEMORY: return ENOMEM;
  case ERROR_DIRECTORY: return ENOTDIR;
  case ERROR_FILENAME_EXCED_RANGE: return ENAMETOOLONG;
  case ERROR_INVALID_HANDLE: return EBADF;
  case ERROR_NOT_SUPPORTED:
  case ERROR_INVALID_FUNCTION: return ENOTSUP;
  case ERROR_INVALID_PARAMETER: return EINVAL;
  case ERROR_CANT_RESOLVE_FILENAME: return ELOOP;
  default: return EIO;
  }
}

/* The NT status behind the last error: "access denied" also means a name
 * whose file was removed while still open (delete pending), which is a
 * name that is going, as ENOENT says. */
NTSYSAPI LONG NTAPI RtlGetLastNtStatus(void);
#define WS_STATUS_DELETE_PENDING ((LONG)0xC0000056L)

static int last_errno(void) {
  DWORD e = GetLastError();
  if (e == ERROR_ACCESS_DENIED && RtlGetLastNtStatus() == WS_STATUS_DELETE_PENDING)
    return ENOENT;
  return errno_of(e);
}

static int fail_win(void) {
  errno = last_errno();
  return -1;
}

/* ---- paths ---- */

/* UTF-8 to a malloc'ed UTF-16 string as the wide calls take it; NULL with
 * errno set. A path is made absolute and normalized (GetFullPathNameW
 * folds ".", ".." and doubled separators, as "C:/data//cache" from
 * file.path() has), then gets the "\\\\?\\" prefix, which lifts MAX_PATH
 * (a root, a key and a temp name can exceed it) and takes the path as it
 * is from there on. */
static wchar_t *utf16(const char *s) {
  int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
  if (n <= 0) {
    errno = EINVAL;
    return NULL;
  }
  wchar_t *w = malloc((size_t)n * sizeof *w);
  if (w == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n);
  return w;
}

static wchar_t *wide(const char *s) {
  wchar_t *w = utf16(s);
  if (w == NULL) return NULL;
  if (wcsncmp(w, L"\\\\?\\", 4) == 0) return w; /* already verbatim */
  DWORD n = GetFullPathNameW(w, 0, NULL, NULL), got = 0;
  wchar_t *full = NULL;
  /* Asked for its size, it counts the NUL; done, it does not. The working
   * directory can change between the calls: then ask again. */
  for (int tries = 0; n > 0 && tries < 3; tries++) {
    free(full);
    full = malloc((n + 1) * sizeof *full);
    if (full == NULL) break;
    got = GetFullPathNameW(w, n, full, NULL);
    if (got < n) break;
    n = got;
    got = 0;
  }
  int saved = n == 0 || (full != NULL && got == 0) ? last_errno() : ENOMEM;
  free(w);
  if (full == NULL || got == 0) {
    free(full);
    errno = saved;
    return NULL;
  }
  /* "C:\dir" to "\\?\C:\dir", "\\host\share" to "\\?\UNC\host\share";
   * device paths ("\\.\") stay as they are. */
  int unc = full[0] == L'\\' && full[1] == L'\\';
  if (unc && (full[2] == L'.' || full[2] == L'?')) return full;
  const wchar_t *prefix = unc ? L"\\\\?\\UNC" : L"\\\\?\\";
  size_t skip = unc ? 1 : 0, np = wcslen(prefix);
  wchar_t *out = malloc(((size_t)got + np + 1) * sizeof *out);
  if (out == NULL) {
    free(full);
    errno = ENOMEM;
    return NULL;
  }
  memcpy(out, prefix, np * sizeof *out);
  memcpy(out + np, full + skip, ((size_t)got - skip + 1) * sizeof *out);
  free(full);
  return out;
}

static int utf8(const wchar_t *w, char *out, size_t cap) {
  int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, out, (int)cap, NULL, NULL);
  if (n <= 0) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return 0;
}

static HANDLE handle_of(int fd) {
  intptr_t h = _get_osfhandle(fd);
  return (HANDLE)h;
}

/* What the table knows of each descriptor the core opened. A directory's
 * lock is a second handle (see platform_win.h); a file's is a byte-range
 * lock on the descriptor's own handle. Indexed by fd: the CRT hands out
 * small descriptors. */
#define FD_SLOTS 4096
static struct {
  HANDLE dir_lock;  /* the directory's lock handle, or NULL */
  int exclusive;    /* dir_lock holds delete access */
  int file_locked;  /* LockFileEx holds the file's bytes */
  wchar_t *path;    /* the path it was opened by */
} fds[FD_SLOTS];
static SRWLOCK fds_guard = SRWLOCK_INIT;

static void remember_path(int fd, const wchar_t *path) {
  if (fd < 0 || fd >= FD_SLOTS) return;
  wchar_t *copy = _wcsdup(path);
  AcquireSRWLockExclusive(&fds_guard);
  free(fds[fd].path);
  fds[fd].path = copy;
  ReleaseSRWLockExclusive(&fds_guard);
}

/* The path of what fd has open (malloc'd): where it is now, as a real
 * dirfd would follow a rename, or where it was opened when Windows cannot
 * say (Wine cannot past MAX_PATH). */
static wchar_t *fd_path(int fd) {
  HANDLE h = handle_of(fd);
  if (h == INVALID_HANDLE_VALUE) {
    errno = EBADF;
    return NULL;
  }
  DWORD n = GetFinalPathNameByHandleW(h, NULL, 0, FILE_NAME_NORMALIZED);
  wchar_t *out = n == 0 ? NULL : malloc((n + 1) * sizeof *out);
  if (out != NULL) {
    DWORD got = GetFinalPathNameByHandleW(h, out, n, FILE_NAME_NORMALIZED);
    if (got > 0 && got < n) return out;
    free(out);
  }
  DWORD e = GetLastError();
  out = NULL;
  if (fd >= 0 && fd < FD_SLOTS) {
    AcquireSRWLockShared(&fds_guard);
    if (fds[fd].path != NULL) out = _wcsdup(fds[fd].path);
    ReleaseSRWLockShared(&fds_guard);
  }
  if (out == NULL) errno = e != 0 ? errno_of(e) : EIO;
  return out;
}

/* The path of what fd has open, joined with name: what the *at calls act
 * on. "." (and "") is the dir itself: under "\\\\?\\" a "." would be taken
 * as a name. */
static wchar_t *at_path(int dirfd, const char *name) {
  if (dirfd == AT_FDCWD) return wide(name);
  wchar_t *dir = fd_path(dirfd);
  if (dir == NULL) return NULL;
  if (name[0] == '\0' || strcmp(name, ".") == 0) return dir;
  wchar_t *wname = utf16(name);
  size_t nd = wcslen(dir), nn = wname == NULL ? 0 : wcslen(wname);
  wchar_t *out = wname == NULL ? NULL : malloc((nd + nn + 2) * sizeof *out);
  if (out != NULL) {
    memcpy(out, dir, nd * sizeof *out);
    out[nd] = L'\\';
    memcpy(out + nd + 1, wname, (nn + 1) * sizeof *out);
  } else if (wname != NULL) {
    errno = ENOMEM;
  }
  free(dir);
  free(wname);
  return out;
}

/* Whether the file open on h is the one path names, not one reached
 * through a link: 1 when its final path is path, or when Windows cannot
 * say (Wine past MAX_PATH). Two things need it. Windows has no openat: an
 * *at call goes by its dir's path, resolved again at the open, so a dir
 * on that path swapped for a junction meanwhile would be followed. And
 * FILE_FLAG_OPEN_REPARSE_POINT is what keeps an open from following a
 * final link, which Wine 8 ignores for a host symlink. The paths the core
 * opens are below a root resolved by realpath, so they are final paths
 * already. */
static int opened_as(const wchar_t *path, HANDLE h) {
  DWORD n = GetFinalPathNameByHandleW(h, NULL, 0, FILE_NAME_NORMALIZED);
  wchar_t *final = n == 0 ? NULL : malloc((n + 1) * sizeof *final);
  if (final == NULL) return 1;
  DWORD got = GetFinalPathNameByHandleW(h, final, n, FILE_NAME_NORMALIZED);
  int ok = got == 0 || got >= n || _wcsicmp(final, path) == 0;
  free(final);
  return ok;
}

/* ---- handles ---- */

#define SHARE_ALL (FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)

/* Opens path without following a final link (the core never follows one:
 * a link where a store file should be is judged as a link). */
static HANDLE open_handle(const wchar_t *path, DWORD access, DWORD share,
                          DWORD disposition, int follow) {
  DWORD flags = FILE_ATTRIBUTE_NORMAL | FILE_FLAG_BACKUP_SEMANTICS;
  if (!follow) flags |= FILE_FLAG_OPEN_REPARSE_POINT;
  return CreateFileW(path, access, share, NULL, disposition, flags, NULL);
}

static int64_t unix_ns_of(LARGE_INTEGER t) {
  /* 100 ns ticks since 1601; 0 is a time the filesystem does not keep */
  if (t.QuadPart < INT64_C(116444736000000000)) return 0;
  return (t.QuadPart - INT64_C(116444736000000000)) * 100;
}

/* A link as the core means it: a symlink or a junction, reparse points
 * that name another file (name surrogates). Other reparse points, such as
 * OneDrive's cloud files or deduplicated files, are the files themselves. */
static int is_link(HANDLE h, DWORD attributes) {
  if (!(attributes & FILE_ATTRIBUTE_REPARSE_POINT)) return 0;
  FILE_ATTRIBUTE_TAG_INFO tag;
  if (!GetFileInformationByHandleEx(h, FileAttributeTagInfo, &tag, sizeof tag))
    return 1; /* cannot tell: a link, which the core leaves alone */
  return IsReparseTagNameSurrogate(tag.ReparseTag) ? 1 : 0;
}

static PSID user_sid(void) {
  static char buf[SECURITY_MAX_SID_SIZE + sizeof(TOKEN_USER)];
  static PSID sid = NULL;
  if (sid != NULL) return sid;
  HANDLE token;
  if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)) return NULL;
  DWORD len = 0;
  if (GetTokenInformation(token, TokenUser, buf, sizeof buf, &len))
    sid = ((TOKEN_USER *)buf)->User.Sid;
  CloseHandle(token);
  return sid;
}

#define WS_WIN_UID 1000u /* the process's user; 0 is the system's */

/* The owner as a POSIX-like uid: ours, the system's (SYSTEM or the
 * Administrators group, which own what an elevated process makes), or
 * someone else's. */
static unsigned owner_uid(HANDLE h) {
  PSID owner = NULL;
  PSECURITY_DESCRIPTOR sd = NULL;
  unsigned uid = 2u; /* someone else: what cannot be judged is not trusted */
  DWORD rc = GetSecurityInfo(h, SE_FILE_OBJECT, OWNER_SECURITY_INFORMATION,
                             &owner, NULL, NULL, NULL, &sd);
  if (rc == ERROR_SUCCESS && owner != NULL) {
    PSID me = user_sid();
    if (me != NULL && EqualSid(owner, me))
      uid = WS_WIN_UID;
    else if (IsWellKnownSid(owner, WinLocalSystemSid) ||
             IsWellKnownSid(owner, WinBuiltinAdministratorsSid))
      uid = 0;
  } else if ((rc == ERROR_SUCCESS && owner == NULL) ||
             rc == ERROR_NOT_SUPPORTED || rc == ERROR_INVALID_FUNCTION) {
    /* Filesystems without security (FAT, some network shares) have no
     * owner to judge: everyone who can reach them can write them, the
     * user included. */
    uid = WS_WIN_UID;
  }
  if (sd != NULL) LocalFree(sd);
  return uid;
}

static int stat_handle(HANDLE h, struct ws_win_stat *st) {
  BY_HANDLE_FILE_INFORMATION info;
  FILE_BASIC_INFO basic;
  if (!GetFileInformationByHandle(h, &info) ||
      !GetFileInformationByHandleEx(h, FileBasicInfo, &basic, sizeof basic))
    return fail_win();
  memset(st, 0, sizeof *st);
  st->st_dev = info.dwVolumeSerialNumber;
  st->st_ino = ((uint64_t)info.nFileIndexHigh << 32) | info.nFileIndexLow;
  st->st_nlink = info.nNumberOfLinks;
  st->st_size = (int64_t)(((uint64_t)info.nFileSizeHigh << 32) | info.nFileSizeLow);
  DWORD a = info.dwFileAttributes;
  if (is_link(h, a))
    st->st_mode = S_IFLNK | 0777;
  else if (a & FILE_ATTRIBUTE_DIRECTORY)
    st->st_mode = S_IFDIR | 0700;
  else
    st->st_mode = S_IFREG | 0600;
  int64_t m = unix_ns_of(basic.LastWriteTime), c = unix_ns_of(basic.ChangeTime);
  if (c == 0) c = m; /* no change time kept (FAT): the write time */
  st->st_mtim.tv_sec = (time_t)(m / 1000000000);
  st->st_mtim.tv_nsec = (long)(m % 1000000000);
  st->st_ctim.tv_sec = (time_t)(c / 1000000000);
  st->st_ctim.tv_nsec = (long)(c % 1000000000);
  st->st_uid = owner_uid(h);
  st->st_gid = 0;
  return 0;
}

static int stat_wide(const wchar_t *path, struct ws_win_stat *st, int follow) {
  HANDLE h = open_handle(path, FILE_READ_ATTRIBUTES | READ_CONTROL, SHARE_ALL,
                         OPEN_EXISTING, follow);
  if (h == INVALID_HANDLE_VALUE) return fail_win();
  int rc = stat_handle(h, st);
  /* What was followed is a link, as lstat says of one. */
  if (rc == 0 && !follow && !opened_as(path, h)) st->st_mode = S_IFLNK | 0777;
  int saved = errno;
  CloseHandle(h);
  errno = saved;
  return rc;
}

int ws_win_stat(const char *path, struct ws_win_stat *st) {
  wchar_t *w = wide(path);
  if (w == NULL) return -1;
  int rc = stat_wide(w, st, 1);
  free(w);
  return rc;
}

int ws_win_lstat(const char *path, struct ws_win_stat *st) {
  wchar_t *w = wide(path);
  if (w == NULL) return -1;
  int rc = stat_wide(w, st, 0);
  free(w);
  return rc;
}

int ws_win_fstat(int fd, struct ws_win_stat *st) {
  HANDLE h = handle_of(fd);
  if (h == INVALID_HANDLE_VALUE) {
    errno = EBADF;
    return -1;
  }
  return stat_handle(h, st);
}

int ws_win_fstatat(int dirfd, const char *name, struct ws_win_stat *st,
                   int flags) {
  wchar_t *w = at_path(dirfd, name);
  if (w == NULL) return -1;
  int rc = stat_wide(w, st, !(flags & AT_SYMLINK_NOFOLLOW));
  free(w);
  return rc;
}

/* ---- the lock table: what a descriptor's flock holds ---- */

static void release_locks(int fd) {
  if (fd < 0 || fd >= FD_SLOTS) return;
  AcquireSRWLockExclusive(&fds_guard);
  if (fds[fd].dir_lock != NULL) CloseHandle(fds[fd].dir_lock);
  if (fds[fd].file_locked) {
    OVERLAPPED ov;
    memset(&ov, 0, sizeof ov);
    (void)UnlockFileEx(handle_of(fd), 0, MAXDWORD, MAXDWORD, &ov);
  }
  fds[fd].dir_lock = NULL;
  fds[fd].exclusive = 0;
  fds[fd].file_locked = 0;
  ReleaseSRWLockExclusive(&fds_guard);
}

/* Two handles of one file (volume and file index). */
static int same_file(HANDLE a, HANDLE b) {
  BY_HANDLE_FILE_INFORMATION x, y;
  return GetFileInformationByHandle(a, &x) && GetFileInformationByHandle(b, &y) &&
         x.dwVolumeSerialNumber == y.dwVolumeSerialNumber &&
         x.nFileIndexHigh == y.nFileIndexHigh && x.nFileIndexLow == y.nFileIndexLow;
}

/* The exclusive lock handle this process holds on path's directory, or
 * NULL: ws_win_rmdir removes through it (its own share mode keeps every
 * other delete out). */
static HANDLE exclusive_dir_handle(const wchar_t *path) {
  HANDLE found = NULL;
  HANDLE h = open_handle(path, FILE_READ_ATTRIBUTES, SHARE_ALL, OPEN_EXISTING, 0);
  if (h == INVALID_HANDLE_VALUE) return NULL;
  AcquireSRWLockShared(&fds_guard);
  for (int fd = 0; fd < FD_SLOTS && found == NULL; fd++)
    if (fds[fd].dir_lock != NULL && fds[fd].exclusive && same_file(fds[fd].dir_lock, h))
      found = fds[fd].dir_lock;
  ReleaseSRWLockShared(&fds_guard);
  CloseHandle(h);
  return found;
}


static int is_directory(HANDLE h) {
  BY_HANDLE_FILE_INFORMATION info;
  return GetFileInformationByHandle(h, &info) &&
         (info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY);
}

static int lock_dir(int fd, HANDLE h, int op) {
  /* Shared: read access that denies delete sharing. Exclusive: delete
   * access that denies it too. Each conflicts with the other kind, and two
   * exclusive ones with each other, as flock's do. */
  DWORD access = (op & LOCK_EX) ? (DELETE | FILE_READ_ATTRIBUTES)
                                 : FILE_LIST_DIRECTORY;
  DWORD share = FILE_SHARE_READ | FILE_SHARE_WRITE;
  /* A second flock on one descriptor converts its lock (not atomically,
   * as flock(2) says of its own): let go of the old one first, or it
   * would conflict with the new. */
  release_locks(fd);
  /* The very dir the descriptor holds, not whatever its path names now;
   * by path only where ReOpenFile is refused. */
  HANDLE lock = ReOpenFile(h, access, share,
                           FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT);
  DWORD e = lock == INVALID_HANDLE_VALUE ? GetLastError() : 0;
  if (e == ERROR_INVALID_PARAMETER || e == ERROR_NOT_SUPPORTED ||
      e == ERROR_INVALID_FUNCTION || e == ERROR_CALL_NOT_IMPLEMENTED) {
    wchar_t *path = fd_path(fd);
    if (path == NULL) return -1;
    lock = open_handle(path, access, share, OPEN_EXISTING, 0);
    free(path);
    if (lock != INVALID_HANDLE_VALUE && !same_file(lock, h)) {
      /* the path names another dir now: ours was removed */
      CloseHandle(lock);
      errno = ENOENT;
      return -1;
    }
  }
  if (lock == INVALID_HANDLE_VALUE) {
    /* Sharing refused: another lock of the other kind (or a second
     * exclusive one) holds the dir. */
    DWORD e = GetLastError();
    errno = e == ERROR_SHARING_VIOLATION ? EWOULDBLOCK : last_errno();
    return -1;
  }
  AcquireSRWLockExclusive(&fds_guard);
  if (fds[fd].dir_lock != NULL) CloseHandle(fds[fd].dir_lock);
  fds[fd].dir_lock = lock;
  fds[fd].exclusive = (op & LOCK_EX) != 0;
  ReleaseSRWLockExclusive(&fds_guard);
  return 0;
}

int ws_win_flock(int fd, int op) {
  HANDLE h = handle_of(fd);
  if (h == INVALID_HANDLE_VALUE || fd < 0 || fd >= FD_SLOTS) {
    errno = EBADF;
    return -1;
  }
  if (op & LOCK_UN) {
    release_locks(fd);
    return 0;
  }
  if (is_directory(h)) return lock_dir(fd, h, op);
  OVERLAPPED ov;
  memset(&ov, 0, sizeof ov);
  DWORD flags = (op & LOCK_EX) ? LOCKFILE_EXCLUSIVE_LOCK : 0;
  if (op & LOCK_NB) flags |= LOCKFILE_FAIL_IMMEDIATELY;
  if (!LockFileEx(h, flags, 0, MAXDWORD, MAXDWORD, &ov)) {
    DWORD e = GetLastError();
    errno = (e == ERROR_LOCK_VIOLATION || e == ERROR_IO_PENDING)
                ? EWOULDBLOCK : errno_of(e);
    return -1;
  }
  AcquireSRWLockExclusive(&fds_guard);
  fds[fd].file_locked = 1;
  ReleaseSRWLockExclusive(&fds_guard);
  return 0;
}

/* ---- descriptors ---- */

static int open_wide(const wchar_t *path, int flags) {
  DWORD access;
  switch (flags & (O_RDONLY | O_WRONLY | O_RDWR)) {
  case O_WRONLY: access = GENERIC_WRITE; break;
  case O_RDWR: access = GENERIC_READ | GENERIC_WRITE; break;
  default: access = GENERIC_READ; break;
  }
  access |= READ_CONTROL;
  DWORD disposition = OPEN_EXISTING;
  if ((flags & O_CREAT) && (flags & O_EXCL))
    disposition = CREATE_NEW;
  else if (flags & O_CREAT)
    disposition = OPEN_ALWAYS;
  HANDLE h = open_handle(path, access, SHARE_ALL, disposition,
                         !(flags & O_NOFOLLOW));
  if (h == INVALID_HANDLE_VALUE) return fail_win();
  BY_HANDLE_FILE_INFORMATION info;
  int err = 0;
  if (GetFileInformationByHandle(h, &info) && (flags & O_NOFOLLOW) &&
      (info.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) &&
      !is_link(h, info.dwFileAttributes)) {
    /* Not a link (a cloud or deduplicated file): open the file itself, so
     * that its content is there to read; the first handle stays open
     * until the second is shown to be the same file, so that a junction
     * put in its place meanwhile is not followed. */
    HANDLE file = open_handle(path, access, SHARE_ALL, OPEN_EXISTING, 1);
    if (file == INVALID_HANDLE_VALUE) {
      int saved = last_errno();
      CloseHandle(h);
      errno = saved;
      return -1;
    }
    int same = same_file(h, file);
    CloseHandle(h);
    h = file;
    if (!same) {
      CloseHandle(h);
      errno = ELOOP;
      return -1;
    }
  }
  if (!GetFileInformationByHandle(h, &info))
    err = last_errno();
  else if ((flags & O_NOFOLLOW) &&
           (is_link(h, info.dwFileAttributes) || !opened_as(path, h)))
    err = ELOOP;
  else if ((flags & O_DIRECTORY) &&
           !(info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY))
    err = ENOTDIR;
  else if (!(flags & O_DIRECTORY) &&
           (info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) &&
           (flags & (O_WRONLY | O_RDWR)))
    err = EISDIR;
  if (err != 0) {
    CloseHandle(h);
    errno = err;
    return -1;
  }
  int fd = _open_osfhandle((intptr_t)h, (flags & O_WRONLY) ? 0 : _O_RDONLY);
  if (fd < 0) {
    CloseHandle(h);
    errno = EMFILE;
    return -1;
  }
  if (fd >= FD_SLOTS) { /* beyond the table: its locks could not be kept */
    _close(fd);
    errno = EMFILE;
    return -1;
  }
  _setmode(fd, _O_BINARY);
  remember_path(fd, path);
  return fd;
}

int ws_win_open(const char *path, int flags, ...) {
  wchar_t *w = wide(path);
  if (w == NULL) return -1;
  int fd = open_wide(w, flags);
  free(w);
  return fd;
}

int ws_win_openat(int dirfd, const char *name, int flags, ...) {
  wchar_t *w = at_path(dirfd, name);
  if (w == NULL) return -1;
  int fd = open_wide(w, flags);
  free(w);
  return fd;
}

int ws_win_close(int fd) {
  release_locks(fd);
  if (fd >= 0 && fd < FD_SLOTS) {
    AcquireSRWLockExclusive(&fds_guard);
    free(fds[fd].path);
    fds[fd].path = NULL;
    ReleaseSRWLockExclusive(&fds_guard);
  }
  return _close(fd);
}

int ws_win_fsync(int fd) {
  HANDLE h = handle_of(fd);
  if (h == INVALID_HANDLE_VALUE) {
    errno = EBADF;
    return -1;
  }
  if (FlushFileBuffers(h)) return 0;
  /* A directory opened for reading cannot be flushed: the core takes
   * EINVAL as a filesystem that cannot sync dirs. */
  if (is_directory(h)) {
    errno = EINVAL;
    return -1;
  }
  return fail_win();
}

/* ---- names ---- */

/* Renames the file open on h (with delete access) to `to`, which must not
 * exist. 1 when done. */
static int move_open_handle(HANDLE h, const wchar_t *to) {
  size_t n = wcslen(to);
  size_t size = sizeof(FILE_RENAME_INFO) + n * sizeof(wchar_t);
  FILE_RENAME_INFO *info = calloc(1, size);
  if (info == NULL) return 0;
  info->ReplaceIfExists = FALSE;
  info->FileNameLength = (DWORD)(n * sizeof(wchar_t));
  memcpy(info->FileName, to, n * sizeof(wchar_t));
  BOOL ok = SetFileInformationByHandle(h, FileRenameInfo, info, (DWORD)size);
  free(info);
  return ok != 0;
}

/* Where Windows lacks POSIX semantics (before Windows 10 1809, other
 * filesystems than NTFS, Wine), a removed file that a reader holds open
 * keeps its name until the reader closes it, and a rename cannot replace
 * it. Moving it aside first frees the name at once. The aside name is a
 * temp name of this process ("<name>.tmp.<pid>.<nonce>.0.<host token>"):
 * while it lasts, readers take a meta's as a writer at work on the entry,
 * and if we die before it goes, the sweep removes it as a dead writer's. */
static wchar_t *aside_name(const wchar_t *path) {
  char suffix[128];
  snprintf(suffix, sizeof suffix, ".tmp.%lu.%llu.0.%s",
           (unsigned long)GetCurrentProcessId(),
           (unsigned long long)ws_unique_ns(ws_real_now_ns()), ws_host_token());
  size_t n = wcslen(path), ns = strlen(suffix);
  wchar_t *out = malloc((n + ns + 1) * sizeof *out);
  if (out == NULL) return NULL;
  memcpy(out, path, n * sizeof *out);
  for (size_t i = 0; i <= ns; i++) out[n + i] = (wchar_t)suffix[i];
  return out;
}

/* Antivirus scanners, indexers and backup tools open new files for a
 * moment without delete sharing; a rename or removal that meets one is
 * tried again, a few times, before it fails (as SQLite does on Windows). */
#define BUSY_RETRIES 10
#define BUSY_PAUSE_MS 25

static int busy(DWORD e) {
  return e == ERROR_SHARING_VIOLATION || e == ERROR_LOCK_VIOLATION;
}

/* A handle with delete access to path (not following a final link),
 * waiting out another program's brief hold. */
static HANDLE open_for_delete(const wchar_t *path, DWORD access) {
  for (int i = 0;; i++) {
    HANDLE h = open_handle(path, DELETE | access, SHARE_ALL, OPEN_EXISTING, 0);
    if (h != INVALID_HANDLE_VALUE || !busy(GetLastError()) || i == BUSY_RETRIES)
      return h;
    Sleep(BUSY_PAUSE_MS);
  }
}

/* Marks the file open on h for deletion: with POSIX semantics where the
 * filesystem has them (the name goes at once), else the classic way (the
 * name goes with the last handle). 0, or -1 with errno. */
/* The POSIX delete: with "ignore the read-only attribute" (Windows 10
 * 1809 on), else without it (1709 to 1803 refuse the flag). TRUE when
 * done; GetLastError() says why not. */
static BOOL delete_posix(HANDLE h) {
  DWORD ex = WS_DISPOSITION_DELETE | WS_DISPOSITION_POSIX | WS_DISPOSITION_IGNORE_READONLY;
  if (SetFileInformationByHandle(h, WS_FILE_DISPOSITION_INFO_EX, &ex, sizeof ex))
    return TRUE;
  if (GetLastError() != ERROR_INVALID_PARAMETER) return FALSE;
  ex = WS_DISPOSITION_DELETE | WS_DISPOSITION_POSIX;
  return SetFileInformationByHandle(h, WS_FILE_DISPOSITION_INFO_EX, &ex, sizeof ex);
}

static int mark_deleted(HANDLE h) {
  if (delete_posix(h)) return 0;
  if (GetLastError() == ERROR_DIR_NOT_EMPTY) return fail_win();
  FILE_DISPOSITION_INFO old;
  old.DeleteFile = TRUE;
  return SetFileInformationByHandle(h, FileDispositionInfo, &old, sizeof old)
             ? 0 : fail_win();
}

static int posix_delete_refused(HANDLE h) {
  if (delete_posix(h)) return 0;
  DWORD e = GetLastError();
  return e == ERROR_INVALID_PARAMETER || e == ERROR_NOT_SUPPORTED ||
                 e == ERROR_INVALID_FUNCTION
             ? 1 : -1;
}

/* Removes a name, with POSIX semantics where the filesystem has them: the
 * name goes at once even while a reader holds the file open (it keeps its
 * bytes), so a writer can create the name again. Without them a file is
 * moved aside first (its aside name goes with its last reader) and put
 * back if it then cannot be deleted. */
static int remove_wide(const wchar_t *path, int want_dir) {
  HANDLE h = open_for_delete(path, FILE_READ_ATTRIBUTES);
  if (h == INVALID_HANDLE_VALUE) return fail_win();
  BY_HANDLE_FILE_INFORMATION info;
  int err = 0;
  if (!opened_as(path, h)) {
    err = ELOOP; /* a link followed: what it leads to is not ours */
  } else if (!GetFileInformationByHandle(h, &info)) {
    err = last_errno();
  } else {
    /* A junction is removed as the link it is, not as a dir. */
    int is_dir = (info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) &&
                 !is_link(h, info.dwFileAttributes);
    if (is_dir && !want_dir)
      err = EISDIR;
    else if (!is_dir && want_dir)
      err = ENOTDIR;
  }
  if (err == 0) {
    int refused = posix_delete_refused(h);
    if (refused < 0) {
      err = last_errno(); /* a dir not empty, say */
    } else if (refused > 0) {
      /* No POSIX semantics. A dir: the classic delete (nobody reads a
       * dir's name after its removal). A file: aside first. */
      wchar_t *aside = want_dir ? NULL : aside_name(path);
      int moved = aside != NULL && move_open_handle(h, aside);
      if (mark_deleted(h) != 0) {
        err = errno;
        if (moved) (void)move_open_handle(h, path); /* put it back */
      }
      free(aside);
    }
  }
  CloseHandle(h);
  if (err != 0) {
    errno = err;
    return -1;
  }
  return 0;
}

int ws_win_unlink(const char *path) {
  wchar_t *w = wide(path);
  if (w == NULL) return -1;
  int rc = remove_wide(w, 0);
  free(w);
  return rc;
}

int ws_win_unlinkat(int dirfd, const char *name, int flags) {
  wchar_t *w = at_path(dirfd, name);
  if (w == NULL) return -1;
  int rc = remove_wide(w, flags != 0);
  free(w);
  return rc;
}

int ws_win_rmdir(const char *path) {
  wchar_t *w = wide(path);
  if (w == NULL) return -1;
  HANDLE held = exclusive_dir_handle(w);
  int rc;
  if (held != NULL) {
    /* Our exclusive lock denies delete sharing to everyone, us included:
     * remove through the lock's own handle. */
    rc = mark_deleted(held);
  } else {
    rc = remove_wide(w, 1);
  }
  free(w);
  return rc;
}

int ws_win_mkdir(const char *path, unsigned int mode) {
  (void)mode; /* no permission bits; the dir inherits its parent's ACL */
  wchar_t *w = wide(path);
  if (w == NULL) return -1;
  int rc = CreateDirectoryW(w, NULL) ? 0 : fail_win();
  free(w);
  return rc;
}

/* Replacing a name that a reader holds open fails with MoveFileExW
 * (access denied, even with delete sharing); a rename with POSIX semantics
 * replaces it as rename(2) does, where the filesystem has them. */
static int rename_posix(const wchar_t *from, const wchar_t *to) {
  HANDLE h = open_handle(from, DELETE | SYNCHRONIZE, SHARE_ALL, OPEN_EXISTING, 0);
  if (h == INVALID_HANDLE_VALUE) return fail_win();
  size_t n = wcslen(to);
  size_t size = sizeof(FILE_RENAME_INFO) + n * sizeof(wchar_t);
  FILE_RENAME_INFO *info = calloc(1, size);
  int rc = -1;
  if (info == NULL) {
    errno = ENOMEM;
  } else {
    /* Flags share the union with ReplaceIfExists; FileRenameInfoEx reads
     * them as flags. */
    info->Flags = WS_RENAME_REPLACE | WS_RENAME_POSIX;
    info->FileNameLength = (DWORD)(n * sizeof(wchar_t));
    memcpy(info->FileName, to, n * sizeof(wchar_t));
    rc = SetFileInformationByHandle(h, WS_FILE_RENAME_INFO_EX, info, (DWORD)size)
             ? 0 : fail_win();
    free(info);
  }
  int saved = errno;
  CloseHandle(h);
  errno = saved;
  return rc;
}

static int move_replacing(const wchar_t *from, const wchar_t *to) {
  for (int i = 0;; i++) {
    if (MoveFileExW(from, to, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH))
      return 1;
    DWORD e = GetLastError();
    if (i == BUSY_RETRIES || !busy(e) ||
        /* access denied on an existing target: a reader holds it, which
         * no wait of ours ends; the callers below deal with that */
        e == ERROR_ACCESS_DENIED)
      return 0;
    Sleep(BUSY_PAUSE_MS);
  }
}

/* rename(2): atomic, and replacing a target that readers hold open. */
static int replace_wide(const wchar_t *from, const wchar_t *to) {
  if (move_replacing(from, to)) return 0;
  DWORD e = GetLastError();
  if (e != ERROR_ACCESS_DENIED && e != ERROR_SHARING_VIOLATION)
    return (errno = errno_of(e), -1);
  /* A reader holds the target open. */
  if (rename_posix(from, to) == 0) return 0;
  if (errno != EINVAL && errno != ENOTSUP) return -1;
  /* No POSIX semantics: move the target aside (its readers keep it), then
   * rename, and only then delete the old one; if the rename fails, the old
   * one goes back. For that moment the name is missing: readers take a
   * missing payload beside a writer's meta temp, or a meta's aside name,
   * as an entry being written, and do not judge it. The source is opened
   * first (waiting out a scanner that holds it), so that the moment is
   * two renames of open handles long. */
  HANDLE src = open_for_delete(from, SYNCHRONIZE);
  if (src == INVALID_HANDLE_VALUE) return fail_win();
  HANDLE h = open_handle(to, DELETE | SYNCHRONIZE, SHARE_ALL, OPEN_EXISTING, 0);
  if (h == INVALID_HANDLE_VALUE) {
    /* the target went meanwhile: a plain rename now */
    int rc = move_open_handle(src, to) ? 0 : fail_win();
    CloseHandle(src);
    return rc;
  }
  wchar_t *aside = aside_name(to);
  int rc = -1;
  if (aside == NULL) {
    errno = ENOMEM;
  } else if (!move_open_handle(h, aside)) {
    fail_win();
  } else if (move_open_handle(src, to)) {
    (void)mark_deleted(h); /* goes when its last reader closes it */
    rc = 0;
  } else {
    int saved = last_errno();
    (void)move_open_handle(h, to); /* the old entry stays */
    errno = saved;
  }
  CloseHandle(h);
  CloseHandle(src);
  free(aside);
  return rc;
}

int ws_win_renameat(int olddirfd, const char *oldname, int newdirfd,
                    const char *newname) {
  wchar_t *from = at_path(olddirfd, oldname);
  wchar_t *to = from == NULL ? NULL : at_path(newdirfd, newname);
  if (to == NULL) {
    free(from);
    return -1;
  }
  /* The source must be what its path names (see opened_as); the rename
   * itself goes by path, as MoveFileExW does. */
  int rc = 0;
  HANDLE src = open_handle(from, FILE_READ_ATTRIBUTES, SHARE_ALL, OPEN_EXISTING, 0);
  if (src == INVALID_HANDLE_VALUE) {
    rc = fail_win();
  } else {
    if (!opened_as(from, src)) {
      errno = ELOOP;
      rc = -1;
    }
    CloseHandle(src);
  }
  if (rc == 0) rc = replace_wide(from, to);
  free(from);
  free(to);
  return rc;
}

int ws_win_faccessat(int dirfd, const char *name, int mode, int flags) {
  (void)mode;
  (void)flags;
  /* No write bit to test: a read-only volume shows when writing, and the
   * core treats that as it does a read-only store. */
  struct ws_win_stat st;
  return ws_win_fstatat(dirfd, name, &st, 0);
}

ssize_t ws_win_readlink(const char *path, char *buf, size_t cap) {
  (void)path;
  (void)buf;
  (void)cap;
  errno = EINVAL; /* /proc does not exist; nothing here reads links */
  return -1;
}

char *ws_win_realpath(const char *path, char *resolved) {
  wchar_t *w = wide(path);
  if (w == NULL) return NULL;
  HANDLE h = open_handle(w, FILE_READ_ATTRIBUTES, SHARE_ALL, OPEN_EXISTING, 1);
  if (h == INVALID_HANDLE_VALUE) {
    free(w);
    fail_win();
    return NULL;
  }
  /* Links resolved; where Windows cannot say (Wine past MAX_PATH), the
   * path made absolute. */
  DWORD n = GetFinalPathNameByHandleW(h, NULL, 0, FILE_NAME_NORMALIZED);
  wchar_t *buf = n == 0 ? NULL : malloc((n + 1) * sizeof *buf);
  if (buf != NULL) {
    DWORD got = GetFinalPathNameByHandleW(h, buf, n, FILE_NAME_NORMALIZED);
    if (got == 0 || got >= n) {
      free(buf);
      buf = NULL;
    }
  }
  CloseHandle(h);
  if (buf == NULL) {
    n = GetFullPathNameW(w, 0, NULL, NULL);
    buf = n == 0 ? NULL : malloc((n + 1) * sizeof *buf);
    if (buf != NULL && GetFullPathNameW(w, n, buf, NULL) == 0) {
      free(buf);
      buf = NULL;
    }
  }
  free(w);
  if (buf == NULL) {
    errno = ENAMETOOLONG;
    return NULL;
  }
  /* "\\?\C:\dir" to "C:/dir", "\\?\UNC\host\share" to "//host/share". */
  wchar_t *p = buf;
  if (wcsncmp(p, L"\\\\?\\UNC\\", 8) == 0) {
    p += 6;
    p[0] = L'\\';
  } else if (wcsncmp(p, L"\\\\?\\", 4) == 0) {
    p += 4;
  }
  for (wchar_t *q = p; *q; q++)
    if (*q == L'\\') *q = L'/';
  int rc = utf8(p, resolved, PATH_MAX);
  free(buf);
  return rc == 0 ? resolved : NULL;
}

/* ---- listings ---- */

/* Read through a handle of the directory itself (FileIdBothDirectoryInfo),
 * not FindFirstFileW: that opens the directory again with a share mode of
 * its own, which the exclusive lock's delete access can refuse (Wine's
 * does), and the listing is of the very dir the descriptor holds. */
struct ws_win_dir {
  HANDLE dir;
  int restart;     /* the next read starts over */
  int done;        /* no more entries */
  size_t next;     /* offset of the next record in buf, or SIZE_MAX */
  unsigned char buf[64 * 1024] __attribute__((aligned(8)));
  struct ws_win_dirent ent;
};

static ws_win_dir *listing_of(HANDLE h /* taken */) {
  ws_win_dir *d = malloc(sizeof *d);
  if (d == NULL) {
    CloseHandle(h);
    errno = ENOMEM;
    return NULL;
  }
  d->dir = h;
  ws_win_rewinddir(d);
  return d;
}

ws_win_dir *ws_win_opendir(const char *path) {
  wchar_t *w = wide(path);
  if (w == NULL) return NULL;
  HANDLE h = open_handle(w, FILE_LIST_DIRECTORY | SYNCHRONIZE, SHARE_ALL,
                         OPEN_EXISTING, 1);
  free(w);
  if (h == INVALID_HANDLE_VALUE) {
    fail_win();
    return NULL;
  }
  if (!is_directory(h)) {
    CloseHandle(h);
    errno = ENOTDIR;
    return NULL;
  }
  return listing_of(h);
}

ws_win_dir *ws_win_fdopendir(int fd) {
  /* A handle of our own, so that closedir does not depend on the fd. */
  HANDLE h = handle_of(fd), mine = NULL;
  if (h == INVALID_HANDLE_VALUE ||
      !DuplicateHandle(GetCurrentProcess(), h, GetCurrentProcess(), &mine, 0,
                       FALSE, DUPLICATE_SAME_ACCESS)) {
    errno = EBADF;
    return NULL;
  }
  ws_win_dir *d = listing_of(mine);
  if (d != NULL) ws_win_close(fd); /* fdopendir takes the descriptor */
  return d;
}

void ws_win_rewinddir(ws_win_dir *d) {
  d->restart = 1;
  d->done = 0;
  d->next = SIZE_MAX;
}

struct ws_win_dirent *ws_win_readdir(ws_win_dir *d) {
  for (;;) {
    if (d->done) return NULL;
    if (d->next == SIZE_MAX) {
      FILE_INFO_BY_HANDLE_CLASS cls = d->restart ? FileIdBothDirectoryRestartInfo
                                                 : FileIdBothDirectoryInfo;
      d->restart = 0;
      if (!GetFileInformationByHandleEx(d->dir, cls, d->buf, sizeof d->buf)) {
        DWORD e = GetLastError();
        d->done = 1;
        if (e != ERROR_NO_MORE_FILES) errno = errno_of(e);
        return NULL; /* the end, or an error with errno set */
      }
      d->next = 0;
    }
    FILE_ID_BOTH_DIR_INFO *rec = (FILE_ID_BOTH_DIR_INFO *)(d->buf + d->next);
    d->next = rec->NextEntryOffset == 0 ? SIZE_MAX : d->next + rec->NextEntryOffset;
    size_t chars = rec->FileNameLength / sizeof(wchar_t);
    int n = chars > NAME_MAX ? 0
            : WideCharToMultiByte(CP_UTF8, 0, rec->FileName, (int)chars,
                                  d->ent.d_name, (int)sizeof d->ent.d_name - 1,
                                  NULL, NULL);
    if (n > 0) {
      d->ent.d_name[n] = '\0';
      return &d->ent;
    }
    /* a name too long for NAME_MAX: not one of ours, skip it */
  }
}

int ws_win_closedir(ws_win_dir *d) {
  if (d == NULL) return 0;
  CloseHandle(d->dir);
  free(d);
  return 0;
}

/* ---- processes and host ---- */

int ws_win_kill(long pid, int sig) {
  if (sig != 0) {
    errno = EINVAL;
    return -1;
  }
  HANDLE p = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, (DWORD)pid);
  if (p == NULL) {
    DWORD e = GetLastError();
    errno = e == ERROR_ACCESS_DENIED ? EPERM : ESRCH;
    return -1;
  }
  DWORD code = 0;
  BOOL ok = GetExitCodeProcess(p, &code);
  CloseHandle(p);
  /* An exited process lives on as an object while handles to it are open
   * (like a zombie): it is not a live writer. */
  if (ok && code != STILL_ACTIVE) {
    errno = ESRCH;
    return -1;
  }
  return 0;
}

int ws_win_raise(int sig) {
  if (sig == SIGKILL) TerminateProcess(GetCurrentProcess(), 137);
  if (sig == SIGSTOP)
    for (;;) Sleep(INFINITE); /* a hung writer: never returns */
  return raise(sig);
}

int ws_win_gethostname(char *buf, size_t cap) {
  wchar_t w[256];
  DWORD n = 256;
  if (!GetComputerNameExW(ComputerNameDnsHostname, w, &n)) return fail_win();
  return utf8(w, buf, cap);
}

/* This machine's install id (MachineGuid, set when Windows is installed
 * or a cloned image is sysprepped): two machines with one hostname, such
 * as clones of a VM image, then still differ. "" when absent. */
static void machine_guid(char *buf, size_t cap) {
  wchar_t w[64];
  DWORD size = sizeof w;
  buf[0] = '\0';
  if (RegGetValueW(HKEY_LOCAL_MACHINE, L"SOFTWARE\\Microsoft\\Cryptography",
                   L"MachineGuid", RRF_RT_REG_SZ | RRF_SUBKEY_WOW6464KEY, NULL,
                   w, &size) == ERROR_SUCCESS)
    (void)utf8(w, buf, cap);
}

void ws_win_boot_id(char *buf, size_t cap) {
  char guid[160];
  machine_guid(guid, sizeof guid);
  /* Windows counts its boots in the registry (Windows 8 and later). */
  DWORD id = 0, size = sizeof id;
  if (RegGetValueW(HKEY_LOCAL_MACHINE,
                   L"SYSTEM\\CurrentControlSet\\Control\\Session Manager\\"
                   L"Memory Management\\PrefetchParameters",
                   L"BootId", RRF_RT_REG_DWORD, NULL, &id, &size) == ERROR_SUCCESS) {
    snprintf(buf, cap, "%s:bootid-%lu", guid, (unsigned long)id);
    return;
  }
  /* Elsewhere (Wine), the boot time to the minute: two processes that
   * round it differently get different tokens and judge each other's
   * temps by age, which is safe. */
  uint64_t now = ws_real_now_ns() / UINT64_C(1000000000);
  uint64_t up = GetTickCount64() / 1000;
  snprintf(buf, cap, "%s:boot-%llu", guid, (unsigned long long)((now - up) / 60));
}

ws_win_id ws_win_geteuid(void) { return WS_WIN_UID; }

int ws_win_fchmod(int fd, unsigned int mode) {
  (void)fd;
  (void)mode; /* no permission bits: the ACL inherited from the root rules */
  return 0;
}

int ws_win_getpwuid_r(ws_win_id uid, struct passwd *pw, char *buf, size_t cap,
                      struct passwd **res) {
  (void)uid; (void)pw; (void)buf; (void)cap;
  *res = NULL;
  return 0;
}

int ws_win_getgrgid_r(ws_win_id gid, struct group *gr, char *buf, size_t cap,
                      struct group **res) {
  (void)gid; (void)gr; (void)buf; (void)cap;
  *res = NULL;
  return 0;
}

/* ---- SHA-256 and HMAC-SHA256 through CNG ---- */

struct ws_sha256 {
  BCRYPT_HASH_HANDLE hash;
};

static BCRYPT_ALG_HANDLE algorithm(int hmac) {
  /* Provider handles are meant to be opened once and shared (thread-safe);
   * InitOnce makes the first use safe from two threads. */
  static INIT_ONCE once[2] = {INIT_ONCE_STATIC_INIT, INIT_ONCE_STATIC_INIT};
  static BCRYPT_ALG_HANDLE alg[2];
  BOOL pending;
  if (!InitOnceBeginInitialize(&once[hmac], 0, &pending, NULL)) return NULL;
  if (pending) {
    BCRYPT_ALG_HANDLE a = NULL;
    if (BCryptOpenAlgorithmProvider(&a, BCRYPT_SHA256_ALGORITHM, NULL,
                                    hmac ? BCRYPT_ALG_HANDLE_HMAC_FLAG : 0) < 0)
      a = NULL;
    alg[hmac] = a;
    InitOnceComplete(&once[hmac], 0, NULL);
  }
  return alg[hmac];
}

ws_sha256 *ws_sha256_new(void) {
  BCRYPT_ALG_HANDLE a = algorithm(0);
  ws_sha256 *h = calloc(1, sizeof *h);
  if (a == NULL || h == NULL ||
      BCryptCreateHash(a, &h->hash, NULL, 0, NULL, 0, 0) < 0) {
    free(h);
    return NULL;
  }
  return h;
}

int ws_sha256_update(ws_sha256 *h, const void *data, size_t n) {
  const unsigned char *p = data;
  while (n > 0) { /* BCryptHashData takes a ULONG length */
    ULONG part = n > (1u << 30) ? (1u << 30) : (ULONG)n;
    if (BCryptHashData(h->hash, (PUCHAR)p, part, 0) < 0) return -1;
    p += part;
    n -= part;
  }
  return 0;
}

int ws_sha256_final(ws_sha256 *h, unsigned char out[32]) {
  return BCryptFinishHash(h->hash, out, 32, 0) < 0 ? -1 : 0;
}

void ws_sha256_free(ws_sha256 *h) {
  if (h == NULL) return;
  if (h->hash != NULL) BCryptDestroyHash(h->hash);
  free(h);
}

int ws_sha256_hex(const void *data, size_t n, char out[WS_CHECKSUM_HEX + 1]) {
  unsigned char md[32];
  ws_sha256 *h = ws_sha256_new();
  int rc = (h == NULL || ws_sha256_update(h, data, n) != 0 ||
            ws_sha256_final(h, md) != 0) ? -1 : 0;
  ws_sha256_free(h);
  if (rc == 0) ws_hex(md, 32, out);
  return rc;
}

int ws_hmac_sha256(const void *key, size_t key_n, const void *data, size_t n,
                   unsigned char out[32]) {
  BCRYPT_ALG_HANDLE a = algorithm(1);
  BCRYPT_HASH_HANDLE h = NULL;
  if (a == NULL || key_n > ULONG_MAX || n > ULONG_MAX ||
      BCryptCreateHash(a, &h, NULL, 0, (PUCHAR)key, (ULONG)key_n, 0) < 0)
    return -1;
  int rc = (BCryptHashData(h, (PUCHAR)data, (ULONG)n, 0) < 0 ||
            BCryptFinishHash(h, out, 32, 0) < 0) ? -1 : 0;
  BCryptDestroyHash(h);
  return rc;
}

#endif /* _WIN32 */
