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

# Keys and run ids are checked in C (glue.c key_arg, run_id_arg), the one
# place that knows what they may be: call .Call(C_ws_check_key, key) directly
# from the user-facing function, so that the condition's call is that
# function.

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
