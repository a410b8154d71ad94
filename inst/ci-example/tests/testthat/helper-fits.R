# The fits of these tests go through warmstart when it is installed: each
# test takes its store from local_fit_store(), which is warmstart's
# local_ws_store() (the CI cache when WARMSTART_DIR is set, else a
# throwaway store removed when the test ends). warmstart is only suggested,
# so without it the store is NULL and the fits are plain mgcv::gam().
local_fit_store <- function(env = parent.frame()) {
  if (requireNamespace("warmstart", quietly = TRUE)) {
    warmstart::local_ws_store(.local_envir = env)
  }
}

# Each fit through warmstart prints "ws_gam fit <label>: <mode> [<root>]",
# by which warmstart's own tests count the hits in this check's output.
fit_gam <- function(label, formula, data, ..., store) {
  if (is.null(store)) return(mgcv::gam(formula, data = data, ...))
  fit <- warmstart::ws_gam(formula, data, ..., store = store)
  cat(sprintf("ws_gam fit %s: %s [%s]\n", label, attr(fit, "warmstart"),
              warmstart::ws_info(store)$root))
  fit
}

simulated <- function(seed, n = 2000, ...) {
  set.seed(seed)
  mgcv::gamSim(1, n = n, verbose = FALSE, ...)
}
