# Every error warmstart raises is a condition of class "ws_error" (and
# "error"), and more precisely one of:
#   ws_bad_argument  bad input; field `argument` names it
#   ws_io_error      a file system failure; fields `errno` (the number),
#                    `code` (its name, e.g. "ENOSPC") and `path`
#   ws_decode_error  verified bytes this R cannot unserialize (kept)
#   ws_untrusted_store  a part of the store that someone not trusted can
#                    write; fields `path` and `reason` ("owner", "group",
#                    "others")
# and one warning class, "ws_unsafe_payload" (entries skipped because their
# R serialization holds a promise outside an environment's frame).
# Handlers and tests check these classes and fields, never the message text,
# which carries the system's (locale-dependent) strerror().

ws_condition <- function(class, message, call = NULL, ...) {
  structure(
    class = unique(c(class, "ws_error", "error", "condition")),
    list(message = message, call = call, ...)
  )
}

stop_arg <- function(message, argument, call = sys.call(-1)) {
  stop(ws_condition("ws_bad_argument", message, call, argument = argument))
}

# Raised from C (src/errors.c) with list(class, message, errno, code, path,
# argument); the caller of .Call is the function the user called.
raise_condition <- function(info) {
  call <- sys.call(-1)
  cls <- info[[1L]]
  cond <- switch(cls,
    ws_io_error = ws_condition(cls, info[[2L]], call, errno = info[[3L]],
                               code = info[[4L]], path = info[[5L]]),
    ws_bad_argument = ws_condition(cls, info[[2L]], call,
                                   argument = info[[6L]]),
    ws_untrusted_store = ws_condition(cls, info[[2L]], call,
                                      path = info[[5L]], reason = info[[6L]]),
    ws_condition(cls, info[[2L]], call, errno = info[[3L]],
                 code = info[[4L]]))
  stop(cond)
}

# A classed warning from C (src/errors.c ws_warn()).
signal_warning <- function(class, message) {
  warning(structure(class = c(class, "warning", "condition"),
                    list(message = message, call = sys.call(-1))))
}
