# Warm starts that keep informative seeds and escape flat regions.

skip_if_not_installed("mgcv")

test_that("a seed in a flat region of the REML score does not trap the fit", {
  # On this resample the full-data fit penalizes s(x3) into a straight line
  # (sp ~ 7e4, where REML is flat in it) while the resample's own optimum
  # has it wiggly (sp < 100). Started there, the warm fit stops at once
  # (the slope is below the optimizer's tolerance) 1.2e-4 (relative) above
  # the cold optimum; the flat coordinate alone must be restarted.
  t <- gam_store()
  set.seed(42)
  d <- mgcv::gamSim(1, n = 4000, verbose = FALSE)
  db <- d[sample(nrow(d), replace = TRUE), ]
  full <- ws_gam(gam_formula, d, method = "REML", store = t$store)
  expect_gt(full$sp[["s(x3)"]], 1e4)
  warm <- ws_gam(gam_formula, db, method = "REML", store = t$store)
  cold <- mgcv::gam(gam_formula, data = db, method = "REML")
  expect_identical(attr(warm, "warmstart"), "warm")
  expect_lt(cold$sp[["s(x3)"]], 100)
  expect_lt(warm$sp[["s(x3)"]], 100)
  expect_lt(rel_diff(warm$gcv.ubre, cold$gcv.ubre), 1e-6)
  # Restarting one coordinate is not a cold refit: fewer iterations in all.
  expect_lt(attr(warm, "warmstart_iterations"), cold$outer.info$iter)
})

linear_data <- function(n = 3000, seed = 8) {
  set.seed(seed)
  x <- matrix(runif(4 * n), n, 4, dimnames = list(NULL, paste0("x", 0:3)))
  d <- data.frame(x)
  d$y <- 2 * sin(pi * d$x0) + 1.5 * d$x1 - d$x2 + 0.5 * d$x3 + rnorm(n)
  d
}

test_that("a near-linear smooth's large seed is used as it is", {
  # Three of the four effects are linear: their smoothing parameters are
  # far above mgcv's initial guess (the old cap cut them to e^3 times it),
  # and they go into the warm fit as they are.
  t <- gam_store()
  d <- linear_data()
  full <- ws_gam(gam_formula, d, method = "REML", store = t$store)
  G <- mgcv::gam(gam_formula, data = d, method = "REML", fit = FALSE)
  guess <- mgcv::initial.sp(sqrt(G$w) * G$X, G$S, G$off)
  far <- log(full$sp) > log(guess) + 3
  expect_true(any(far))
  seed <- warmstart:::make_seed(full)
  start <- warmstart:::seed_in_out(seed, length(G$sp), names(G$sp))
  expect_identical(start$sp, unname(full$sp))
  expect_identical(start$scale, full$reml.scale)
  iters <- NULL
  for (b in 1:3) {
    db <- resample(d, 300 + b)
    warm <- ws_gam(gam_formula, db, method = "REML", store = t$store)
    cold <- mgcv::gam(gam_formula, data = db, method = "REML")
    expect_identical(attr(warm, "warmstart"), "warm")
    expect_true(rel_diff(warm$gcv.ubre, cold$gcv.ubre) < 1e-6 ||
                  warm$gcv.ubre < cold$gcv.ubre)
    iters <- rbind(iters, c(attr(warm, "warmstart_iterations"),
                            cold$outer.info$iter))
  }
  # Fewer iterations than cold, restarts included. (REML surfaces of linear
  # effects often have a second, wiggly optimum: with linear_data(4000, 7)
  # one resample's warm fit stays in the null space 1.4e-4 above the cold
  # optimum; bench/realdata.R measures how often on real data.)
  expect_lt(sum(iters[, 1]), sum(iters[, 2]))
})

test_that("a seed in a falling tail is not crawled down one step at a time", {
  # Seeded from data where x3's effect is a straight line, the smoothing
  # parameter of s(x3) starts far out in the tail of a score whose optimum
  # (a wiggly effect) lies far below. Newton's step there is exactly -1 a
  # time (curvature = -gradient); the probe's first step finds the tail
  # and that coordinate restarts from mgcv's guess.
  t <- gam_store()
  d <- linear_data()
  full <- ws_gam(gam_formula, d, method = "REML", store = t$store)
  set.seed(11)
  d2 <- d
  d2$y <- 2 * sin(pi * d$x0) + 1.5 * d$x1 - d$x2 + 0.3 * sin(6 * pi * d$x3) +
    rnorm(nrow(d))
  warm <- ws_gam(gam_formula, d2, method = "REML", store = t$store)
  raw <- suppressWarnings(mgcv::gam(gam_formula, data = d2, method = "REML",
                                    in.out = list(sp = unname(full$sp),
                                                  scale = full$reml.scale)))
  cold <- mgcv::gam(gam_formula, data = d2, method = "REML")
  expect_gt(log(full$sp[["s(x3)"]]) - log(cold$sp[["s(x3)"]]), 8)
  expect_identical(attr(warm, "warmstart"), "warm")
  expect_true(rel_diff(warm$gcv.ubre, cold$gcv.ubre) < 1e-6 ||
                warm$gcv.ubre < cold$gcv.ubre)
  expect_lt(attr(warm, "warmstart_iterations"), raw$outer.info$iter)
})

test_that("the probe's control keeps the caller's and passes every test", {
  ctl <- warmstart:::probe_control(list(maxit = 50, newton = list(maxHalf = 10)))
  expect_identical(ctl$maxit, 50)
  expect_identical(ctl$newton$maxHalf, 10)
  expect_identical(ctl$newton$conv.tol, Inf)
  expect_identical(warmstart:::probe_control(NULL)$newton$conv.tol, Inf)
})

test_that("flat coordinates are those sloping down towards smaller values", {
  # score - limit ~ c exp(-rho) far out: gradient -c e^-rho, curvature
  # c e^-rho. Only c < 0 (a lower optimum below) counts as flat.
  fit <- structure(list(sp = c(1, 1e5, 1e5), gcv.ubre = 100,
                        family = gaussian(),
                        outer.info = list(grad = c(1e-3, 8e-5, -7e-5, 1e-4),
                                          hess = diag(c(2, -8e-5, 7e-5, 2e3)))),
                   class = "gam")
  G <- list(L = NULL)
  expect_identical(warmstart:::flat_coordinates(fit, G, list(sp = fit$sp)), 2L)
  fit$outer.info$grad[2] <- 1e-12 # rounding, not a slope
  fit$outer.info$hess[2, 2] <- -1e-12
  expect_identical(warmstart:::flat_coordinates(fit, G, list(sp = fit$sp)),
                   integer())
})
