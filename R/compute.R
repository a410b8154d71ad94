# Single flight: when several processes miss the same key, one computes and
# the others wait for its entry. The claim is a lock on a file in the store
# (src/claim.c) that the kernel releases when its holder dies.

#' Compute a value once across processes
#'
#' @description
#' `ws_compute()` returns the value stored under `key`, or
#' evaluates `expr`, stores its value as a final entry and returns it.
#' When several processes (`parallel::mclapply()` workers, `callr`
#' or `future` workers, batch jobs on one shared filesystem) miss the
#' same key at once, one of them evaluates `expr` while the others wait
#' for its entry and return it: single flight.
#'
#' `ws_memoise()` does the same for a function, as
#' `memoise::memoise()` does: the key is made of the function (its
#' formals and body) and the values of all its arguments, defaults included.
#'
#' @param store A store from [ws_open()].
#' @param key A key from [ws_key()].
#' @param expr The expression whose value is wanted; evaluated only when
#' no value is stored under `key` and no other process is computing
#' it (or stopped computing it: see Details).
#' @param timeout Seconds to wait for another process's value before
#' computing it anyway.
#' @param f A function.
#'
#' @return `ws_compute()`: the value. `ws_memoise()`: a function with the
#' arguments of `f`.
#'
#' @details
#' The process that computes holds a claim: an exclusive lock on a file in
#' the store (`.warmstart/claims/<key>`). The operating system releases
#' it when its holder ends, however it ends, so:
#'
#' * if the holder stores its value, the waiters return it;
#' * if the holder's `expr` raises an error (the claim is let go at
#'   once) or the process is killed, one waiter takes the claim within a
#'   quarter of a second and computes the value itself;
#' * a waiter never waits longer than `timeout`: then it computes.
#'
#' Waiting is interruptible. Where the filesystem has no locks, or keeps
#' them to one client (sshfs), every process computes: never a deadlock
#' and never a wrong value. On NFS the lock is the server's, so claims hold
#' across hosts. A store that cannot hold claims (read-only) computes
#' without one.
#'
#' As with `memoise::memoise()`, the arguments of a memoised function
#' are evaluated twice on a miss (once for the key, once by the call), and
#' values that [ws_key()] cannot hash (environments,
#' connections) are an error. The function's environment is not part of the
#' key: a function that reads a global variable returns the value stored for
#' the first one.
#'
#' [ws_gam()] uses the same mechanism for its exact key.
#'
#' @seealso [ws_gam()], [ws_cachem()].
#' @family caching functions
#'
#' @examples
#' store <- ws_open(file.path(tempdir(), "compute-example"))
#' key <- ws_key("a slow value", 1)
#' ws_compute(store, key, {
#'   Sys.sleep(0.1)
#'   sqrt(2)
#' })
#' ws_compute(store, key, stop("not evaluated: the value is stored"))
#'
#' slow_square <- ws_memoise(function(x) {
#'   Sys.sleep(0.1)
#'   x^2
#' }, store)
#' slow_square(3)
#' slow_square(3) # from the store
#' @export
ws_compute <- function(store, key, expr, timeout = 600) {
  check_store(store)
  .Call(C_ws_check_key, key)
  check_nonneg(timeout, "timeout")
  computed <- compute_once(store, key, function() expr, timeout)
  computed$value
}

# The single-flight loop, for ws_compute(), ws_memoise() and ws_gam().
# compute() returns the value to store; keep(value) says whether a stored
# value is one to return (ws_gam() returns only fits). Returns list(value,
# how) where how is "hit" (stored before), "waited" (stored by another
# process while this one waited), or "computed".
compute_once <- function(store, key, compute, timeout,
                         keep = function(value) TRUE,
                         save = function(value) save_final(store, key, value)) {
  stored <- function() {
    # Verified bytes this R cannot decode are as good as none: compute,
    # and the new entry (newer, no worse) is the one found next time.
    e <- tryCatch(lookup_value(store, key), ws_decode_error = function(e) NULL)
    if (!is.null(e) && identical(e$kind, "final") && keep(e$payload)) e else NULL
  }
  e <- stored()
  if (!is.null(e)) return(list(value = e$payload, how = "hit", entry = e))
  deadline <- Sys.time() + timeout
  nap <- 0.01
  waited <- FALSE
  repeat {
    claim <- tryCatch(.Call(C_ws_claim, store, key),
                      # A store that cannot hold claims (read-only): compute.
                      ws_io_error = function(e) "unclaimable")
    if (!is.null(claim)) {
      # Ours: nobody else computes it. Someone may have stored it between
      # our lookup and our claim.
      on.exit(.Call(C_ws_release, claim), add = TRUE)
      e <- stored()
      if (!is.null(e)) {
        return(list(value = e$payload, how = if (waited) "waited" else "hit",
                    entry = e))
      }
      value <- compute()
      save(value)
      return(list(value = value, how = "computed", entry = NULL))
    }
    # Another live process computes it: wait for its entry, or its claim.
    waited <- TRUE
    if (Sys.time() >= deadline) {
      value <- compute()
      save(value)
      return(list(value = value, how = "computed", entry = NULL))
    }
    Sys.sleep(nap)
    nap <- min(nap * 2, 0.25)
    e <- stored()
    if (!is.null(e)) return(list(value = e$payload, how = "waited", entry = e))
  }
}

# A value is worth returning even when the store cannot keep it (full disk,
# read-only store): say so and go on.
save_final <- function(store, key, value) {
  tryCatch(ws_save(store, key, value, kind = "final"),
           ws_error = function(e) {
             warning(sprintf("warmstart: could not save to the store: %s",
                             conditionMessage(e)), call. = FALSE)
           })
  invisible(NULL)
}

#' @rdname ws_compute
#' @export
ws_memoise <- function(f, store = ws_open(), timeout = 600) {
  if (!is.function(f)) {
    stop_arg(sprintf("`f` must be a function, not %s", describe(f)), "f")
  }
  check_store(store)
  check_nonneg(timeout, "timeout")
  f_key <- ws_key(f)
  defaults <- formals(args(f))
  memo <- function(...) {
    call <- match.call(expand.dots = TRUE)
    called <- as.list(call)[-1L]
    caller <- parent.frame()
    # The key: the function (its formals and body) and every argument's
    # value, defaults included, as memoise::memoise() does.
    values <- lapply(called, eval, envir = caller)
    named <- if (is.null(names(values))) rep(FALSE, length(values)) else nzchar(names(values))
    missing_defaults <- defaults[setdiff(names(defaults), c(names(values), "..."))]
    defaults_env <- list2env(values[named], parent = environment(f) %||% globalenv())
    args <- c(values, lapply(missing_defaults, eval, envir = defaults_env))
    # One order however they were given: f(3) is f(x = 3, y = 2).
    pos <- match(names(args) %||% rep("", length(args)), names(defaults))
    args <- args[order(is.na(pos), pos)]
    key <- ws_key(what = "ws_memoise", f = f_key, args = args)
    call[[1L]] <- f
    compute_once(store, key, function() eval(call, caller), timeout)$value
  }
  formals(memo) <- formals(args(f))
  structure(memo, class = c("ws_memoised", "function"))
}

#' @export
print.ws_memoised <- function(x, ...) {
  cat("<ws_memoised function>\n")
  invisible(x)
}

`%||%` <- function(x, y) if (is.null(x)) y else x
