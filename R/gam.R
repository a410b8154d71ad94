# ws_gam(): memoized and warm-started mgcv fits.
#
# Two keys per call (R/gam_inputs.R). The exact key covers everything the
# fit depends on: a final entry under it is returned without fitting. The
# near key leaves out the data (and arguments sized like the data), so it
# names the model's structure: the latest fit of that structure on any
# data seeds the smoothing-parameter search (R/gam_fit.R).

#' Memoized and warm-started mgcv fits
#'
#' @description
#' Fits a GAM with \pkg{mgcv}, keeping the fit and a small seed in a store:
#' the same fit again is returned from the store without fitting, and a
#' related fit (the same model on other data: a bootstrap resample, a
#' cross-validation fold, updated data) starts its smoothing-parameter search
#' from where the latest related fit ended.
#'
#' @param formula A GAM formula (or a list of formulas, for families that
#' take several, such as `gaulss()`).
#' @param data A data frame (or list) with the variables of the formula.
#' Variables not in it are found as `gam()` finds them: in the
#' formula's environment.
#' @param ... Further arguments of the fitter, all named: `family`,
#' `method`, `knots`, `weights`, and so on. Each is evaluated
#' once, where the fitter would evaluate it: `weights`, `subset`,
#' `offset` (and `bam`'s `AR.start`) in `data`, then
#' the formula's environment, as `model.frame()` does; the others in the
#' caller's frame. `G`, `fit` and `in.out` are set by
#' `ws_gam()`.
#' @param store A store from [ws_open()]; by default the default
#' store.
#' @param fitter `mgcv::gam` (the default), `mgcv::bam`,
#' `mgcv::gamm`, or another function taking the same arguments.
#' @param timeout Seconds to wait for another process that is fitting the
#' same call (see Single flight) before fitting it here too.
#'
#' @details
#' ## Single flight
#'
#' When several processes (`mclapply()` workers, batch jobs on one
#' shared store) call `ws_gam()` with the same arguments and find no
#' stored fit, one of them fits while the others wait for its fit and return
#' it as a hit (see [ws_compute()]): if the fitting process is
#' killed or its fit fails, a waiter fits instead; no waiter waits longer
#' than `timeout`.
#'
#' ## The exact key: a hit is the fit the fitter would return now
#'
#' The exact key (made with [ws_key()]) covers everything the fit
#' depends on, so that a stored fit is returned (mode `"hit"`) only for
#' a call whose fit would be the same. Its symbolic form (see Two key
#' paths for where it is used, and what is keyed instead elsewhere) covers:
#'
#' * the fitter (its definition), the formula, the data (every column);
#' * every free symbol of the formula not found in `data`, resolved
#'   as `gam()` resolves it: a covariate or a variable in `s()`,
#'   `te()`, `ti()` or `t2()` (`k = K`, `bs`,
#'   `xt`, `by`) by its value, from the formula's environment (and
#'   from the caller's frame, where `gam()` summarizes covariates);
#'   a user function called in the formula by its definition and, in turn,
#'   by the values of its own free variables; an object of a package by the
#'   package's name and version;
#' * every argument in `...`, evaluated as above; a family with its
#'   parameters, including those kept in the environments of its functions
#'   (`nb(theta =)`, `Tweedie(p)`, `ocat()` cut points,
#'   `tw()`, `betar()`, `scat()` settings);
#' * the versions of mgcv, Matrix and nlme (as loaded) and of the
#'   fitter's package, R's version and platform, the BLAS and LAPACK in use;
#'   `options("contrasts")`, and `options("na.action")` when
#'   `na.action` is not given; for `bam(samfrac < 1)`, which
#'   samples rows, the state of the random number generator.
#'
#' A value that cannot be hashed (an environment, a connection, an external
#' pointer) is an error of class `ws_bad_argument` naming it (field
#' `argument`: `"formula"` for the formula's variables, else the
#' argument's name); nothing is left out silently.
#'
#' ## Two key paths: symbolic, or what the model is
#'
#' The key above describes the inputs symbolically, and R has many ways
#' round a description: mgcv finds a smooth class by name wherever it is
#' defined, S3 dispatch reaches methods defined anywhere, a function reads
#' variables (or calls `get()`) when it runs. So this symbolic key is used
#' only where it provably covers every input (attribute `"warmstart_key"`
#' of the fit: `"symbolic"`):
#'
#' * the fitter is a package's function (`mgcv::gam`, `mgcv::bam`, ...);
#' * every function the formula calls is base R's or a package's (keyed by
#'   the package's version), and not one that reads state by name
#'   (`get()`, `eval()`, `getOption()`, `Sys.getenv()`, ...);
#' * every smooth class, tensor product margins included, is built by a
#'   `smooth.construct()` method from mgcv or another package (found as
#'   mgcv finds it);
#' * no S3 method defined outside a package (in the workspace, or
#'   registered by `registerS3method()`) exists for a class of the
#'   formula's variables (or for `"default"`);
#' * no argument (the family included) and no variable of the formula holds
#'   a function defined outside a package.
#'
#' Any other call (a smooth class or a transform function of your own, a
#' user generic and its methods, a fitter of your own, a family made in the
#' workspace) is keyed by what the model is (`"model"`): the SHA-256 of the
#' model `gam(..., fit = FALSE)` prepares (`bam()`'s for `bam`; `gam()`'s
#' for other fitters, from the arguments `gam()` takes): model matrix,
#' penalties, response, weights, offset, model frame, covariate summaries,
#' family with its parameters, and smooths with their classes, together
#' with the fitter, every argument and the options above. A fit is a
#' function of that prepared model and those arguments, so a hit is right
#' by construction; the price is the model's setup on every such call,
#' hits included (\file{bench/mgcv.R} measures both paths' hit times). A
#' fitter of your own is also keyed by its definition and the values of its
#' free variables (recursively, those its defaults read included; not
#' those it assigns with `<<-`, such as a call counter: its own state).
#'
#' `gam()` writes an estimated theta into the family object it is given,
#' so a second `gam()` call with the same object starts from elsewhere.
#' `ws_gam()` fits a copy: the family you pass is never changed.
#'
#' ## The near key: seeds
#'
#' The near key leaves out the data, the arguments sized like the data
#' (`weights`, `subset`, `offset`, `etastart`,
#' `mustart`, `start`, `AR.start`, `coef`, `nei`)
#' and covariates found outside the data (those only by class), and an
#' estimated theta's starting value; it covers the model's structure: terms,
#' bases and basis sizes (`k = K`), user functions, family and link, and
#' the other arguments. The latest entry under it
#' ([ws_lookup_latest()]) is a seed: smoothing parameters, the
#' scale mgcv restarts from (`reml.scale`, as `bam.update()` uses),
#' theta for extended families, coefficients, and the number of distinct
#' observations the fit had. A new fit replaces the seed unless it had fewer
#' distinct observations: the full data's smoothing parameters are closer to
#' each cross-validation fold's or bootstrap resample's optimum than another
#' fold's or resample's are, and a refit on data that grew replaces an older
#' seed. A seed is used only if it has one smoothing parameter for each of
#' the new model's, with the same names.
#'
#' ## What is warm-started
#'
#' * `gam()` when its outer optimizer runs: REML, ML, NCV,
#'   GACV, and GCV/UBRE for non-Gaussian or non-identity models, any extended
#'   or general family (`nb()`, `tw()`, `ocat()`,
#'   `gaulss()`...). Smoothing parameters and scale go in as
#'   `in.out`; an estimated theta is set on the family's copy (a start
#'   that `preinitialize()` would set from the data is dropped). A
#'   Gaussian identity model by GCV.Cp (the default method) and
#'   `optimizer = "perf"` ignore `in.out`: those fits are memoized
#'   and called `"cold"`.
#' * `bam()` with `method = "fREML"` (the default) when the
#'   installed mgcv's `bam` has `in.out` (mgcv 1.9-0 and later);
#'   with older mgcv, `bam` fits are memoized and always cold.
#' * `gamm()` and fitters that do not take `in.out` (or do not
#'   return a `"gam"`): memoized, fitted cold; whatever they return is
#'   stored and returned on a hit.
#'
#' The model is set up once (`fit = FALSE`) and handed to every fit
#' that follows. Seeds are used as they are: a smoothing parameter far above
#' mgcv's own start (a near-linear smooth) is where the search ends on
#' related data, and starting there saves most of the search.
#'
#' A `gam()` warm fit (Newton's method, mgcv's default outer optimizer)
#' runs one Newton step at a time: the caller's `control` with the
#' convergence test always passed (more than one iteration when the
#' Hessian is indefinite; any step that lowers the score is taken) and the
#' inner fit as tight as mgcv makes it. It stops when the score's
#' quadratic model at the new point predicts at most half of `conv.tol`
#' (`control$newton$conv.tol`, 1e-6 by default, relative to mgcv's score
#' scale) left to gain: the Newton decrement
#' \eqn{g^T H^{-1} g / 2}, over the smoothing parameters mgcv itself still
#' moves. mgcv's own test stops when the last step changed the score by
#' less than `conv.tol`, which from a good seed costs a second step only to
#' see that; the decrement estimates what is left instead. After five steps
#' mgcv's own search takes over, and with linked smoothing parameters (some
#' fixed, `id`, `L`) also after a step that took more than one iteration
#' (the Hessian was indefinite where it started, and a step run then moves
#' one coordinate per iteration). Steps' warnings reach the
#' caller only from the step whose fit is returned. Other optimizers are not
#' stepped. BFGS (which `gam()` uses for NCV and some general families),
#' from a seed far above mgcv's guess, first runs with the convergence test
#' passed (it then rolls back most of its first step and takes another),
#' and the caller's run restarts from there: from the raw seed a BFGS fit
#' was seen to stop in a falling tail. EFS, `nlm` and `optim` run from the
#' seed to their own test. The warm fit is at the cold fit's optimum
#' to that tolerance in the score; its smoothing parameters (and so its
#' coefficients) agree with a cold fit's only as closely as the score
#' tells them apart, about \eqn{10^{-3}}{1e-3} relative in the package's
#' tests. A smaller `conv.tol` makes both closer.
#'
#' Two shapes of the score far up in a smooth's null space, where it tends
#' to a constant as the smoothing parameter grows (score - limit
#' \eqn{\sim c e^{-\rho}}{~ c exp(-rho)}), would cost mgcv one iteration
#' per log unit:
#' * falling (\eqn{c < 0}): this data's optimum is far below a seed more
#'   than \eqn{e^5} above mgcv's initial guess. The first step tells
#'   (gradient positive, curvature minus the gradient) and those
#'   coordinates restart from mgcv's initial guess
#'   (`mgcv::initial.sp`), the others from where the step ended. The same
#'   test at the end of the fit restarts any such coordinate the search
#'   stopped on (the slope below its tolerance), and keeps the better fit
#'   (up to three rounds; also for `bam()`). Never a full cold refit.
#' * rising (\eqn{c > 0}): the smooth is on its way into its null space.
#'   When a step of \eqn{d} multiplied a coordinate's gradient by
#'   \eqn{e^{-d}}{exp(-d)}, it jumps to where mgcv would count it
#'   converged.
#'
#' `warmstart_iterations` counts the outer iterations of every run, and so
#' does a warm fit's `outer.info$iter` (mgcv's own record would hold its
#' last run's only).
#'
#' A warm fit reaches the cold fit's optimum or a better one where the cold
#' search stops at a local optimum, with one limit: REML scores can have two
#' local optima for a smooth, one in its null space and one wiggly, and a
#' warm search started in the null space can end there where a cold one
#' finds the other. \file{bench/realdata.R} measures how often (on gamair's
#' `mack`, 2 of 10 warm fits, up to \eqn{8 \times 10^{-4}}{8e-4} relative
#' above). If the warm fit fails or its outer iteration does not reach full
#' convergence, `ws_gam()` warns and refits cold.
#'
#' ## Saving
#'
#' The fit is saved under the exact key as a final entry (objective: its
#' `gcv.ubre`; iteration: outer iterations spent), and its seed under
#' the near key. A save that fails (full disk, read-only store) gives a
#' warning, and the fit is still returned. "Look up the exact key, fit on a
#' miss, save" is one step.
#'
#' @section How fits are stored:
#' A fit is stored as an uncompressed native-binary R serialization, with
#' every formula and `terms` object in it pointing at the global
#' environment, so the environment the model was fitted in (a function's
#' frame, a workspace) never goes into the store. A hit in the same process is
#' served from the value cache without reading the disk; a hit in another
#' process costs one read, one SHA-256 and one `unserialize()`: a few
#' milliseconds for a fit on 10,000 rows. The returned hit is that stored
#' copy.
#'
#' @return The fit, as the fitter returns it (for `gam` and `bam` fits
#' with `call` set to the `ws_gam()` call), with attributes
#' `"warmstart"`: `"hit"`, `"warm"` (the optimizer started
#' from a seed) or `"cold"`; `"warmstart_iterations"`: the
#' outer iterations this call spent, restarts included (0 for a hit); and
#' `"warmstart_key"`: the key path the call took, `"symbolic"` or
#' `"model"` (see Two key paths).
#'
#' @seealso [ws_key()], [ws_open()],
#' `vignette("warm-starting-mgcv", package = "warmstart")`
#' @family caching functions
#'
#' @examples
#' if (requireNamespace("mgcv", quietly = TRUE)) {
#'   store <- ws_open(file.path(tempdir(), "ws-gam-example"))
#'   set.seed(1)
#'   d <- data.frame(x = runif(300), z = runif(300))
#'   d$y <- sin(2 * pi * d$x) + d$z + rnorm(300, sd = 0.3)
#'   fit <- ws_gam(y ~ s(x) + z, d, method = "REML", store = store)
#'   attr(fit, "warmstart")                    # "cold"
#'   boot <- d[sample(nrow(d), replace = TRUE), ]
#'   refit <- ws_gam(y ~ s(x) + z, boot, method = "REML", store = store)
#'   attr(refit, "warmstart")                  # "warm"
#'   again <- ws_gam(y ~ s(x) + z, d, method = "REML", store = store)
#'   attr(again, "warmstart")                  # "hit"
#'   attr(again, "warmstart_key")              # "symbolic"
#'   sq <- function(x) x^2                     # a function of your own
#'   own <- ws_gam(y ~ s(x) + sq(z), d, method = "REML", store = store)
#'   attr(own, "warmstart_key")                # "model"
#' }
#' @export
ws_gam <- function(formula, data, ..., store = ws_open(),
                   fitter = mgcv::gam, timeout = 600) {
  if (!requireNamespace("mgcv", quietly = TRUE)) {
    stop(ws_condition("ws_error", paste0("ws_gam() needs the mgcv package: ",
                                         "install.packages(\"mgcv\")")))
  }
  # The call as gam() records its own: every argument named, so update()
  # and a hit's $call work whichever way the formula was passed.
  call <- match.call()
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
  # The symbolic key where it provably covers every input, else the hash
  # of the prepared model (R/gam_key_path.R).
  key_path <- if (is.null(inputs$unproven)) "symbolic" else "model"
  if (key_path == "symbolic") {
    key <- exact_key(digests)
  } else {
    # Kept in `inputs`: a miss fits from it (prepared_once()) instead of
    # setting the model up again.
    inputs$prepared <- prepared_model(inputs, call)
    key <- model_key(digests, model_digest(inputs$prepared, call))
  }
  result <- memoized_fit(store, key, function() {
    fit_and_seed(inputs, digests, store, call)
  }, timeout)
  fit <- result$fit
  # A hit is returned with this call, not the one that made it: update()
  # re-evaluates the call in its caller's frame.
  if (inherits(fit, "gam")) fit$call <- call
  attr(fit, "warmstart") <- result$mode
  attr(fit, "warmstart_iterations") <- result$iterations
  attr(fit, "warmstart_key") <- key_path
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
  seed_lookup <- function() lookup_value(store, near, latest = TRUE)$payload
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
# made in (a function's frame, or a workspace) into the store. Only what
# changes is assigned back: assigning an attribute can have side effects
# (setting "dim" drops "dimnames", which left a terms object's "factors"
# without names, and model.matrix() refused it).
without_environments <- function(x) {
  if (inherits(x, "formula")) attr(x, ".Environment") <- globalenv()
  if (is.list(x) && !is.data.frame(x)) {
    for (i in seq_along(x)) {
      if (!is.null(x[[i]])) x[[i]] <- without_environments(x[[i]])
    }
  }
  for (a in setdiff(names(attributes(x)), c("names", "class", "row.names",
                                             ".Environment"))) {
    old <- attr(x, a)
    new <- without_environments(old)
    if (!identical(old, new)) attr(x, a) <- new
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
