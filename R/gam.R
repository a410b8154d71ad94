# ws_gam(): memoized and warm-started mgcv fits.
#
# Two keys per call (R/gam_inputs.R). The exact key covers everything the
# fit depends on: a final entry under it is returned without fitting. The
# near key leaves out the data (and arguments sized like the data), so it
# names the model's structure: the latest fit of that structure on any
# data seeds the smoothing-parameter search (R/gam_fit.R).

ws_gam <- function(formula, data, ..., store = ws_open(),
                   fitter = mgcv::gam, timeout = 600) {
  if (!requireNamespace("mgcv", quietly = TRUE)) {
    stop(ws_condition("ws_error", paste0("ws_gam() needs the mgcv package: ",
                                         "install.packages(\"mgcv\")")))
  }
  call <- sys.call()
  caller <- parent.frame()
  if (missing(formula) || !(inherits(formula, "formula") ||
      (is.list(formula) && length(formula) > 0L &&
       all(vapply(formula, inherits, TRUE, "formula"))))) {
    stop_arg("`formula` must be a model formula (or a list of formulas)",
             "formula", call)
  }
  if (missing(data) || !is.list(data)) {
    stop_arg(paste0("`data` must be a data frame (or list) holding every ",
                    "variable of the formula"), "data", call)
  }
  check_store(store, call)
  check_nonneg(timeout, "timeout", call)
  if (!is.function(fitter)) {
    stop_arg(sprintf("`fitter` must be a function such as mgcv::gam or mgcv::bam, not %s",
                     describe(fitter)), "fitter", call)
  }
  exprs <- as.list(substitute(list(...)))[-1L]
  if (length(exprs) > 0L && (is.null(names(exprs)) || any(names(exprs) == ""))) {
    stop_arg("every argument in `...` must be named (e.g. method = \"REML\")",
             "...", call)
  }
  clash <- intersect(names(exprs), c(managed_args, "formula", "data"))
  if (length(clash) > 0L) {
    stop_arg(sprintf("`...` must not set `%s`: ws_gam() sets it", clash[1L]),
             "...", call)
  }
  flavour <- fitter_flavour(fitter)

  # Arguments by value, each evaluated once and where the fitter would:
  # model-frame arguments in the data, then the formula's environment.
  frame_env <- environment(if (inherits(formula, "formula")) formula else formula[[1L]])
  if (is.null(frame_env)) frame_env <- caller
  values <- vector("list", length(exprs))
  names(values) <- names(exprs)
  for (i in seq_along(exprs)) {
    nm <- names(exprs)[i]
    value <- if (flavour %in% c("gam", "bam") && nm %in% model_frame_args) {
      eval(exprs[[i]], data, frame_env)
    } else ...elt(i)
    if (!is.null(value)) values[[nm]] <- value
  }
  values <- values[!vapply(values, is.null, TRUE)]

  inputs <- gam_inputs(formula, data, exprs, values, fitter, flavour, caller,
                       call)
  digests <- input_digests(inputs, call)
  result <- memoized_fit(store, exact_key(digests), function() {
    fit_and_seed(inputs, digests, store, call)
  }, timeout)
  fit <- result$fit
  attr(fit, "warmstart") <- result$mode
  attr(fit, "warmstart_iterations") <- result$iterations
  fit
}

# Exact key -> lookup -> fit -> save: a hit is returned as stored; a miss
# is fitted by fit_fn() and saved under the key. Single flight (R/compute.R):
# of several processes that miss one key at once, one fits and the others
# wait for its entry and return it as a hit.
memoized_fit <- function(store, key, fit_fn, timeout = 600) {
  fitted <- NULL
  got <- compute_once(
    store, key, timeout = timeout,
    compute = function() {
      fitted <<- fit_fn()
      without_environments(fitted$fit)
    },
    keep = function(value) !is.null(value),
    save = function(value) {
      objective <- if (inherits(value, "gam")) as.numeric(value$gcv.ubre)
      if (length(objective) != 1L || !is.finite(objective)) objective <- NULL
      save_quietly(store, key, value, objective = objective,
                   iteration = fitted$iterations)
    })
  if (got$how == "computed") return(fitted)
  list(fit = got$value, mode = "hit", iterations = 0)
}

# Fits (warm from the latest seed of this model's structure when the
# fitter can start from one), then saves the fit's own seed.
fit_and_seed <- function(inputs, digests, store, call) {
  near <- near_key(digests, inputs$fitter)
  seed_lookup <- function() ws_lookup_latest(store, near)$payload
  fitted <- fit_model(inputs, seed_lookup)
  if (is.null(fitted$iterations)) fitted$iterations <- 0
  if (inherits(fitted$fit, "gam")) {
    fitted$fit$call <- call
    seed <- make_seed(fitted$fit)
    if (!is.null(seed) && !fewer_observations(seed, seed_lookup())) {
      save_quietly(store, near, seed, objective = NULL,
                   iteration = fitted$iterations)
    }
  }
  fitted
}

# A seed replaces the stored one unless it comes from a fit on fewer
# distinct observations: the full data's smoothing parameters are closer
# to each bootstrap resample's or cross-validation fold's than those of
# another resample or fold are (bench/realdata.R), and refits on data that
# grew replace older seeds.
fewer_observations <- function(seed, stored) {
  is_seed(stored) && is.numeric(stored$observations) &&
    is.numeric(seed$observations) && seed$observations < stored$observations
}

# The stored copy of a fit: formulas and terms point at the global
# environment, so serializing the fit does not drag the environment it was
# made in (a function's frame, or a workspace) into the store.
without_environments <- function(x) {
  if (inherits(x, "formula")) attr(x, ".Environment") <- globalenv()
  if (is.list(x) && !is.data.frame(x)) {
    for (i in seq_along(x)) {
      if (!is.null(x[[i]])) x[[i]] <- without_environments(x[[i]])
    }
  }
  for (a in setdiff(names(attributes(x)), c("names", "class", "row.names",
                                             ".Environment"))) {
    attr(x, a) <- without_environments(attr(x, a))
  }
  x
}

# A fit is worth returning even when the store cannot keep it (full disk,
# read-only store): say so and go on.
save_quietly <- function(store, key, value, objective, iteration) {
  tryCatch(
    ws_save(store, key, value, objective = objective, iteration = iteration,
            kind = "final"),
    error = function(e) {
      warning(sprintf("ws_gam(): could not save to the store: %s",
                      conditionMessage(e)), call. = FALSE)
    })
  invisible(NULL)
}
