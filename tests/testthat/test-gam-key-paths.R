# ws_gam()'s two key paths: the symbolic key where it provably covers every
# input, the prepared model's hash ("model") where it cannot prove that.
# Each stale-hit case below changes something the symbolic key cannot see
# (a user smooth class, a default argument, an S3 method, a fitter's free
# variable): the changed call must not be a hit, and must be the fit a
# fresh gam() call makes.

skip_if_not_installed("mgcv")

path_data <- function(n = 300, seed = 21) {
  set.seed(seed)
  d <- data.frame(x0 = runif(n), x1 = runif(n))
  d$y <- sin(2 * pi * d$x0) + 2 * d$x1^2 + rnorm(n, sd = 0.3)
  d
}

# Users define smooth classes and methods in the workspace. Under R CMD
# check testthat runs a test in an environment whose parents reach
# warmstart's namespace, which makes a closure created there look like a
# package's code: the closures below are given the workspace as their
# enclosure (with the values they use).
in_workspace <- function(f, ...) {
  environment(f) <- list2env(list(...), parent = globalenv())
  f
}

# `first` is the fit before the change, `changed` the ws_gam() fit after
# it and `fresh` gam()'s after it: not a hit, gam()'s fit, and different
# from the first (the change matters).
expect_not_stale <- function(first, changed, fresh, label) {
  expect_false(identical(attr(changed, "warmstart"), "hit"),
               label = paste(label, ": the changed call is not a hit"))
  expect_equal(as.numeric(changed$gcv.ubre), as.numeric(fresh$gcv.ubre),
               tolerance = 1e-6, label = paste(label, ": the criterion"))
  expect_false(isTRUE(all.equal(as.numeric(first$gcv.ubre),
                                as.numeric(fresh$gcv.ubre), tolerance = 1e-6)),
               label = paste(label, ": the change changes the fit"))
}

test_that("an mgcv-only formula takes the symbolic path, and hits on it", {
  t <- gam_store()
  d <- path_data()
  d$f <- factor(sample(letters[1:3], nrow(d), replace = TRUE))
  call <- function() {
    ws_gam(y ~ s(x0) + s(x1, bs = "cr", k = 8) + te(x0, x1, k = 4) + f + log(x1),
           d, method = "REML", family = gaussian(), store = t$store)
  }
  first <- call()
  expect_identical(attr(first, "warmstart_key"), "symbolic")
  again <- call()
  expect_identical(attr(again, "warmstart"), "hit")
  expect_identical(attr(again, "warmstart_key"), "symbolic")
})

test_that("a user smooth class, redefined, is not a stale hit", {
  t <- gam_store()
  d <- path_data()
  # Users define smooth classes in the workspace, where mgcv's dispatch
  # finds them.
  methods <- c("smooth.construct.wsk.smooth.spec", "Predict.matrix.wsk.smooth")
  withr::defer(rm(list = intersect(methods, ls(globalenv())), envir = globalenv()))
  define <- function(k) {
    assign(methods[1L], in_workspace(function(object, data, knots) {
      object$bs.dim <- k
      object <- mgcv::smooth.construct.cr.smooth.spec(object, data, knots)
      class(object) <- c("wsk.smooth", class(object))
      object
    }, k = k), envir = globalenv())
    assign(methods[2L], in_workspace(function(object, data) {
      mgcv::Predict.matrix.cr.smooth(object, data)
    }), envir = globalenv())
  }
  ws <- function() ws_gam(y ~ s(x0, bs = "wsk") + s(x1), d, method = "REML",
                          store = t$store)
  define(4)
  first <- ws()
  expect_identical(attr(first, "warmstart_key"), "model")
  expect_identical(attr(ws(), "warmstart"), "hit")
  define(12)
  fresh <- mgcv::gam(y ~ s(x0, bs = "wsk") + s(x1), data = d, method = "REML")
  changed <- ws()
  expect_not_stale(first, changed, fresh, "user smooth class")
  expect_identical(attr(ws(), "warmstart"), "hit")
})

test_that("a formula function's default argument reading a variable is keyed", {
  t <- gam_store()
  d <- path_data()
  power <- 1
  tr <- function(x, p = power) x^p
  ws <- function() ws_gam(y ~ s(x0) + tr(x1), d, method = "REML", store = t$store)
  first <- ws()
  expect_identical(attr(first, "warmstart_key"), "model")
  expect_identical(attr(ws(), "warmstart"), "hit")
  power <- 2
  fresh <- mgcv::gam(y ~ s(x0) + tr(x1), data = d, method = "REML")
  expect_not_stale(first, ws(), fresh, "default argument")
  # The description of a function (used for a fitter of one's own) covers
  # what its defaults read.
  expect_identical(warmstart:::function_uses(tr)$value, "power")
})

test_that("an S3 method of a user generic in the formula is keyed", {
  t <- gam_store()
  d <- path_data()
  tr <- function(x) UseMethod("tr")
  tr.numeric <- function(x) x
  ws <- function() ws_gam(y ~ s(x0) + tr(x1), d, method = "REML", store = t$store)
  first <- ws()
  expect_identical(attr(first, "warmstart_key"), "model")
  expect_identical(attr(ws(), "warmstart"), "hit")
  tr.numeric <- function(x) x^2
  fresh <- mgcv::gam(y ~ s(x0) + tr(x1), data = d, method = "REML")
  expect_not_stale(first, ws(), fresh, "user generic's method")
})

test_that("a user method of a package generic in the formula is keyed", {
  t <- gam_store()
  d <- path_data()
  d$u <- structure(d$x1, class = "wsk_unit")
  # sqrt() is a Math group member: it dispatches on the class to this.
  assign("Math.wsk_unit", in_workspace(function(x, ...) get(.Generic)(unclass(x), ...)),
         envir = globalenv())
  withr::defer(rm(list = intersect("Math.wsk_unit", ls(globalenv())),
                  envir = globalenv()))
  ws <- function() ws_gam(y ~ s(x0) + sqrt(u), d, method = "REML", store = t$store)
  first <- ws()
  expect_identical(attr(first, "warmstart_key"), "model")
  expect_identical(attr(ws(), "warmstart"), "hit")
  assign("Math.wsk_unit", in_workspace(function(x, ...) get(.Generic)(unclass(x)^2, ...)),
         envir = globalenv())
  fresh <- mgcv::gam(y ~ s(x0) + sqrt(u), data = d, method = "REML")
  expect_not_stale(first, ws(), fresh, "user method of sqrt()")
})

test_that("an S3 method registered outside a package is seen", {
  t <- gam_store()
  d <- path_data()
  d$u <- structure(d$x1, class = "wsk_registered")
  table <- asNamespace("base")[[".__S3MethodsTable__."]]
  withr::defer(rm(list = intersect("Math.wsk_registered", ls(table)), envir = table))
  register <- function(power) {
    registerS3method("Math", "wsk_registered", in_workspace(function(x, ...) {
      get(.Generic)(unclass(x)^power, ...)
    }, power = power), envir = asNamespace("base"))
  }
  ws <- function() ws_gam(y ~ s(x0) + sqrt(u), d, method = "REML", store = t$store)
  register(1)
  first <- ws()
  expect_identical(attr(first, "warmstart_key"), "model")
  expect_identical(attr(ws(), "warmstart"), "hit")
  register(4)
  fresh <- mgcv::gam(y ~ s(x0) + sqrt(u), data = d, method = "REML")
  expect_not_stale(first, ws(), fresh, "registered method of sqrt()")
})

test_that("a formula reading a variable by name (get()) is keyed", {
  t <- gam_store()
  d <- path_data()
  z <- d$x1
  ws <- function() ws_gam(y ~ s(x0) + I(get("z")), d, method = "REML",
                          store = t$store)
  first <- ws()
  expect_identical(attr(first, "warmstart_key"), "model")
  expect_identical(attr(ws(), "warmstart"), "hit")
  z <- d$x1^3
  fresh <- mgcv::gam(y ~ s(x0) + I(get("z")), data = d, method = "REML")
  expect_not_stale(first, ws(), fresh, "get() in the formula")
})

test_that("a fitter closure's free variables are keyed", {
  t <- gam_store()
  d <- path_data()
  g <- 1
  fitter <- function(formula, data, ...) {
    mgcv::gam(formula, data = data, gamma = g, ...)
  }
  ws <- function() ws_gam(y ~ s(x0, k = 20) + s(x1), d, method = "REML",
                          fitter = fitter, store = t$store)
  first <- ws()
  expect_identical(attr(first, "warmstart_key"), "model")
  expect_identical(attr(ws(), "warmstart"), "hit")
  g <- 20
  fresh <- mgcv::gam(y ~ s(x0, k = 20) + s(x1), data = d, method = "REML",
                     gamma = 20)
  expect_not_stale(first, ws(), fresh, "fitter's free variable")
})

test_that("a hit on the model path is the fit gam() makes", {
  t <- gam_store()
  d <- path_data()
  tr <- function(x) exp(x)
  plain <- mgcv::gam(y ~ s(x0) + tr(x1), data = d, method = "REML")
  first <- ws_gam(y ~ s(x0) + tr(x1), d, method = "REML", store = t$store)
  hit <- ws_gam(y ~ s(x0) + tr(x1), d, method = "REML", store = t$store)
  expect_identical(attr(hit, "warmstart"), "hit")
  expect_identical(attr(hit, "warmstart_key"), "model")
  expect_equal(coef(hit), coef(plain), tolerance = 1e-10)
  expect_equal(hit$sp, plain$sp, tolerance = 1e-10)
  expect_equal(fitted(hit), fitted(plain), tolerance = 1e-10)
  expect_equal(as.numeric(hit$gcv.ubre), as.numeric(plain$gcv.ubre),
               tolerance = 1e-12)
  # The same model reached from another process's store read: the disk copy.
  warmstart:::ws_value_cache_clear()
  disk <- ws_gam(y ~ s(x0) + tr(x1), d, method = "REML", store = t$store)
  expect_identical(attr(disk, "warmstart"), "hit")
  expect_equal(coef(disk), coef(plain), tolerance = 1e-10)
})

test_that("another process hits on the model path (the model's hash is the same there)", {
  skip_on_cran()
  t <- gam_store()
  d <- path_data(n = 2500) # more rows than tprs's knot subsample (2000)
  d$y <- exp(d$y / 4)
  data_file <- tempfile(fileext = ".rds")
  withr::defer(unlink(data_file))
  saveRDS(d, data_file)
  code <- c("suppressPackageStartupMessages(library(warmstart))",
            sprintf("d <- readRDS(%s)", deparse(data_file)),
            sprintf("st <- ws_open(%s)", deparse(t$root)),
            "sq <- function(x) x^2",
            paste0("fit <- ws_gam(y ~ s(x0) + te(x0, x1, k = 4) + sq(x1), d, ",
                   "family = Gamma(link = \"log\"), method = \"REML\", store = st)"),
            "cat(attr(fit, \"warmstart\"), attr(fit, \"warmstart_key\"), \"\\n\")")
  sq <- function(x) x^2
  first <- ws_gam(y ~ s(x0) + te(x0, x1, k = 4) + sq(x1), d,
                  family = Gamma(link = "log"), method = "REML", store = t$store)
  expect_identical(attr(first, "warmstart_key"), "model")
  out <- run_r(code)
  expect_identical(attr(out, "status"), 0L)
  expect_identical(trimws(out[length(out)]), "hit model")
})

test_that("a miss on the model path sets the model up once", {
  t <- gam_store()
  d <- path_data()
  # A formula function that counts its calls: model.frame() calls it once
  # for each setup of the model. (getOption() puts the call on the model
  # path, which prepares the model to hash it.)
  counted <- in_workspace(function(x) {
    options(warmstart.test_setups = getOption("warmstart.test_setups", 0) + 1)
    x^2
  })
  old <- options(warmstart.test_setups = 0)
  withr::defer(options(old))
  setups <- function() getOption("warmstart.test_setups")
  invisible(mgcv::gam(y ~ s(x0) + counted(x1), data = d, method = "REML", fit = FALSE))
  per_setup <- setups()
  expect_gte(per_setup, 1)
  options(warmstart.test_setups = 0)
  first <- ws_gam(y ~ s(x0) + counted(x1), d, method = "REML", store = t$store)
  expect_identical(attr(first, "warmstart_key"), "model")
  expect_identical(attr(first, "warmstart"), "cold")
  expect_identical(setups(), per_setup)
  # A warm fit (a miss on other data) too, however many runs it takes.
  options(warmstart.test_setups = 0)
  warm <- ws_gam(y ~ s(x0) + counted(x1), d[sample(nrow(d), replace = TRUE), ],
                 method = "REML", store = t$store)
  expect_identical(attr(warm, "warmstart"), "warm")
  expect_identical(setups(), per_setup)
})
