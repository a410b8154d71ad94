# ws_gam()'s exact key: a hit is always the fit gam() would return now.

skip_if_not_installed("mgcv")

key_data <- function(n = 300, seed = 11) {
  set.seed(seed)
  d <- data.frame(x0 = runif(n), x1 = runif(n))
  d$y <- sin(2 * pi * d$x0) + d$x1 + rnorm(n, sd = 0.3)
  d$count <- rpois(n, exp(1 + sin(2 * pi * d$x0)))
  d$pos <- exp(d$y / 2) + 0.1
  d$cat <- as.integer(cut(d$y, c(-Inf, -0.5, 0.5, 1.2, Inf)))
  d
}

# The same fit as gam()'s: the same optimum of the criterion (a warm fit
# stops where the score's quadratic model says at most conv.tol / 2 is
# left, so its smoothing parameters, and coefficients, agree only as far as
# the score tells them apart: to about 1e-3 relative here).
expect_same_fit <- function(ws, plain, label) {
  expect_equal(as.numeric(ws$gcv.ubre), as.numeric(plain$gcv.ubre),
               tolerance = 1e-6, label = paste(label, ": the criterion"))
  expect_equal(unname(coef(ws)), unname(coef(plain)), tolerance = 1e-2,
               label = paste(label, ": coefficients"))
}

# One row of the staleness table: the call is cold (or warm), then a hit;
# after `change()` it is not a hit and is the fit a fresh gam() call on the
# changed inputs makes, which differs from the first fit (the change
# matters, by far more than the criterion's tolerance); then the changed
# call is a hit.
expect_row <- function(name, ws, plain, change) {
  first <- ws()
  expect_false(identical(attr(first, "warmstart"), "hit"), label = name)
  expect_identical(attr(ws(), "warmstart"), "hit", label = name)
  change()
  fresh <- plain()
  changed <- ws()
  expect_false(identical(attr(changed, "warmstart"), "hit"),
               label = paste(name, "after the change"))
  expect_same_fit(changed, fresh, paste(name, "after the change"))
  expect_false(isTRUE(all.equal(unname(coef(first)), unname(coef(fresh)),
                                tolerance = 0.1)) &&
                 isTRUE(all.equal(as.numeric(first$gcv.ubre),
                                  as.numeric(fresh$gcv.ubre), tolerance = 1e-4)),
               label = paste(name, ": the change changes the fit"))
  expect_identical(attr(ws(), "warmstart"), "hit",
                   label = paste(name, "unchanged again"))
}

test_that("changing any input of the fit misses; leaving it unchanged hits", {
  t <- gam_store()
  st <- t$store
  d <- key_data()
  n <- nrow(d)

  local({
    K <- 5
    expect_row("a variable of the formula's environment (k = K)",
      function() ws_gam(y ~ s(x0, k = K), d, method = "REML", store = st),
      function() mgcv::gam(y ~ s(x0, k = K), data = d, method = "REML"),
      function() K <<- 9)
  })
  local({
    z <- rnorm(n)
    expect_row("a covariate outside data",
      function() ws_gam(y ~ s(x0) + z, d, method = "REML", store = st),
      function() mgcv::gam(y ~ s(x0) + z, data = d, method = "REML"),
      function() z <<- d$x1)
  })
  local({
    tr <- function(x) x^2
    expect_row("a user transform function",
      function() ws_gam(y ~ s(x0) + tr(x1), d, method = "REML", store = st),
      function() mgcv::gam(y ~ s(x0) + tr(x1), data = d, method = "REML"),
      function() tr <<- function(x) exp(3 * x))
  })
  local({
    power <- 2
    tr2 <- function(x) x^power
    expect_row("a free variable of a user function",
      function() ws_gam(y ~ s(x0) + tr2(x1), d, method = "REML", store = st),
      function() mgcv::gam(y ~ s(x0) + tr2(x1), data = d, method = "REML"),
      function() power <<- 6)
  })
  local({
    kn <- list(x0 = c(0, 0.2, 0.4, 0.6, 1))
    expect_row("knots",
      function() ws_gam(y ~ s(x0, bs = "cr", k = 5), d, knots = kn,
                        method = "REML", store = st),
      function() mgcv::gam(y ~ s(x0, bs = "cr", k = 5), data = d, knots = kn,
                           method = "REML"),
      function() kn <<- list(x0 = c(0, 0.05, 0.1, 0.15, 1)))
  })
  local({
    th <- 2
    expect_row("nb(theta =)",
      function() ws_gam(count ~ s(x0), d, family = mgcv::nb(theta = th),
                        method = "REML", store = st),
      function() mgcv::gam(count ~ s(x0), data = d,
                           family = mgcv::nb(theta = th), method = "REML"),
      function() th <<- 0.2)
  })
  local({
    p <- 1.2
    expect_row("Tweedie(p)",
      function() ws_gam(pos ~ s(x0), d, family = mgcv::Tweedie(p, link = "log"),
                        method = "REML", store = st),
      function() mgcv::gam(pos ~ s(x0), data = d,
                           family = mgcv::Tweedie(p, link = "log"), method = "REML"),
      function() p <<- 1.9)
  })
  local({
    cuts <- c(1, 1)
    expect_row("ocat cut points",
      function() ws_gam(cat ~ s(x0), d, family = mgcv::ocat(theta = cuts, R = 4),
                        method = "REML", store = st),
      function() mgcv::gam(cat ~ s(x0), data = d,
                           family = mgcv::ocat(theta = cuts, R = 4), method = "REML"),
      function() cuts <<- c(3, 0.2))
  })
  local({
    w <- rep(1, n)
    expect_row("weights",
      function() ws_gam(y ~ s(x0), d, weights = w, method = "REML", store = st),
      function() mgcv::gam(y ~ s(x0), data = d, weights = w, method = "REML"),
      function() w <<- ifelse(d$x0 > 0.5, 20, 0.05))
  })
  local({
    off <- rep(0, n)
    expect_row("offset",
      function() ws_gam(y ~ s(x0), d, offset = off, method = "REML", store = st),
      function() mgcv::gam(y ~ s(x0), data = d, offset = off, method = "REML"),
      function() off <<- 3 * d$x1)
  })
  local({
    keep <- rep(TRUE, n)
    expect_row("subset",
      function() ws_gam(y ~ s(x0), d, subset = keep, method = "REML", store = st),
      function() mgcv::gam(y ~ s(x0), data = d, subset = keep, method = "REML"),
      function() keep <<- d$x0 < 0.6)
  })
  local({
    m <- "REML"
    expect_row("method",
      function() ws_gam(y ~ s(x0) + s(x1), d, method = m, store = st),
      function() mgcv::gam(y ~ s(x0) + s(x1), data = d, method = m),
      function() m <<- "GCV.Cp")
  })
  local({
    sel <- FALSE
    expect_row("select",
      function() ws_gam(y ~ s(x0) + s(x1), d, select = sel, method = "REML",
                        store = st),
      function() mgcv::gam(y ~ s(x0) + s(x1), data = d, select = sel,
                           method = "REML"),
      function() sel <<- TRUE)
  })
  local({
    g <- 1
    expect_row("gamma",
      function() ws_gam(y ~ s(x0, k = 20), d, gamma = g, method = "REML", store = st),
      function() mgcv::gam(y ~ s(x0, k = 20), data = d, gamma = g, method = "REML"),
      function() g <<- 30)
  })
})

test_that("another mgcv version misses", {
  t <- gam_store()
  d <- key_data()
  first <- ws_gam(y ~ s(x0), d, method = "REML", store = t$store)
  expect_identical(attr(ws_gam(y ~ s(x0), d, method = "REML", store = t$store),
                        "warmstart"), "hit")
  # mgcv's version as R reports it for the loaded namespace, changed.
  info <- asNamespace("mgcv")[[".__NAMESPACE__."]]
  spec <- info$spec
  withr::defer(assign("spec", spec, envir = info))
  info$spec[["version"]] <- "99.0-0"
  expect_identical(getNamespaceVersion("mgcv")[[1L]], "99.0-0")
  other <- ws_gam(y ~ s(x0), d, method = "REML", store = t$store)
  expect_false(identical(attr(other, "warmstart"), "hit"))
  assign("spec", spec, envir = info)
  expect_identical(attr(ws_gam(y ~ s(x0), d, method = "REML", store = t$store),
                        "warmstart"), "hit")
})

test_that("family settings in closure environments are keyed", {
  t <- gam_store()
  d <- key_data()
  state <- function(f) ws_key(warmstart:::family_state(f))
  expect_false(identical(state(mgcv::tw(a = 1.1)), state(mgcv::tw(a = 1.3))))
  expect_false(identical(state(mgcv::betar(eps = 1e-9)), state(mgcv::betar(eps = 1e-6))))
  expect_false(identical(state(mgcv::scat(min.df = 3)), state(mgcv::scat(min.df = 5))))
  expect_false(identical(state(mgcv::nb()), state(mgcv::nb(theta = 3))))
  expect_identical(state(mgcv::nb(theta = 3)), state(mgcv::nb(theta = 3)))
  expect_identical(state(poisson()), state(poisson()))
  # gam() writes the estimated theta into the family it is given; ws_gam()
  # fits a copy, so the caller's family (part of the key) is unchanged and
  # the same call hits.
  fam <- mgcv::nb()
  before <- fam$getTheta()
  fit <- ws_gam(count ~ s(x0), d, family = fam, method = "REML", store = t$store)
  expect_identical(fam$getTheta(), before)
  expect_false(identical(fit$family$getTheta(), before))
  expect_identical(attr(ws_gam(count ~ s(x0), d, family = fam, method = "REML",
                               store = t$store), "warmstart"), "hit")
  # The same family by name or constructor is the same key.
  expect_identical(attr(ws_gam(count ~ s(x0), d, family = mgcv::nb,
                               method = "REML", store = t$store), "warmstart"),
                   "hit")
})

test_that("a value that cannot be hashed is an error naming it", {
  t <- gam_store()
  d <- key_data()
  cfg <- new.env()
  cfg$power <- 2
  tr <- function(x) x^cfg$power
  err <- expect_error(ws_gam(y ~ s(x0) + tr(x1), d, method = "REML",
                             store = t$store), class = "ws_bad_argument")
  expect_identical(err$argument, "formula")
  expect_match(conditionMessage(err), "cfg", fixed = TRUE)
  err <- expect_error(ws_gam(y ~ s(x0), d, method = "REML", control = list(e = cfg),
                             store = t$store), class = "ws_bad_argument")
  expect_identical(err$argument, "control")
  expect_identical(ws_evict(t$store)$entries, 0)
})

test_that("calls from inside a function work as gam() does there", {
  t <- gam_store()
  d <- key_data()
  n <- nrow(d)
  fit_both <- function(scale) {
    z <- scale * d$x1^2
    w <- rep(c(1, 2), length.out = n)
    list(ws = ws_gam(y ~ s(x0) + z, d, weights = w, method = "REML",
                     store = t$store),
         plain = mgcv::gam(y ~ s(x0) + z, data = d, weights = w, method = "REML"))
  }
  a <- fit_both(1)
  expect_equal(coef(a$ws), coef(a$plain), tolerance = 1e-10)
  b <- fit_both(3)
  expect_false(identical(attr(b$ws, "warmstart"), "hit"))
  expect_equal(unname(coef(b$ws)), unname(coef(b$plain)), tolerance = 1e-5)
  expect_identical(attr(fit_both(3)$ws, "warmstart"), "hit")
  # A weights name found only in the data, as gam() finds it.
  d$wcol <- runif(n)
  fit <- ws_gam(y ~ s(x0), d, weights = wcol, method = "REML", store = t$store)
  expect_equal(coef(fit), coef(mgcv::gam(y ~ s(x0), data = d, weights = wcol,
                                         method = "REML")), tolerance = 1e-10)
})

test_that("calls from lapply and mclapply closures", {
  t <- gam_store()
  d <- key_data()
  fits <- lapply(1:3, function(i) {
    z <- d$x1^i
    list(ws = ws_gam(y ~ s(x0) + z, d, method = "REML", store = t$store),
         plain = mgcv::gam(y ~ s(x0) + z, data = d, method = "REML"))
  })
  for (f in fits) {
    expect_false(identical(attr(f$ws, "warmstart"), "hit"))
    expect_same_fit(f$ws, f$plain, "lapply")
  }
  skip_if_no_fork()
  forked <- parallel::mclapply(1:3, function(i) {
    z <- d$x1^i
    fit <- ws_gam(y ~ s(x0) + z, d, method = "REML", store = ws_open(t$root))
    list(mode = attr(fit, "warmstart"), coef = unname(coef(fit)))
  }, mc.cores = test_cores(2))
  for (i in 1:3) {
    expect_identical(forked[[i]]$mode, "hit")
    expect_equal(forked[[i]]$coef, unname(coef(fits[[i]]$ws)))
  }
  again <- parallel::mclapply(4:5, function(i) {
    z <- d$x1^i
    fit <- ws_gam(y ~ s(x0) + z, d, method = "REML", store = ws_open(t$root))
    plain <- mgcv::gam(y ~ s(x0) + z, data = d, method = "REML")
    list(mode = attr(fit, "warmstart"),
         same = isTRUE(all.equal(as.numeric(fit$gcv.ubre), as.numeric(plain$gcv.ubre),
                                 tolerance = 1e-6)) &&
           isTRUE(all.equal(unname(coef(fit)), unname(coef(plain)), tolerance = 1e-2)))
  }, mc.cores = test_cores(2))
  for (a in again) {
    expect_false(identical(a$mode, "hit"))
    expect_true(a$same)
  }
})
