# Fitting for ws_gam(): calling the fitter where gam() would run, seeds,
# warm starts and the escape from flat regions of the REML score.

fitter_flavour <- function(fitter) {
  if (identical(fitter, mgcv::gam)) return("gam")
  if (identical(fitter, mgcv::bam)) return("bam")
  if (identical(fitter, mgcv::gamm)) return("gamm")
  "other"
}

# Calls the fitter as if the caller had called it: in a child of the
# caller's frame (gam() summarizes covariates from its parent frame), the
# model-frame arguments given by value (model.frame() evaluates them in
# the data and the formula's environment, where ws_gam() already did), and
# everything else bound to names, so no data is inlined into the call the
# fitter records. `drop` leaves arguments out (those a prepared G holds).
call_fitter <- function(inputs, family, extra = list(), drop = character()) {
  env <- new.env(parent = inputs$caller)
  args <- inputs$args
  if (!is.null(family)) args$family <- family
  args <- c(args[setdiff(names(args), drop)], extra)
  assign(".ws_fitter", inputs$fitter, envir = env)
  assign(".ws_formula", inputs$formula, envir = env)
  assign(".ws_data", inputs$data, envir = env)
  cl <- list(as.name(".ws_fitter"), formula = as.name(".ws_formula"),
             data = as.name(".ws_data"))
  by_value <- inputs$flavour %in% c("gam", "bam")
  for (nm in names(args)) {
    v <- args[[nm]]
    if (by_value && nm %in% model_frame_args) {
      if (!is.null(v)) cl[nm] <- list(v)
    } else {
      sym <- paste0(".ws_arg_", nm)
      assign(sym, v, envir = env)
      cl[[nm]] <- as.name(sym)
    }
  }
  eval(as.call(cl), env)
}

# Arguments a prepared model (G) already holds; gam() applies `sp` to a
# given G again, so passing it twice would fix smoothing parameters twice.
setup_args <- c("sp", "knots", "min.sp", "H", "paraPen", "select",
                "drop.intercept", "drop.unused.levels", "family", "weights",
                "subset", "offset", "na.action", "discrete")

# ---- the family, copied ---------------------------------------------------

# gam() changes the family object it is given (an estimated theta is
# written into the environment of its functions), so a second gam() call
# with the same object starts elsewhere. Each fit gets a copy, and the
# caller's object, part of the key, stays as it was.
clone_family <- function(x) {
  if (is.null(x)) return(NULL)
  orig <- list()
  copies <- list()
  copy_env <- function(e) {
    if (!is_user_env(e)) return(e)
    i <- env_index(orig, e)
    if (!is.na(i)) return(copies[[i]])
    ne <- new.env(parent = emptyenv())
    orig[[length(orig) + 1L]] <<- e
    copies[[length(copies) + 1L]] <<- ne
    parent.env(ne) <- copy_env(parent.env(e))
    for (nm in ls(e, all.names = TRUE)) {
      assign(nm, relink(get(nm, envir = e)), envir = ne)
    }
    ne
  }
  relink <- function(v) {
    if (is.function(v) && !is.primitive(v)) {
      environment(v) <- copy_env(environment(v))
    } else if (is.environment(v)) {
      v <- copy_env(v)
    } else if (is.list(v) && length(v) > 0L) {
      v[] <- lapply(v, relink)
    }
    v
  }
  relink(x)
}

# Families with theta parameters estimated alongside the smoothing
# parameters (nb(), tw(), scat(), ocat(), betar(), ziP()...).
n_theta <- function(family) {
  if (!inherits(family, "extended.family") || inherits(family, "general.family")) {
    return(0L)
  }
  n <- family$n.theta
  if (is.numeric(n) && length(n) == 1L && is.finite(n) && n > 0) as.integer(n) else 0L
}

# Start theta at `theta`. gam() starts from the family's getTheta(), unless
# the family's preinitialize() sets a start from the data (ocat(), scat()):
# that start is dropped, the rest of what it does kept.
seed_theta <- function(family, theta) {
  family$putTheta(theta)
  pre <- family$preinitialize
  if (is.function(pre)) {
    family$preinitialize <- function(y, family) {
      out <- pre(y, family)
      if (is.list(out)) out$Theta <- NULL
      out
    }
    attr(family, "ws_preinitialize") <- pre
  }
  family
}

# The fit's family as gam() would have left it.
unseed_family <- function(fit, seeded) {
  pre <- attr(seeded, "ws_preinitialize")
  if (!is.null(pre) && inherits(fit, "gam") && !is.null(fit$family)) {
    fit$family$preinitialize <- pre
    attr(fit$family, "ws_preinitialize") <- NULL
  }
  fit
}

# ---- seeds ---------------------------------------------------------------

# What the next related fit starts from: smoothing parameters, the scale
# mgcv itself restarts from (reml.scale, as bam.update() does), theta.
make_seed <- function(fit) {
  if (!inherits(fit, "gam") || !is.numeric(fit$sp)) return(NULL)
  scale <- fit$reml.scale
  if (!is_positive(scale)) scale <- fit$sig2
  if (!is_positive(scale)) scale <- 1
  theta <- if (n_theta(fit$family) > 0L) {
    tryCatch(as.numeric(fit$family$getTheta()), error = function(e) NULL)
  }
  list(sp = fit$sp, scale = as.numeric(scale), theta = theta,
       coefficients = fit$coefficients, observations = distinct_rows(fit$model))
}

distinct_rows <- function(mf) {
  if (!is.data.frame(mf) || nrow(mf) == 0L) return(NULL)
  tryCatch(sum(!duplicated(mf)), error = function(e) NULL)
}

is_positive <- function(x) {
  is.numeric(x) && length(x) == 1L && is.finite(x) && x > 0
}

is_seed <- function(x) {
  is.list(x) && is.numeric(x$sp) && is.numeric(x$scale)
}

# The in.out list for a seed that fits the model: one positive smoothing
# parameter for each of the model's (and the same names, when both have
# them), a positive scale. NULL otherwise. `sp_names` NULL: not known.
seed_in_out <- function(seed, n_sp = NULL, sp_names = NULL) {
  if (!is_seed(seed)) return(NULL)
  sp <- seed$sp
  if (is.null(n_sp)) n_sp <- length(sp)
  ok <- length(sp) == n_sp && n_sp > 0L && all(is.finite(log(sp))) &&
    is_positive(seed$scale)
  if (ok && !is.null(sp_names) && !is.null(names(sp))) {
    ok <- identical(unname(sp_names), names(sp))
  }
  if (!ok) return(NULL)
  list(sp = unname(sp), scale = seed$scale)
}

seed_theta_value <- function(seed, family) {
  n <- n_theta(family)
  th <- seed$theta
  if (n > 0L && is.numeric(th) && length(th) == n && all(is.finite(th))) th
}

# ---- fitting -------------------------------------------------------------

# Does gam() run its outer optimizer (the one in.out starts) for this
# model? Not for a Gaussian identity model by GCV/UBRE (magic() or the
# performance iteration, both ignore in.out).
uses_outer <- function(G, args) {
  if (inherits(G$family, "extended.family")) return(TRUE)
  method <- if (is.null(args$method)) "GCV.Cp" else args$method[1L]
  optimizer <- if (is.null(args$optimizer)) "outer" else args$optimizer[1L]
  method %in% c("REML", "P-REML", "ML", "P-ML", "NCV", "QNCV", "GACV.Cp") ||
    !is.null(args$nei) || (!isTRUE(G$am) && optimizer != "perf")
}

# bam() has in.out from mgcv 1.9-0 on; it starts fREML's search.
bam_warmable <- function(inputs) {
  method <- if (is.null(inputs$args$method)) "fREML" else inputs$args$method[1L]
  "in.out" %in% names(formals(inputs$fitter)) && method == "fREML"
}

# A fit and how it was made: list(fit, mode, iterations, seed). `seed` is
# the stored seed or NULL; `warn` says why a warm start was given up.
fit_model <- function(inputs, seed_lookup) {
  switch(inputs$flavour,
    gam = if (isTRUE(inputs$args$discrete)) fit_other(inputs, seed_lookup)
          else fit_gam(inputs, seed_lookup),
    bam = fit_bam(inputs, seed_lookup),
    fit_other(inputs, seed_lookup))
}

fit_gam <- function(inputs, seed_lookup) {
  # Set the model up once (basis construction is a third of a cold REML fit
  # at n = 10,000) and hand it to every fit below: the model the key path
  # already prepared (a miss on the model path), or prepared here.
  G <- prepared_once(inputs)
  family <- G$family
  # `start`: coefficients of an earlier run on this data, where the inner
  # fit (PIRLS) of this run's first evaluation starts instead of from the
  # family's initial values (10-15% of a step run on gamair::chicago).
  run <- function(in_out = NULL, theta = NULL, control = NULL, start = NULL) {
    G1 <- G
    G1$family <- clone_family(family)
    if (!is.null(theta)) G1$family <- seed_theta(G1$family, theta)
    extra <- list(G = G1)
    if (!is.null(in_out)) extra$in.out <- in_out
    drop <- setup_args
    if (!is.null(control)) {
      extra$control <- control
      drop <- c(drop, "control")
    }
    if (length(start) == ncol(G$X) && all(is.finite(start))) {
      extra$start <- unname(start)
      drop <- c(drop, "start")
    }
    fit <- call_fitter(inputs, NULL, extra, drop = drop)
    unseed_family(fit, G1$family)
  }
  cold <- function() {
    fit <- run()
    list(fit = fit, mode = "cold", iterations = outer_iterations(fit))
  }
  if (length(G$sp) == 0L || !uses_outer(G, inputs$args)) return(cold())
  seed <- seed_lookup()
  in_out <- seed_in_out(seed, length(G$sp), names(G$sp))
  if (is.null(in_out)) return(cold())
  theta <- seed_theta_value(seed, family)
  warm <- usable_warm(tryCatch(warm_fit(G, in_out, theta, run, inputs$args),
                               error = function(e) e))
  if (is.null(warm)) return(cold())
  iterations <- attr(warm, "ws_iterations")
  attr(warm, "ws_iterations") <- NULL
  # magic() and the performance iteration ignore in.out. (A Gaussian NCV
  # fit also reports "magic", yet ran its outer search from the seed: its
  # outer.info says so.)
  if (warm$optimizer[1L] %in% c("magic", "perf") && is.null(warm$outer.info)) {
    return(list(fit = warm, mode = "cold", iterations = iterations))
  }
  one_step <- step_control(inputs$args$control, newton_tol(inputs$args$control))
  probe <- function(in_out, theta, start = NULL) {
    quietly(run(in_out, theta, one_step, start))
  }
  newton <- newton_outer(inputs$args, family)
  escaped <- escape_flat(warm, G, in_out, run, probe = if (newton) probe,
                         curvature = newton)
  iterations <- sum(iterations, escaped$iterations)
  list(fit = total_iterations(escaped$fit, iterations), mode = "warm",
       iterations = iterations)
}

# The model gam(fit = FALSE) (bam()'s for bam) prepares for this call: the
# one the model key path already prepared to hash it, so that a miss there
# sets the model up once (issue 27), else prepared now.
prepared_once <- function(inputs) {
  if (!is.null(inputs$prepared) && inputs$flavour %in% c("gam", "bam")) {
    return(inputs$prepared)
  }
  call_fitter(inputs, clone_family(inputs$args$family), list(fit = FALSE))
}

# A warm start, one Newton step at a time. mgcv's Newton method stops when
# its last step changed the score by at most conv.tol (times its score
# scale): from a good seed it takes one step to the optimum and a second
# only to see that nothing more changes, two iterations at least where a
# cold fit takes three or four (gamair::cairo). A warm fit instead runs
# mgcv for one step at a time and stops when the score's quadratic model
# at the new point predicts at most conv.tol / 2 to gain (the Newton
# decrement g'H^-1 g / 2 over the same scale): an estimate of what is
# left, where mgcv's test looks at what the last step did. On cairo's
# resamples the decrement after one step from the seed matched the gap to
# the cold optimum within 5% (3.9e-8 to 4.9e-5). The price: a warm fit
# ends up to conv.tol / 2 from the optimum, where a cold one, a step
# further, is usually much closer. After `steps` steps mgcv's own test
# takes over. A step run is mgcv with its convergence test always passed,
# which also accepts any step that lowers the score (its check of the
# quadratic model divides by conv.tol) and, from an indefinite Hessian,
# goes on one coordinate at a time until the Hessian is positive definite:
# those iterations count like the others (and with linked parameters,
# mgcv's own search takes over after such a step).
#
# Tails, before they cost iterations. A seeded log smoothing parameter far
# above mgcv's own start (a near-linear smooth on the seed's data) may sit
# in the tail of this data's REML score that falls towards a wiggly optimum
# far below. There the score is ~ limit + c * exp(-rho), so the gradient is
# -c exp(-rho) and the curvature c exp(-rho): mgcv's Newton method (with
# the curvature made positive) steps by exactly -1 per iteration, and a
# warm start crawls down for as many iterations as the optimum is far (27
# against 5 cold on a bootstrap resample of gamair::mack). After the first
# step, the coordinates that are then in a falling tail (gradient > 0,
# curvature < 0 ~ -gradient) restart from mgcv's initial guess, the others
# from where the step ended. Coordinates rising into the null space (c > 0)
# jump there (rising_coordinates()); a jump that leaves the score worse
# after the next step is undone.
#
# Returns the fit with the outer iterations of all the runs that made it in
# attribute "ws_iterations".
warm_fit <- function(G, in_out, theta, run, args, steps = 5L) {
  control <- args$control
  tol <- newton_tol(control)
  one_step <- step_control(control, tol)
  guess <- initial_guess(G)
  far <- if (!is.null(guess) && is.null(G$L)) far_above_guess(in_out$sp, guess)
  if (!newton_outer(args, G$family)) {
    if (!probed_outer(args, G$family)) return(counted(run(in_out, theta), 0))
    return(probe_then_fit(G, in_out, theta, run, one_step, guess, far))
  }
  iterations <- 0
  before <- NULL # the step before, unless its sp were changed since
  jumped <- NULL # the step a jump started from
  may_jump <- TRUE
  hand_over <- FALSE # to mgcv's own search, from where this step ended
  start <- NULL # the coefficients of the step before: the next run's start
  for (s in seq_len(steps)) {
    fit <- quietly(run(in_out, theta, one_step, start))
    iterations <- sum(iterations, outer_iterations(fit))
    if (!inherits(fit, "gam") || length(fit$sp) != length(in_out$sp) ||
        !is.null(convergence_problem(fit))) {
      break # mgcv from here on, from where this step started
    }
    if (!is.null(jumped) && !(as.numeric(fit$gcv.ubre) <= as.numeric(jumped$gcv.ubre))) {
      # Not a tail after all: back to where the jump started.
      fit <- jumped
      may_jump <- FALSE
      before <- NULL
    }
    jumped <- NULL
    start <- fit$coefficients
    seed <- make_seed(fit)
    sp <- unname(fit$sp)
    tails <- if (s == 1L && any(far)) flat_coordinates(fit, G, in_out)
    tails <- tails[far[tails]]
    rising <- if (!is.null(before) && may_jump) rising_coordinates(before, fit, G, tol)
    before <- fit
    if (length(tails) > 0L) {
      sp[tails] <- guess[tails]
      before <- NULL
    } else if (newton_decrement(fit, tol) <= tol / 2) {
      return(stepped_fit(fit, iterations, control))
    } else if (!is.null(G$L) && isTRUE(outer_iterations(fit) > 1)) {
      # The Hessian was indefinite where the step started, and a step run
      # then moves one coordinate per iteration (its convergence test
      # passed, every coordinate counts as converged). With linked
      # parameters the tail tests, which tell what to do there, are off:
      # mgcv's own search, where every coordinate not converged takes the
      # Newton step, goes on from here.
      # (Without links, handing over cost more than it saved: 0.72x cold
      # against 0.80x on gamair::mack, 0.42x against 0.45x on Boston.)
      hand_over <- TRUE
    } else if (length(rising) > 0L) {
      sp[rising] <- sp[rising] * null_space_jump(fit, G, rising, tol)
      jumped <- fit
      before <- NULL
    }
    in_out <- list(sp = sp, scale = seed$scale)
    theta <- seed_theta_value(seed, fit$family)
    if (hand_over) break
  }
  counted(run(in_out, theta, start = start), iterations)
}

# Fits that are not stepped: BFGS (and Newton with edge correction). A seed
# with coordinates far above mgcv's guess first runs with the convergence
# test passed, as before the stepped warm starts: Newton's coordinates then
# in a falling tail restart from the guess. BFGS's Hessian is a positive
# definite approximation, so no tail shows there; with every coordinate
# passing the test, bfgs() rolls back most of its first step and takes
# another, and the caller's run restarts from that point with a fresh
# Hessian. That restart is what kept a BFGS warm fit off a falling tail it
# otherwise stopped in, 1.4e-3 above the cold optimum (test-gam-warm.R).
probe_then_fit <- function(G, in_out, theta, run, one_step, guess, far) {
  if (!any(far)) return(counted(run(in_out, theta), 0))
  probe <- quietly(run(in_out, theta, one_step))
  iterations <- sum(outer_iterations(probe))
  if (!inherits(probe, "gam") || length(probe$sp) != length(in_out$sp)) {
    return(counted(run(in_out, theta), iterations))
  }
  tails <- flat_coordinates(probe, G, in_out)
  tails <- tails[far[tails]]
  sp <- unname(probe$sp)
  sp[tails] <- guess[tails]
  seed <- make_seed(probe)
  counted(run(list(sp = sp, scale = seed$scale), seed_theta_value(seed, probe$family),
              start = probe$coefficients),
          iterations)
}

# A fit made by a final run (mgcv's own test), its iterations added to
# those of the steps before it.
counted <- function(fit, iterations) {
  if (inherits(fit, "gam")) {
    attr(fit, "ws_iterations") <- sum(iterations, outer_iterations(fit))
  }
  fit
}

# A step's fit, returned as the warm fit: it records the caller's control
# (as gam() would have recorded it, not the step's), the outer iterations
# of all the steps that made it, and the warnings of its own run.
stepped_fit <- function(fit, iterations, control) {
  fit$control <- do.call(mgcv::gam.control, as.list(control))
  fit <- total_iterations(fit, iterations)
  for (w in attr(fit, "ws_warnings")) warning(w)
  attr(fit, "ws_warnings") <- NULL
  attr(fit, "ws_iterations") <- iterations
  fit
}

# The value of `expr` with the warnings it raised held back (in attribute
# "ws_warnings"): a step's warnings reach the caller only if its fit is the
# one returned.
quietly <- function(expr) {
  held <- list()
  value <- withCallingHandlers(expr, warning = function(w) {
    held[[length(held) + 1L]] <<- w
    invokeRestart("muffleWarning")
  })
  if (length(held) > 0L && !is.null(value)) attr(value, "ws_warnings") <- held
  value
}

# The outer optimizer gam() will run: the caller's (`optimizer`, default
# c("outer", "newton")), or the one estimate.gam() switches to: BFGS for
# NCV (or with `nei`) and for general families with first derivatives
# only, EFS for those with none.
outer_optimizer <- function(args, family) {
  optimizer <- args$optimizer
  method <- if (is.null(args$method)) "GCV.Cp" else args$method[1L]
  derivs <- if (inherits(family, "general.family")) family$available.derivs
  derivs <- if (is.numeric(derivs) && length(derivs) == 1L) derivs else 2
  if (identical(optimizer[1L], "efs") || derivs == 0) return("efs")
  if (method %in% c("NCV", "QNCV") || !is.null(args$nei) || derivs == 1) return("bfgs")
  if (is.null(optimizer)) return("newton")
  if (!is.character(optimizer) || optimizer[1L] != "outer") return("other")
  if (length(optimizer) < 2L) "newton" else optimizer[2L]
}

# Does gam() optimize with Newton's method (the only outer optimizer the
# step control below stops), without edge correction (which moves the
# result off the optimum)?
newton_outer <- function(args, family) {
  control <- if (is.null(args$control)) list() else as.list(args$control)
  outer_optimizer(args, family) == "newton" &&
    (is.null(control$edge.correct) || identical(control$edge.correct, FALSE))
}

# Is the fit one probe_then_fit() can run a first step of: Newton (with edge
# correction) or BFGS? Not EFS, nlm or optim, which ignore Newton's
# tolerance: their "probe" would be a whole fit.
probed_outer <- function(args, family) {
  outer_optimizer(args, family) %in% c("newton", "bfgs")
}

# The caller's Newton tolerance (gam.control()'s default 1e-6).
newton_tol <- function(control) {
  tol <- if (is.list(control) && is.list(control$newton)) control$newton$conv.tol
  if (is.numeric(tol) && length(tol) == 1L && is.finite(tol) && tol > 0) tol else 1e-6
}

# The caller's control, with Newton's convergence test always passed (the
# optimizer stops after its first step, or its first positive definite
# one) and the inner iteration as tight as mgcv makes it for `tol` (newton()
# lowers epsilon to conv.tol / 100, which an infinite conv.tol would not).
step_control <- function(control, tol) {
  control <- if (is.null(control)) list() else as.list(control)
  newton <- control$newton
  newton <- if (is.null(newton)) list() else as.list(newton)
  newton$conv.tol <- Inf
  control$newton <- newton
  eps <- control$epsilon
  if (!is.numeric(eps) || length(eps) != 1L || !(eps > 0)) eps <- 1e-7
  control$epsilon <- min(eps, tol / 100)
  control
}

# What the score's quadratic model at the fit predicts is left to gain,
# over mgcv's score scale (|log scale| + |score| for RE/ML, scale + |score|
# otherwise). Coordinates mgcv itself counts as converged (gradient and
# curvature below conv.tol / 10 of the scale: smooths at working infinity)
# are left out; Inf when the rest is not positive definite (not a minimum
# yet) or the fit reports no derivatives.
newton_decrement <- function(fit, tol) {
  info <- fit$outer.info
  g <- info$grad
  h <- info$hess
  score <- as.numeric(fit$gcv.ubre)
  if (!is.numeric(g) || !is.matrix(h) || nrow(h) != length(g) ||
      ncol(h) != length(g) || length(score) != 1L || !is.finite(score) ||
      any(!is.finite(g)) || any(!is.finite(h))) {
    return(Inf)
  }
  g <- as.numeric(g)
  level <- converged_level(fit, tol)
  active <- abs(g) > level | abs(diag(h)) > level
  if (!any(active)) return(0)
  h <- h[active, active, drop = FALSE]
  g <- g[active]
  e <- eigen(h, symmetric = TRUE)
  if (min(e$values) <= max(abs(e$values)) * .Machine$double.eps^0.7) return(Inf)
  d <- 0.5 * sum((crossprod(e$vectors, g))^2 / e$values) / score_scale(fit)
  if (is.finite(d)) d else Inf
}

# The scale newton() measures changes of the score against: |log scale| +
# |score| for RE/ML, scale + |score| otherwise.
score_scale <- function(fit) {
  score <- abs(as.numeric(fit$gcv.ubre))
  scale <- if (is_positive(fit$sig2)) fit$sig2 else fit$reml.scale
  if (!is_positive(scale)) scale <- 1
  reml <- isTRUE(fit$method %in% c("REML", "ML", "P-REML", "P-ML"))
  score + if (reml) abs(log(scale)) else scale
}

# The gradient (and curvature) below which newton() counts a coordinate
# converged: conv.tol / 10 of its score scale.
converged_level <- function(fit, tol) score_scale(fit) * tol * 0.1

# Flat regions. A seed can put a smoothing parameter far above where
# this data wants it: the smooth is penalized into its null space, and the
# REML score there is flat in that parameter (it tends to a constant as the
# parameter grows), so the optimizer reports convergence where it started.
# Far out, score - limit ~ c * exp(-rho): the gradient is -c exp(-rho) and
# the curvature +c exp(-rho). c > 0 (gradient < 0, curvature > 0): the score
# falls towards the null space, the smooth belongs there, keep the seed
# (the common case on real data). c < 0 (gradient > 0, curvature < 0): the
# score falls towards smaller values, there is a lower optimum below, and
# the fit stopped only because the slope is tiny. Those coordinates, and
# only those, restart from mgcv's own initial guess, the others from where
# the warm fit ended; the better of the two fits is kept.
#
# c > 0 is not always the end either: the score can fall towards the null
# space from a hump, with a lower optimum on the hump's other side (a `by`
# smooth of a bootstrap resample: 3.6e-4 above the cold optimum, sp 8e4
# where the cold fit found 0.08). No derivative at the warm fit tells the
# two apart, so such coordinates far above mgcv's guess are probed: one
# Newton step from the guess (`probe`, a step run; NULL where the fitter
# has none, and then the restart is run outright). If that step falls
# towards smaller values, or already scores below the warm fit, there is
# another basin, and the restart from the guess is run; if it rises, the
# guess lies on the same slope up to the null space and the warm fit
# stands, at the price of the one step.
#
# Only Newton's Hessian is the score's: BFGS's is an approximation built
# from its steps, which never showed the negative curvature of a falling
# tail (a BFGS warm fit stopped on one, 5.5e-3 above the cold optimum). With
# `curvature = FALSE` no derivative is trusted: every coordinate far above
# the guess restarts from it, in one restart, and the better fit is kept.
escape_flat <- function(warm, G, in_out, run, rounds = 3L, probe = NULL,
                        curvature = TRUE) {
  best <- warm
  iterations <- 0
  guess <- NULL
  restart_from <- function(sp, fit) {
    seed <- make_seed(fit)
    tryCatch(run(list(sp = sp, scale = seed$scale), seed_theta_value(seed, fit$family),
                 start = fit$coefficients),
             error = function(e) NULL)
  }
  # One restart at `sp` (from `fit`'s scale and theta); the better of it
  # and the best so far, with the iterations paid.
  better_of_restart <- function(sp, fit) {
    restart <- restart_from(sp, fit)
    if (!is.null(restart) && is.null(convergence_problem(restart))) {
      iterations <- sum(iterations, outer_iterations(restart))
      if (as.numeric(restart$gcv.ubre) < as.numeric(best$gcv.ubre)) best <- restart
    }
    list(fit = best, iterations = iterations)
  }
  if (!curvature) {
    guess <- initial_guess(G)
    far <- if (!is.null(guess) && length(guess) == length(best$sp)) {
      which(far_above_guess(best$sp, guess))
    }
    if (length(far) == 0L) return(list(fit = best, iterations = iterations))
    sp <- unname(best$sp)
    sp[far] <- guess[far]
    return(better_of_restart(sp, best))
  }
  for (round in seq_len(rounds)) {
    flat <- flat_coordinates(best, G, in_out)
    if (length(flat) == 0L) break
    if (is.null(guess)) guess <- initial_guess(G)
    if (is.null(guess)) break
    flat <- flat[far_above_guess(best$sp[flat], guess[flat])]
    if (length(flat) == 0L) break
    sp <- unname(best$sp)
    sp[flat] <- guess[flat]
    restart <- restart_from(sp, best)
    if (is.null(restart) || !is.null(convergence_problem(restart))) break
    iterations <- sum(iterations, outer_iterations(restart))
    if (!(as.numeric(restart$gcv.ubre) < as.numeric(best$gcv.ubre))) break
    best <- restart
  }
  # Without a step run (bam) the probe would be a whole restart on every
  # such fit: those keep their fit (bam's warm test: 3 iterations more
  # than cold with the restart).
  sinking <- if (!is.null(probe)) sinking_coordinates(best, G, in_out)
  if (length(sinking) > 0L && is.null(guess)) guess <- initial_guess(G)
  if (!is.null(guess)) sinking <- sinking[far_above_guess(best$sp[sinking], guess[sinking])]
  if (length(sinking) == 0L || is.null(guess)) {
    return(list(fit = best, iterations = iterations))
  }
  sp <- unname(best$sp)
  sp[sinking] <- guess[sinking]
  seed <- make_seed(best)
  step <- tryCatch(probe(list(sp = sp, scale = seed$scale),
                         seed_theta_value(seed, best$family), best$coefficients),
                   error = function(e) NULL)
  if (!inherits(step, "gam") || length(step$sp) != length(sp)) {
    return(list(fit = best, iterations = iterations))
  }
  iterations <- sum(iterations, outer_iterations(step))
  other_basin <- as.numeric(step$gcv.ubre) < as.numeric(best$gcv.ubre) ||
    any(step$sp[sinking] < guess[sinking])
  if (!isTRUE(other_basin)) return(list(fit = best, iterations = iterations))
  better_of_restart(unname(step$sp), step)
}

# The smoothing parameters (indices) where the warm fit ended in the tail
# falling towards the null space (gradient < 0, curvature ~ -gradient > 0,
# both beyond rounding), which escape_flat() probes from mgcv's guess.
sinking_coordinates <- function(fit, G, in_out) {
  d <- sp_derivatives(fit, G, length(in_out$sp))
  if (is.null(d)) return(integer())
  tol <- 1e-10 * (abs(as.numeric(fit$gcv.ubre)) + 1)
  which(d$g < -tol & d$h > tol & abs(d$h + d$g) <= 0.2 * -d$g)
}

# The smoothing parameters (indices) where the warm fit ended on a slope
# down towards smaller values that is too shallow for the optimizer to
# follow: gradient > 0 and curvature < 0, both beyond rounding.
flat_coordinates <- function(fit, G, in_out) {
  d <- sp_derivatives(fit, G, length(in_out$sp))
  if (is.null(d)) return(integer())
  tol <- 1e-10 * (abs(as.numeric(fit$gcv.ubre)) + 1)
  # In the tail the curvature is minus the gradient; anything else is not
  # this shape (or is rounding).
  which(d$g > tol & d$h < -tol & abs(d$h + d$g) <= 0.2 * d$g)
}

# The other tail: a smoothing parameter on its way up into the null space,
# where score - limit ~ c * exp(-rho) with c > 0 (gradient -c exp(-rho),
# curvature c exp(-rho)). Newton's step there is +1, and mgcv climbs one
# log unit per iteration until the gradient is below its tolerance (6 of
# 9 iterations of a bootstrap fit of MASS::Boston). A quadratic minimum
# one unit away gives the same gradient and curvature, so the shape is
# told by the last step: in the tail, a step of d multiplied the gradient
# by exp(-d).
rising_coordinates <- function(before, fit, G, tol) {
  n_sp <- length(fit$sp)
  a <- sp_derivatives(fit, G, n_sp)
  b <- sp_derivatives(before, G, n_sp)
  if (is.null(a) || is.null(b) || length(before$sp) != n_sp) return(integer())
  moved <- log(fit$sp) - log(before$sp)
  # Only those mgcv would still move (gradient above conv.tol / 10).
  level <- converged_level(fit, tol)
  sloped <- a$g < -level & b$g < -level
  shrunk <- rep(NA_real_, n_sp)
  shrunk[sloped] <- log(a$g[sloped] / b$g[sloped])
  # A quadratic's gradient shrinks by about exp(-d) over a step of d only
  # if the step was cut well short of its minimum (by maxNstep, or step
  # halving); warm_fit() undoes a jump that then makes the score worse.
  which(sloped & moved >= 0.5 & moved <= 2.5 & a$h > 0 & abs(a$h + a$g) <= 0.2 * -a$g &
          abs(shrunk + moved) <= 0.25 * moved)
}

# How far up (a factor on the smoothing parameter) the coordinates must
# go for their gradient, c * exp(-rho), to fall below the level at which
# mgcv's Newton method counts them converged (conv.tol / 10 of its score
# scale); at least e, at most e^20.
null_space_jump <- function(fit, G, idx, tol) {
  d <- sp_derivatives(fit, G, length(fit$sp))
  level <- converged_level(fit, tol)
  exp(pmin(pmax(log(abs(d$g[idx]) / level), 1), 20))
}

# Gradient and curvature of the score in each log smoothing parameter (not
# theta's), from the fit's outer.info; NULL when it has none, or when the
# parameters are linked (G$L: they are not the optimizer's coordinates).
sp_derivatives <- function(fit, G, n_sp) {
  info <- fit$outer.info
  g <- info$grad
  h <- info$hess
  nth <- n_theta(fit$family)
  if (!is.numeric(g) || !is.matrix(h) || length(g) < nth + n_sp ||
      nrow(h) != length(g) || !is.null(G$L) || length(fit$sp) != n_sp ||
      any(!is.finite(g)) || any(!is.finite(h))) {
    return(NULL)
  }
  idx <- nth + seq_len(n_sp)
  list(g = as.numeric(g)[idx], h = diag(h)[idx])
}

# Smoothing parameters out where mgcv itself never starts: it keeps its
# starts within e^5 of its initial guess.
far_above_guess <- function(sp, guess) log(sp) > log(guess) + 5

# mgcv's own start for the smoothing parameters (initial.sp() on the
# weighted model matrix), or NULL.
initial_guess <- function(G) {
  if (length(G$S) != length(G$sp) || length(G$S) == 0L) return(NULL)
  w <- if (is.null(G$w)) 1 else sqrt(G$w)
  guess <- tryCatch(mgcv::initial.sp(w * G$X, G$S, G$off),
                    error = function(e) NULL)
  if (length(guess) != length(G$sp) || any(!is.finite(log(guess)))) return(NULL)
  guess
}

fit_bam <- function(inputs, seed_lookup) {
  family <- inputs$args$family
  cold <- function() fit_cold(inputs)
  if (!bam_warmable(inputs)) return(cold())
  seed <- seed_lookup()
  if (!is_seed(seed)) return(cold())
  G <- prepared_once(inputs)
  in_out <- seed_in_out(seed, length(G$sp), names(G$sp))
  if (is.null(in_out)) return(cold())
  # bam() takes no start coefficients (its `coef` is for discrete models).
  run <- function(in_out, theta = NULL, start = NULL) {
    call_fitter(inputs, NULL, list(G = G, in.out = in_out), drop = setup_args)
  }
  warm <- usable_warm(tryCatch(run(in_out), error = function(e) e))
  if (is.null(warm)) return(cold())
  escaped <- escape_flat(warm, G, in_out, run)
  iterations <- sum(outer_iterations(warm), escaped$iterations)
  list(fit = total_iterations(escaped$fit, iterations), mode = "warm",
       iterations = iterations)
}

# Fitters ws_gam() does not know (and gamm()): memoized; seeded through
# in.out when they take it and return a gam fit from an outer optimizer.
fit_other <- function(inputs, seed_lookup) {
  family <- inputs$args$family
  cold <- function() fit_cold(inputs)
  if (inputs$flavour == "gamm" || !("in.out" %in% names(formals(inputs$fitter)))) {
    return(cold())
  }
  in_out <- seed_in_out(seed_lookup())
  if (is.null(in_out)) return(cold())
  warm <- usable_warm(tryCatch(call_fitter(inputs, clone_family(family),
                                           list(in.out = in_out)),
                               error = function(e) e))
  if (is.null(warm)) return(cold())
  # An outer search ran from the seed when outer.info says so (a Gaussian
  # NCV fit reports its optimizer as "magic" yet has one).
  outer <- is.list(warm$outer.info)
  list(fit = warm, mode = if (outer) "warm" else "cold",
       iterations = outer_iterations(warm))
}

# A cold fit with the caller's own arguments.
fit_cold <- function(inputs) {
  fit <- call_fitter(inputs, clone_family(inputs$args$family))
  list(fit = fit, mode = "cold", iterations = outer_iterations(fit))
}

# The warm fit (or the error its attempt raised), or NULL after a warning
# saying why not when it failed or did not converge: the caller fits cold.
usable_warm <- function(warm) {
  problem <- if (inherits(warm, "error")) conditionMessage(warm) else
    convergence_problem(warm)
  if (is.null(problem)) return(warm)
  warning(sprintf(paste0("ws_gam(): the warm start from the stored seed ",
                         "failed (%s); refitted cold"), problem),
          call. = FALSE)
  NULL
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

# A warm fit's outer.info$iter holds the outer iterations of every run
# that made it (steps, the final run, restarts), as attribute
# "warmstart_iterations" does: mgcv's count of its own last run alone
# would understate what the fit cost, and differ by the path it took.
# (The field that outer_iterations() read, of the type mgcv gave it.)
total_iterations <- function(fit, iterations) {
  if (is.null(outer_iterations(fit))) return(fit)
  field <- if (is.null(fit$outer.info$iter)) "niter" else "iter"
  if (is.integer(fit$outer.info[[field]])) iterations <- as.integer(iterations)
  fit$outer.info[[field]] <- iterations
  fit
}

outer_iterations <- function(fit) {
  if (!is.list(fit) || !is.list(fit$outer.info)) return(NULL)
  it <- fit$outer.info$iter
  if (is.null(it)) it <- fit$outer.info$niter
  if (is.numeric(it) && length(it) == 1L && is.finite(it) && it >= 0) it else NULL
}
