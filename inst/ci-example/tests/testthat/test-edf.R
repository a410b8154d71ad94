form <- y ~ s(x0) + s(x1) + s(x2) + s(x3)

test_that("a smooth's degrees of freedom follow its wiggliness", {
  store <- local_fit_store()
  d <- simulated(1)
  edf <- smooth_edf(fit_gam("gaussian", form, d, method = "REML",
                            store = store))
  expect_named(edf, c("s(x0)", "s(x1)", "s(x2)", "s(x3)"))
  # gamSim(1): x3 has no effect, x2 is the wiggliest.
  expect_lt(edf[["s(x3)"]], 2)
  expect_gt(edf[["s(x2)"]], edf[["s(x1)"]])
})

test_that("a bootstrap resample agrees with the full fit", {
  store <- local_fit_store()
  d <- simulated(2)
  full <- fit_gam("full data", form, d, method = "REML", store = store)
  set.seed(20)
  boot <- fit_gam("resample", form, d[sample(nrow(d), replace = TRUE), ],
                  method = "REML", store = store)
  expect_equal(smooth_edf(boot), smooth_edf(full), tolerance = 0.5)
})

test_that("Poisson counts: the same shapes", {
  store <- local_fit_store()
  d <- simulated(3, dist = "poisson", scale = 0.25)
  edf <- smooth_edf(fit_gam("poisson", form, d, family = poisson(),
                            method = "REML", store = store))
  expect_lt(edf[["s(x3)"]], 2)
  expect_gt(edf[["s(x2)"]], 3)
})

test_that("a tensor product smooth has one entry", {
  store <- local_fit_store()
  d <- simulated(4)
  edf <- smooth_edf(fit_gam("tensor", y ~ te(x0, x1) + s(x2), d,
                            method = "REML", store = store))
  expect_named(edf, c("te(x0,x1)", "s(x2)"))
})

test_that("ws_open() with no root follows the same rules in a check", {
  skip_if_not_installed("warmstart")
  fit <- fit_gam("default store", form, simulated(5, n = 1000),
                 method = "GCV.Cp", store = warmstart::ws_open())
  expect_length(smooth_edf(fit), 4L)
})
