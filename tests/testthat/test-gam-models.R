# ws_gam() across model kinds: honest modes, theta seeds, multi-formula
# families, bam() on both sides of mgcv 1.9-0, gamm() and other fitters.

skip_if_not_installed("mgcv")

test_that("fits that ignore in.out are called cold, never warm", {
  t <- gam_store()
  d <- gam_data(n = 400)
  # Gaussian identity by GCV.Cp (the default): magic(), no outer search.
  ws_gam(gam_formula, d, store = t$store)
  gcv <- ws_gam(gam_formula, d[-1, ], store = t$store)
  expect_identical(attr(gcv, "warmstart"), "cold")
  expect_equal(coef(gcv), coef(mgcv::gam(gam_formula, data = d[-1, ])),
               tolerance = 1e-10)
  d$count <- rpois(nrow(d), exp(d$y / 10))
  perf_fit <- function(data) ws_gam(count ~ s(x0) + s(x1), data, family = poisson(),
                                    optimizer = "perf", store = t$store)
  if (packageVersion("mgcv") < "1.9.0") {
    # The performance iteration ignores it too (mgcv 1.8 deprecates it
    # with a warning).
    suppressWarnings(perf_fit(d))
    perf <- suppressWarnings(perf_fit(d[-1, ]))
    expect_identical(attr(perf, "warmstart"), "cold")
  } else {
    # mgcv 1.9 has no performance iteration: gam() stops, and ws_gam()
    # passes its error on and stores nothing.
    saved <- nrow(ws_list(t$store))
    cold <- tryCatch(mgcv::gam(count ~ s(x0) + s(x1), data = d, family = poisson(),
                               optimizer = "perf"), error = identity)
    expect_s3_class(cold, "error")
    expect_error(perf_fit(d), conditionMessage(cold), fixed = TRUE)
    expect_identical(nrow(ws_list(t$store)), saved)
  }
  # A Poisson GCV (UBRE) fit runs the outer search: warm.
  ws_gam(count ~ s(x0) + s(x1), d, family = poisson(), store = t$store)
  ubre <- ws_gam(count ~ s(x0) + s(x1), d[-1, ], family = poisson(),
                 store = t$store)
  expect_identical(attr(ubre, "warmstart"), "warm")
})

test_that("an estimated theta is seeded: nb() starts where the last fit ended", {
  t <- gam_store()
  set.seed(5)
  n <- 1500
  d <- data.frame(x0 = runif(n), x1 = runif(n))
  mu <- exp(1 + sin(2 * pi * d$x0) + d$x1)
  d$y <- rpois(n, rgamma(n, shape = 2, rate = 2 / mu)) # Poisson-gamma: NB(2)
  form <- y ~ s(x0) + s(x1)
  ws_gam(form, d, family = mgcv::nb(), method = "REML", store = t$store)
  iters <- NULL
  for (b in 1:3) {
    db <- resample(d, 200 + b)
    warm <- ws_gam(form, db, family = mgcv::nb(), method = "REML", store = t$store)
    cold <- mgcv::gam(form, data = db, family = mgcv::nb(), method = "REML")
    expect_identical(attr(warm, "warmstart"), "warm")
    expect_at_cold_optimum(warm, cold)
    # theta is one of the optimizer's coordinates: as precise as the
    # smoothing parameters (see expect_same_fit() in test-gam-keys.R).
    expect_equal(warm$family$getTheta(), cold$family$getTheta(), tolerance = 1e-3)
    iters <- rbind(iters, c(attr(warm, "warmstart_iterations"),
                            cold$outer.info$iter))
  }
  expect_lt(sum(iters[, 1]), sum(iters[, 2]))
})

test_that("multi-formula families (gaulss) are memoized and warm-started", {
  t <- gam_store()
  set.seed(9)
  n <- 800
  d <- data.frame(x0 = runif(n), x1 = runif(n))
  d$y <- sin(2 * pi * d$x0) + rnorm(n, sd = exp(-1 + sin(2 * pi * d$x1) / 2))
  form <- list(y ~ s(x0), ~ s(x1))
  first <- ws_gam(form, d, family = mgcv::gaulss(), method = "REML",
                  store = t$store)
  expect_identical(attr(first, "warmstart"), "cold")
  expect_identical(attr(ws_gam(form, d, family = mgcv::gaulss(), method = "REML",
                               store = t$store), "warmstart"), "hit")
  db <- resample(d, 1)
  warm <- ws_gam(form, db, family = mgcv::gaulss(), method = "REML",
                 store = t$store)
  cold <- mgcv::gam(form, data = db, family = mgcv::gaulss(), method = "REML")
  expect_identical(attr(warm, "warmstart"), "warm")
  expect_lt(attr(warm, "warmstart_iterations"), cold$outer.info$iter)
  expect_at_cold_optimum(warm, cold)
})

test_that("bam() is memoized, and seeded only where bam() takes in.out", {
  t <- gam_store()
  d <- gam_data(n = 2000)
  first <- ws_gam(gam_formula, d, method = "fREML", store = t$store,
                  fitter = mgcv::bam)
  expect_s3_class(first, "bam")
  expect_identical(attr(first, "warmstart"), "cold")
  again <- ws_gam(gam_formula, d, method = "fREML", store = t$store,
                  fitter = mgcv::bam)
  expect_identical(attr(again, "warmstart"), "hit")
  expect_identical(again$coefficients, first$coefficients)
  related <- ws_gam(gam_formula, d[-1, ], method = "fREML", store = t$store,
                    fitter = mgcv::bam)
  expected <- if ("in.out" %in% names(formals(mgcv::bam))) "warm" else "cold"
  expect_identical(attr(related, "warmstart"), expected)
})

test_that("bam() with mgcv >= 1.9-0 starts warm", {
  # The installed mgcv where it is >= 1.9-0 (on R >= 4.4, current mgcv);
  # otherwise one in a private library (WARMSTART_MGCV19_LIB; on R 4.2,
  # tools/install-deps.sh installs mgcv 1.9-1 there when it can).
  lib <- character()
  if (packageVersion("mgcv") < "1.9.0") {
    lib <- Sys.getenv("WARMSTART_MGCV19_LIB")
    if (!nzchar(lib) || !file.exists(file.path(lib, "mgcv", "DESCRIPTION"))) {
      skip(paste("mgcv >= 1.9-0 is not installed, neither here nor in",
                 "WARMSTART_MGCV19_LIB (tools/install-deps.sh puts one there when it can)"))
    }
  }
  t <- gam_store()
  # In a child Rscript, with that library first. (Not callr: processx's
  # SIGCHLD handler, once loaded, leaves parallel's children unreaped, and
  # later tests judge writers dead by their pids.)
  result <- tempfile(fileext = ".rds")
  withr::defer(unlink(result))
  status <- attr(run_r(c(
    if (length(lib)) sprintf(".libPaths(c(%s, .libPaths()))", deparse(lib)),
    "library(warmstart)",
    # (With set.seed(3) here, s(x3), which has no effect, has two REML
    # optima on the resample: the full data's fit puts it in its null space
    # and the warm fit stays there, 1.1e-4 above the cold fit's wiggly
    # optimum, with the score sloping towards the null space. A limit of
    # warm starts documented in ?ws_gam.)
    "set.seed(5)",
    "d <- mgcv::gamSim(1, n = 3000, verbose = FALSE)",
    "form <- y ~ s(x0) + s(x1) + s(x2) + s(x3)",
    sprintf("st <- ws_open(%s)", deparse(t$root)),
    "ws_gam(form, d, store = st, fitter = mgcv::bam)",
    "set.seed(4)",
    "db <- d[sample(nrow(d), replace = TRUE), ]",
    "warm <- ws_gam(form, db, store = st, fitter = mgcv::bam)",
    "cold <- mgcv::bam(form, data = db)",
    "saveRDS(list(version = as.character(packageVersion('mgcv')),",
    "             mode = attr(warm, 'warmstart'),",
    "             iter = c(warm$outer.info$iter, cold$outer.info$iter),",
    "             reml = c(warm$gcv.ubre, cold$gcv.ubre)),",
    sprintf("        %s)", deparse(result))), timeout = 600), "status")
  expect_identical(status, 0L)
  out <- readRDS(result)
  expect_true(package_version(out$version) >= "1.9.0")
  expect_identical(out$mode, "warm")
  expect_lt(out$iter[1], out$iter[2])
  expect_lt(rel_diff(out$reml[1], out$reml[2]), 1e-6)
})

test_that("gamm() fits are memoized, not refitted and re-saved each call", {
  t <- gam_store()
  d <- gam_data(n = 300)
  first <- ws_gam(y ~ s(x0) + s(x1), d, store = t$store, fitter = mgcv::gamm)
  expect_s3_class(first, "gamm")
  expect_identical(attr(first, "warmstart"), "cold")
  writes <- ws_evict(t$store)$entries
  again <- ws_gam(y ~ s(x0) + s(x1), d, store = t$store, fitter = mgcv::gamm)
  expect_identical(attr(again, "warmstart"), "hit")
  expect_identical(ws_evict(t$store)$entries, writes)
  expect_equal(coef(again$gam), coef(first$gam))
  expect_equal(predict(again$gam, d[1:5, ]), predict(first$gam, d[1:5, ]))
})

test_that("a fitter that returns something else is fitted once", {
  t <- gam_store()
  d <- gam_data(n = 300)
  calls <- 0
  summary_fitter <- function(formula, data, method = "REML") {
    calls <<- calls + 1
    fit <- mgcv::gam(formula, data = data, method = method)
    list(edf = sum(fit$edf), reml = fit$gcv.ubre)
  }
  first <- ws_gam(y ~ s(x0), d, store = t$store, fitter = summary_fitter)
  again <- ws_gam(y ~ s(x0), d, store = t$store, fitter = summary_fitter)
  expect_identical(calls, 1)
  expect_identical(attr(again, "warmstart"), "hit")
  expect_identical(again$edf, first$edf)
})
