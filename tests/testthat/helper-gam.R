# Shared by the ws_gam() tests (test-gam*.R).

gam_data <- function(n = 1000, seed = 3) {
  set.seed(seed)
  x <- matrix(runif(4 * n), n, 4, dimnames = list(NULL, paste0("x", 0:3)))
  f <- 2 * sin(pi * x[, 1]) + exp(2 * x[, 2]) +
    0.2 * x[, 3]^11 * (10 * (1 - x[, 3]))^6 + 10 * (10 * x[, 3])^3 * (1 - x[, 3])^10
  data.frame(x, y = f + rnorm(n, sd = 2))
}
gam_formula <- y ~ s(x0) + s(x1) + s(x2) + s(x3)

resample <- function(d, seed) {
  set.seed(seed)
  d[sample(nrow(d), replace = TRUE), ]
}

rel_diff <- function(a, b) abs(a - b) / abs(b)

# A warm fit is at the cold fit's optimum (REML score to 1e-6, relative),
# or at a better one: REML surfaces can have local optima, and a warm
# search may pass one that a cold search stops at.
expect_at_cold_optimum <- function(warm, cold, label = NULL) {
  if (is.null(label)) {
    label <- sprintf("warm score %.10g against cold %.10g", warm$gcv.ubre, cold$gcv.ubre)
  }
  expect_true(rel_diff(warm$gcv.ubre, cold$gcv.ubre) < 1e-6 ||
                warm$gcv.ubre < cold$gcv.ubre, label = label)
}

# Fits are ~0.1-1 MB: give them room (temp_store()'s default is 1 MiB).
# Entries must outlive a slow test: with temp_store()'s ttl of 60 s, on a
# machine at load 12 the seeds and fits of test-gam-warm.R's first tests
# expired between their ws_gam() calls (a hit came back "cold").
gam_store <- function(env = parent.frame()) {
  temp_store(size_budget = 200 * 1024^2, ttl = 3600, env = env)
}
