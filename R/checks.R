# Argument checks. Each names the argument and what it must be, and runs
# before anything touches the disk. `call` is the user-facing function.

check_store <- function(store, call = sys.call(-1)) {
  if (!inherits(store, "ws_store") || typeof(store) != "externalptr") {
    stop_arg("`store` must be a warmstart store created by ws_open()", "store",
             call)
  }
}

check_string <- function(x, arg, call = sys.call(-1)) {
  if (!is.character(x) || length(x) != 1L || is.na(x) || !nzchar(x)) {
    stop_arg(sprintf("`%s` must be a single non-empty string, not %s",
                     arg, describe(x)), arg, call)
  }
}

check_key <- function(key, call = sys.call(-1)) {
  check_string(key, "key", call)
  # Not the regex "^[0-9a-f]{32,128}$": R compiles it on every call, and
  # its bounded repeat made this check 140 us, four times a save's work.
  n <- nchar(key, type = "bytes")
  if (n < 32L || n > 128L || grepl("[^0-9a-f]", key)) {
    stop_arg(sprintf(paste0("`key` must be 32 to 128 lowercase hexadecimal ",
                            "characters (as made by ws_key()), not \"%s\""),
                     substr(key, 1L, 80L)), "key", call)
  }
}

check_flag <- function(x, arg, call = sys.call(-1)) {
  if (!is.logical(x) || length(x) != 1L || is.na(x)) {
    stop_arg(sprintf("`%s` must be TRUE or FALSE, not %s", arg, describe(x)),
             arg, call)
  }
}

check_nonneg <- function(x, arg, call = sys.call(-1)) {
  if (!is.numeric(x) || length(x) != 1L || is.na(x) || x < 0) {
    stop_arg(sprintf("`%s` must be a single number >= 0 (Inf allowed), not %s",
                     arg, describe(x)), arg, call)
  }
}

describe <- function(x) {
  if (is.null(x)) return("NULL")
  if (length(x) != 1L) {
    return(sprintf("a %s vector of length %d", class(x)[1L], length(x)))
  }
  if (is.atomic(x)) {
    return(if (is.na(x)) sprintf("NA (%s)", typeof(x)) else
      sprintf("%s %s", class(x)[1L], encodeString(format(x), quote = "\"")))
  }
  sprintf("a %s", class(x)[1L])
}
