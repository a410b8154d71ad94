/* Errors as classed R conditions, the way r-lib/ps raises OS errors: the
 * C side fills a ws_error (or names a bad argument) and calls the R
 * function that builds the condition, so every error of the package has
 * the classes "ws_error" and "error", plus "ws_io_error" (fields errno,
 * code and path) or "ws_bad_argument" (field argument). Callers raise only
 * after the core has released everything it held: these never return. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#define R_NO_REMAP
#include <R.h>
#include <Rinternals.h>

#include "glue.h"
#include "core/ws_core.h"

/* The symbolic name of an errno value, so that R code can test for
 * "ENOSPC" without knowing the platform's numbers or its locale's text. */
static const char *errno_code(int e) {
  switch (e) {
  case 0: return "";
  case EPERM: return "EPERM";
  case ENOENT: return "ENOENT";
  case EINTR: return "EINTR";
  case EIO: return "EIO";
  case EBADF: return "EBADF";
  case EAGAIN: return "EAGAIN";
  case ENOMEM: return "ENOMEM";
  case EACCES: return "EACCES";
  case EBUSY: return "EBUSY";
  case EEXIST: return "EEXIST";
  case EXDEV: return "EXDEV";
  case ENOTDIR: return "ENOTDIR";
  case EISDIR: return "EISDIR";
  case EINVAL: return "EINVAL";
  case ENFILE: return "ENFILE";
  case EMFILE: return "EMFILE";
  case EFBIG: return "EFBIG";
  case ENOSPC: return "ENOSPC";
  case EROFS: return "EROFS";
  case EMLINK: return "EMLINK";
  case ENAMETOOLONG: return "ENAMETOOLONG";
  case ENOLCK: return "ENOLCK";
  case ENOTEMPTY: return "ENOTEMPTY";
  case ELOOP: return "ELOOP";
#ifdef EDQUOT
  case EDQUOT: return "EDQUOT";
#endif
#ifdef ESTALE
  case ESTALE: return "ESTALE";
#endif
#ifdef ETIMEDOUT
  case ETIMEDOUT: return "ETIMEDOUT";
#endif
  default: return "";
  }
}

static SEXP str_or_null(const char *s) {
  return s == NULL ? R_NilValue : Rf_mkString(s);
}

/* Calls warmstart:::raise_condition(list(class, message, errno, code,
 * path, argument)); it never returns. The R function is looked up in the
 * namespace, so sys.call(-1) there is the user-facing function that made
 * the .Call. */
static void __attribute__((noreturn))
raise_condition(const char *cls, const char *msg, int errnum,
                const char *path, const char *argument) {
  SEXP ns = PROTECT(R_FindNamespace(Rf_mkString("warmstart")));
  SEXP fun = PROTECT(Rf_findVarInFrame(ns, Rf_install("raise_condition")));
  SEXP info = PROTECT(Rf_allocVector(VECSXP, 6));
  SET_VECTOR_ELT(info, 0, Rf_mkString(cls));
  SET_VECTOR_ELT(info, 1, Rf_mkString(msg));
  SET_VECTOR_ELT(info, 2, Rf_ScalarInteger(errnum));
  SET_VECTOR_ELT(info, 3, Rf_mkString(errno_code(errnum)));
  SET_VECTOR_ELT(info, 4, str_or_null(path));
  SET_VECTOR_ELT(info, 5, str_or_null(argument));
  SEXP call = PROTECT(Rf_lang2(fun, info));
  Rf_eval(call, ns);
  Rf_error("%s", msg); /* not reached: raise_condition() signals */
}

void ws_raise(const ws_error *err) {
  switch (err->cls) {
  case WS_ERR_IO:
    raise_condition("ws_io_error", err->msg, err->errnum, err->path, NULL);
    break;
  case WS_ERR_UNTRUSTED:
    /* The reason ("owner", "group", "others") travels as `argument`. */
    raise_condition("ws_untrusted_store", err->msg, 0, err->path, err->argument);
    break;
  default:
    raise_condition("ws_error", err->msg, err->errnum, NULL, NULL);
  }
}

void ws_raise_arg(const char *argument, const char *fmt, ...) {
  char msg[WS_ERRMSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  raise_condition("ws_bad_argument", msg, 0, NULL, argument);
}

void ws_raise_class(const char *cls, const char *fmt, ...) {
  char msg[WS_ERRMSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  raise_condition(cls, msg, 0, NULL, NULL);
}

void ws_warn(const char *cls, const char *fmt, ...) {
  char msg[WS_ERRMSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  SEXP ns = PROTECT(R_FindNamespace(Rf_mkString("warmstart")));
  SEXP fun = PROTECT(Rf_findVarInFrame(ns, Rf_install("signal_warning")));
  SEXP scls = PROTECT(Rf_mkString(cls)), smsg = PROTECT(Rf_mkString(msg));
  SEXP call = PROTECT(Rf_lang3(fun, scls, smsg));
  Rf_eval(call, ns);
  UNPROTECT(5);
}
