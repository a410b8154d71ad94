# ws_gam(): memoized and warm-started mgcv fits.

skip_if_not_installed("mgcv")

test_that("a fit is cold, then a hit that returns the stored fit", {
  t <- gam_store()
  d <- gam_data()
  first <- ws_gam(gam_formula, d, method = "REML", store = t$store)
  expect_s3_class(first, "gam")
  expect_identical(attr(first, "warmstart"), "cold")
  plain <- mgcv::gam(gam_formula, data = d, method = "REML")
  expect_equal(first$coefficients, plain$coefficients, tolerance = 1e-10)
  expect_identical(first$gcv.ubre, plain$gcv.ubre)
  again <- ws_gam(gam_formula, d, method = "REML", store = t$store)
  expect_identical(attr(again, "warmstart"), "hit")
  expect_identical(again$coefficients, first$coefficients)
  expect_identical(again$sp, first$sp)
  expect_equal(predict(again, d[1:10, ]), predict(first, d[1:10, ]))
})

test_that("a related fit starts warm and reaches the same optimum", {
  t <- gam_store()
  d <- gam_data()
  ws_gam(gam_formula, d, method = "REML", store = t$store)
  iters <- matrix(0, 0, 2)
  for (b in 1:3) {
    db <- resample(d, 100 + b)
    warm <- ws_gam(gam_formula, db, method = "REML", store = t$store)
    cold <- mgcv::gam(gam_formula, data = db, method = "REML")
    expect_identical(attr(warm, "warmstart"), "warm")
    # The same optimum to 1e-6, or a better one: REML surfaces can have
    # local optima, and on resample 102 the cold search stops at one
    # (2157.27) that the warm one passes by (2155.20).
    expect_at_cold_optimum(warm, cold,
                           label = sprintf("resample %d: warm %.10g, cold %.10g", 100 + b,
                                           warm$gcv.ubre, cold$gcv.ubre))
    iters <- rbind(iters, c(attr(warm, "warmstart_iterations"), cold$outer.info$iter))
  }
  expect_lt(sum(iters[, 1]), sum(iters[, 2]))
})

test_that("fits persist across processes", {
  t <- gam_store()
  script <- tempfile(fileext = ".R")
  withr::defer(unlink(script))
  helper <- deparse(gam_data)
  writeLines(c(
    "library(warmstart)",
    paste("gam_data <-", paste(helper, collapse = "\n")),
    sprintf("st <- ws_open(%s)", deparse(t$root)),
    "fit <- ws_gam(y ~ s(x0) + s(x1) + s(x2) + s(x3), gam_data(), method = 'REML', store = st)",
    "cat(attr(fit, 'warmstart'), format(unname(fit$gcv.ubre), digits = 17))"
  ), script)
  rscript <- file.path(R.home("bin"), "Rscript")
  out <- system2(rscript, c("--vanilla", shQuote(script)), stdout = TRUE)
  expect_match(out, "^cold ")
  here <- ws_gam(gam_formula, gam_data(), method = "REML", store = t$store)
  expect_identical(attr(here, "warmstart"), "hit")
  expect_identical(format(unname(here$gcv.ubre), digits = 17),
                   sub("^cold ", "", out))
})

test_that("a different formula, family or method never hits", {
  t <- gam_store()
  d <- gam_data()
  d$y <- d$y - min(d$y) + 1
  ws_gam(gam_formula, d, method = "REML", store = t$store)
  other_formula <- ws_gam(y ~ s(x0) + s(x1) + s(x2) + s(x3, k = 5), d,
                          method = "REML", store = t$store)
  expect_identical(attr(other_formula, "warmstart"), "cold")
  other_family <- ws_gam(gam_formula, d, method = "REML",
                         family = Gamma(link = "log"), store = t$store)
  expect_identical(attr(other_family, "warmstart"), "cold")
  expect_identical(other_family$family$family, "Gamma")
  other_method <- ws_gam(gam_formula, d, method = "ML", store = t$store)
  expect_identical(attr(other_method, "warmstart"), "cold")
  expect_identical(other_method$method, "ML")
  # The same model on other data is warm, not a hit.
  expect_identical(attr(ws_gam(gam_formula, d[-1, ], method = "REML",
                               store = t$store), "warmstart"), "warm")
})

test_that("a seed that breaks the fit gives a warning and a cold fit", {
  t <- gam_store()
  d <- gam_data(n = 400)
  calls <- 0
  fitter <- function(formula, data, method = "REML", in.out = NULL) {
    if (!is.null(in.out)) stop("the seed is no good")
    mgcv::gam(formula, data = data, method = method)
  }
  first <- ws_gam(gam_formula, d, store = t$store, fitter = fitter)
  expect_identical(attr(first, "warmstart"), "cold")
  expect_warning(second <- ws_gam(gam_formula, d[-1, ], store = t$store,
                                  fitter = fitter),
                 "warm start from the stored seed failed \\(the seed is no good\\)")
  expect_identical(attr(second, "warmstart"), "cold")
  stalls <- function(formula, data, method = "REML", in.out = NULL) {
    fit <- mgcv::gam(formula, data = data, method = method, in.out = in.out)
    if (!is.null(in.out)) fit$outer.info$conv <- "iteration limit reached"
    fit
  }
  ws_gam(gam_formula, d, store = t$store, fitter = stalls)
  expect_warning(third <- ws_gam(gam_formula, d[-2, ], store = t$store,
                                 fitter = stalls),
                 "iteration limit reached")
  expect_identical(attr(third, "warmstart"), "cold")
  expect_identical(third$outer.info$conv, "full convergence")
})

test_that("a stored fit does not drag its environment into the store", {
  # mgcv::gam already points its formulas at the global environment; a
  # fitter that keeps the caller's formula (with its frame) shows that
  # ws_gam() does so for the stored copy itself.
  t <- gam_store()
  d <- gam_data(n = 400)
  keeps_formula <- function(formula, data, method = "REML", in.out = NULL) {
    fit <- mgcv::gam(formula, data = data, method = method, in.out = in.out)
    fit$formula <- formula
    fit
  }
  fit_in_function <- function() {
    ballast <- runif(4e6) # 32 MB that the formula's environment carries
    f <- y ~ s(x0) + s(x1)
    ws_gam(f, d, method = "REML", store = t$store, fitter = keeps_formula)
  }
  fit <- fit_in_function()
  expect_true(exists("ballast", envir = environment(fit$formula)))
  expect_gt(length(serialize(fit, NULL)), 3e7)
  on_disk <- ws_evict(t$store)$bytes
  expect_lt(on_disk, 2e6)
  hit <- fit_in_function()
  expect_identical(attr(hit, "warmstart"), "hit")
  expect_identical(environment(hit$formula), globalenv())
})

test_that("workers under mclapply share one store", {
  skip_if_no_fork()
  t <- gam_store()
  d <- gam_data(n = 600)
  ws_gam(gam_formula, d, method = "REML", store = t$store)
  modes <- parallel::mclapply(1:4, function(b) {
    st <- ws_open(t$root)
    fit <- ws_gam(gam_formula, resample(d, b), method = "REML", store = st)
    attr(fit, "warmstart")
  }, mc.cores = 2)
  expect_identical(unlist(modes), rep("warm", 4))
  again <- parallel::mclapply(1:4, function(b) {
    attr(ws_gam(gam_formula, resample(d, b), method = "REML",
                store = ws_open(t$root)), "warmstart")
  }, mc.cores = 2)
  expect_identical(unlist(again), rep("hit", 4))
})

test_that("workers that miss one fit at once fit it once, and all return it", {
  skip_if_no_fork()
  t <- gam_store()
  d <- gam_data(n = 2000)
  started <- Sys.time()
  res <- parallel::mclapply(1:4, function(i) {
    fit <- ws_gam(gam_formula, d, method = "REML", store = ws_open(t$root))
    list(mode = attr(fit, "warmstart"), coef = coef(fit))
  }, mc.cores = test_cores(4))
  elapsed <- as.numeric(Sys.time() - started, units = "secs")
  modes <- vapply(res, `[[`, "", "mode")
  expect_identical(sum(modes == "hit"), 3L)
  expect_identical(sum(modes %in% c("cold", "warm")), 1L)
  for (r in res) expect_identical(r$coef, res[[1]]$coef)
  # One fit's entry, one seed's.
  expect_identical(nrow(ws_list(t$store)), 2L)
  record_figure("ws_gam single flight: 4 workers, fits, hits, seconds",
                c(sum(modes != "hit"), sum(modes == "hit"), round(elapsed, 1)))
  expect_error(ws_gam(gam_formula, d, store = t$store, timeout = -1),
               class = "ws_bad_argument")
})

test_that("ws_gam() checks its arguments", {
  t <- gam_store()
  d <- gam_data(n = 200)
  expect_bad_argument <- function(expr, argument) {
    e <- expect_error(expr, class = "ws_bad_argument")
    expect_identical(e$argument, argument)
  }
  expect_bad_argument(ws_gam("y ~ x", d, store = t$store), "formula")
  expect_bad_argument(ws_gam(gam_formula, store = t$store), "data")
  expect_bad_argument(ws_gam(gam_formula, 1:3, store = t$store), "data")
  expect_bad_argument(ws_gam(gam_formula, d, store = "x"), "store")
  expect_bad_argument(ws_gam(gam_formula, d, store = t$store, fitter = "gam"),
                      "fitter")
  expect_bad_argument(ws_gam(gam_formula, d, in.out = list(), store = t$store),
                      "...")
  expect_bad_argument(ws_gam(gam_formula, d, "REML", store = t$store), "...")
  expect_identical(ws_evict(t$store)$entries, 0)
})
