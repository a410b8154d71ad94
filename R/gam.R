# ws_gam(): memoized and warm-started mgcv fits.
#
# Two keys per call. The exact key (formula, data, fitter and every other
# argument) names the fit itself: a final entry under it is returned
# without fitting. The near key leaves out the data (and arguments sized
# like the data), so it names the model's structure: the latest fit of
# that structure on any data seeds the smoothing-parameter search.

# Arguments whose values follow the rows of the data: they belong to the
# exact key only.
data_sized_args <- c("weights", "subset", "offset", "etastart", "mustart",
                     "start", "AR.start")

# Arguments ws_gam() itself sets on the fitter.
managed_args <- c("G", "fit", "in.out")

ws_gam <- function(formula, data, ..., store = ws_open(),
                   fitter = mgcv::gam) {
  if (!requireNamespace("mgcv", quietly = TRUE)) {
    stop(ws_condition("ws_error", paste0("ws_gam() needs the mgcv package: ",
                                         "install.packages(\"mgcv\")")))
  }
  call <- sys.call()
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
  if (!is.function(fitter)) {
    stop_arg(sprintf("`fitter` must be a function such as mgcv::gam or mgcv::bam, not %s",
                     describe(fitter)), "fitter", call)
  }
  args <- list(...)
  if (length(args) > 0L && (is.null(names(args)) || any(names(args) == ""))) {
    stop_arg("every argument in `...` must be named (e.g. method = \"REML\")",
             "...", call)
  }
  clash <- intersect(names(args), c(managed_args, "formula", "data"))
  if (length(clash) > 0L) {
    stop_arg(sprintf("`...` must not set `%s`: ws_gam() sets it", clash[1L]),
             "...", call)
  }
  flavour <- if (identical(fitter, mgcv::gam)) "gam" else
    if (identical(fitter, mgcv::bam)) "bam" else "other"

  exact <- ws_key(what = "ws_gam fit", fitter = fitter, formula = formula,
                  data = data, args = args)
  hit <- ws_lookup(store, exact)
  if (!is.null(hit) && identical(hit$kind, "final") &&
      inherits(hit$payload, "gam")) {
    fit <- hit$payload
    attr(fit, "warmstart") <- "hit"
    return(fit)
  }

  near <- ws_key(what = "ws_gam seed", fitter = fitter, formula = formula,
                 args = args[setdiff(names(args), data_sized_args)])
  warmable <- can_warm_start(flavour, fitter)
  seed <- if (warmable) ws_lookup_latest(store, near)$payload

  fitted <- fit_gam(flavour, fitter, formula, data, args, seed, warmable)
  fit <- fitted$fit
  fit$call <- call
  iterations <- outer_iterations(fit)

  save_quietly(store, exact, without_environments(fit),
               objective = fit$gcv.ubre, iteration = iterations)
  if (warmable) {
    save_quietly(store, near,
                 list(sp = fit$sp, scale = fit$sig2,
                      coefficients = fit$coefficients),
                 objective = NULL, iteration = iterations)
  }
  attr(fit, "warmstart") <- fitted$mode
  fit
}

# Fit warm when the seed fits the model, otherwise (or when the warm fit
# fails or stops short of full convergence) cold. Returns list(fit, mode).
fit_gam <- function(flavour, fitter, formula, data, args, seed, warmable) {
  run <- function(extra) {
    # A call of symbols evaluated in a small frame: the fitter records
    # match.call() and evaluates its model frame from it, and do.call()
    # would inline the whole data frame into the call.
    env <- new.env(parent = globalenv())
    vals <- c(list(formula = formula, data = data), args, extra)
    list2env(c(vals, list(.fitter = fitter)), env)
    cl <- as.call(c(list(as.name(".fitter")),
                    sapply(names(vals), as.name, simplify = FALSE)))
    eval(cl, env)
  }
  if (!warmable) return(list(fit = run(NULL), mode = "cold"))
  # gam: set the model up once (basis construction is a third of a cold
  # REML fit at n = 10,000) and hand the result to both the warm fit and,
  # if it fails, the cold one.
  base <- NULL
  n_sp <- NULL
  cap <- NULL
  if (flavour == "gam") {
    setup <- run(list(fit = FALSE))
    base <- list(G = setup)
    n_sp <- length(setup$sp)
    cap <- log_sp_cap(setup)
  }
  in_out <- seed_in_out(seed, n_sp, cap)
  if (!is.null(in_out)) {
    warm <- tryCatch(run(c(base, list(in.out = in_out))), error = function(e) e)
    problem <- if (inherits(warm, "error")) conditionMessage(warm) else
      convergence_problem(warm)
    if (is.null(problem)) return(list(fit = warm, mode = "warm"))
    warning(sprintf(paste0("ws_gam(): the warm start from the stored seed ",
                           "failed (%s); refitted cold"), problem),
            call. = FALSE)
  }
  list(fit = run(base), mode = "cold")
}

# gam's in.out starts the smoothing-parameter search; bam has none. Its
# only start, `coef`, made Poisson fits slower in bench/mgcv.R and once
# failed with a non-finite deviance, so bam fits are memoized, not seeded.
can_warm_start <- function(flavour, fitter) {
  flavour == "gam" ||
    (flavour == "other" && "in.out" %in% names(formals(fitter)))
}

# The in.out list for a seed that fits the model (one smoothing parameter
# each, all positive; a positive scale), else NULL. Smoothing parameters
# above the cap (log scale) are lowered to it.
seed_in_out <- function(seed, n_sp, cap = NULL) {
  if (!is_seed(seed)) return(NULL)
  sp <- unname(seed$sp)
  if (is.null(n_sp)) n_sp <- length(sp)
  ok <- length(sp) == n_sp && n_sp > 0L && all(is.finite(log(sp))) &&
    length(seed$scale) == 1L && is.finite(seed$scale) && seed$scale > 0
  if (!ok) return(NULL)
  if (length(cap) == n_sp) sp <- exp(pmin(log(sp), cap))
  list(sp = sp, scale = seed$scale)
}

# Where a seed's smoothing parameters are capped: e^3 times mgcv's own
# initial guess. Far above it a smooth is penalized into its null space and
# the REML score is flat in that parameter, so a start there stays there:
# on a resample whose cold fit finds that smooth wiggly, uncapped seeds
# ended 1.2e-4 (relative) above the cold REML optimum. mgcv bounds its own
# starts for the same reason (estimate.gam: "optimizers may get stuck on
# flat portions"). Only the upper side: below the guess nothing is flat.
# NULL (no cap) when smoothing parameters are linked (G$L) or it fails.
log_sp_cap <- function(G) {
  if (!is.null(G$L) || length(G$S) != length(G$sp) || length(G$S) == 0L) {
    return(NULL)
  }
  guess <- tryCatch(mgcv::initial.sp(sqrt(G$w) * G$X, G$S, G$off),
                    error = function(e) NULL)
  if (length(guess) != length(G$sp) || any(!is.finite(log(guess)))) {
    return(NULL)
  }
  log(guess) + 3
}

is_seed <- function(x) {
  is.list(x) && is.numeric(x$sp) && is.numeric(x$scale) &&
    is.numeric(x$coefficients)
}

# NULL when the outer optimisation converged fully (or reports nothing).
convergence_problem <- function(fit) {
  if (!inherits(fit, "gam")) return("the fitter did not return a gam object")
  conv <- fit$outer.info$conv
  if (is.null(conv) || !is.character(conv) || identical(conv, "full convergence")) {
    return(NULL)
  }
  conv
}

outer_iterations <- function(fit) {
  it <- fit$outer.info$iter
  if (is.numeric(it) && length(it) == 1L && is.finite(it) && it >= 0) it else NULL
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
