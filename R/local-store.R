# A store for one test, in the style of testthat's and withr's local_*()
# helpers: the root the user chose (on CI, the cached WARMSTART_DIR) so that
# the next run finds this run's fits, else a throwaway root under tempdir()
# removed when the calling frame ends.
#' A store for a test: the CI cache, or a throwaway one
#'
#' @description
#' For the tests of a package that uses warmstart, in the style of
#' `withr::local_tempfile()`: opens the store the user chose (on CI, the
#' directory named by \env{WARMSTART_DIR}, which the CI system caches from
#' one run to the next) or, when none was chosen, a throwaway store under
#' `tempdir()` that is removed when the calling test (or function) ends.
#'
#' @param size_budget,ttl,durable,memory_cache As for
#' [ws_open()].
#' @param .local_envir The environment whose end removes a throwaway store:
#' by default the caller's, so a call in a `testthat::test_that()` block
#' lasts for that test and a call at the top of a test file for that file.
#'
#' @details
#' The store is, by priority:
#'
#' 1. the root chosen by `options(warmstart.dir = )` or the
#'   environment variable \env{WARMSTART_DIR} (the first two rules of
#'   [ws_open()]), which is kept: nothing is removed from it;
#' 2. otherwise a new directory under `tempdir()`, removed with
#'   everything in it when `.local_envir` ends. At top level (the
#'   console, a script, a knitr chunk) there is no end to wait for: the store
#'   stays until the session removes its `tempdir()`.
#'
#' So a test suite writes nothing outside `tempdir()` (CRAN's rule) unless
#' the person running it asked for a store, and a CI job that sets
#' \env{WARMSTART_DIR} and caches that directory starts each run with the fits
#' of the last one: [ws_gam()] returns them without fitting.
#'
#' Tests should not expect a given mode (`"cold"`, `"warm"` or
#' `"hit"`) from `ws_gam()`: which one they get depends on what the
#' CI cache holds. Every entry is verified before it is used, so a stale or
#' damaged cache costs a refit, never a wrong result (see
#' `vignette("ci", package = "warmstart")`).
#'
#' @return A `ws_store` (see [ws_open()]).
#'
#' @seealso [ws_open()], [ws_gam()],
#' `vignette("ci", package = "warmstart")`
#' @family caching functions
#'
#' @examples
#' fit_twice <- function() {
#'   store <- local_ws_store()    # removed when fit_twice() returns
#'   key <- ws_key("example")
#'   ws_save(store, key, 1:3, objective = 1, kind = "final")
#'   ws_lookup(store, key)$payload
#' }
#' fit_twice()
#'
#' # A test in a package's tests/testthat/test-fits.R (a package's tests
#' # would fit there: warmstart::ws_gam(y ~ s(x), data, store = store)):
#' if (requireNamespace("testthat", quietly = TRUE)) {
#'   testthat::test_that("the value is computed once, then stored", {
#'     testthat::skip_if_not_installed("warmstart")
#'     store <- warmstart::local_ws_store()
#'     key <- warmstart::ws_key("a slow value")
#'     first <- warmstart::ws_compute(store, key, sqrt(2))
#'     again <- warmstart::ws_compute(store, key, stop("not evaluated"))
#'     testthat::expect_identical(again, first)
#'   })
#' }
#' @export
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
