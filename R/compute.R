# Single flight: when several processes miss the same key, one computes and
# the others wait for its entry. The claim is a lock on a file in the store
# (src/claim.c) that the kernel releases when its holder dies.

ws_compute <- function(store, key, expr, timeout = 600) {
  check_store(store)
  check_key(key)
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
    e <- tryCatch(ws_lookup(store, key), ws_decode_error = function(e) NULL)
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

print.ws_memoised <- function(x, ...) {
  cat("<ws_memoised function>\n")
  invisible(x)
}

`%||%` <- function(x, y) if (is.null(x)) y else x
