# A store for one test, in the style of testthat's and withr's local_*()
# helpers: the root the user chose (on CI, the cached WARMSTART_DIR) so that
# the next run finds this run's fits, else a throwaway root under tempdir()
# removed when the calling frame ends.
local_ws_store <- function(size_budget = 1024^3, ttl = 30 * 86400,
                           durable = TRUE, memory_cache = TRUE,
                           .local_envir = parent.frame()) {
  if (!is.environment(.local_envir)) {
    stop_arg(sprintf("`.local_envir` must be an environment, not %s",
                     describe(.local_envir)), ".local_envir", sys.call())
  }
  root <- chosen_root()
  if (!is.null(root)) {
    return(ws_open(root, size_budget = size_budget, ttl = ttl,
                   durable = durable, memory_cache = memory_cache))
  }
  root <- tempfile("warmstart-")
  store <- ws_open(root, size_budget = size_budget, ttl = ttl,
                   durable = durable, memory_cache = memory_cache)
  defer(unlink(root, recursive = TRUE), .local_envir)
  store
}

# Run `expr` when the frame of `envir` ends (withr::defer() without the
# dependency). At top level there is no frame to end: a script or knitr
# evaluates each expression in its own context, which would run `expr` at
# once, so nothing is deferred there and tempdir() goes with the session.
defer <- function(expr, envir) {
  if (identical(envir, globalenv())) return(invisible(FALSE))
  thunk <- as.call(list(function() expr))
  do.call(base::on.exit, list(thunk, TRUE, FALSE), envir = envir)
  invisible(TRUE)
}
