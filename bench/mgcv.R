# Cold mgcv::gam() against ws_gam() on bootstrap resamples, in one run:
# total outer iterations (target: at most half), total time (target: at
# most 0.8x), and a hit (target: under 0.2 s, here from another process's
# point of view: the memory cache is cleared first). Then bam: does
# starting PIRLS from stored coefficients (bam's `coef`) help?
#   Rscript bench/mgcv.R            (N=10000 B=6 by default)
suppressPackageStartupMessages({
  library(warmstart)
  library(mgcv)
})
n <- as.integer(Sys.getenv("N", "10000"))
B <- as.integer(Sys.getenv("B", "6"))
timed <- function(expr) {
  t <- proc.time()[["elapsed"]]
  value <- expr
  list(fit = value, seconds = proc.time()[["elapsed"]] - t)
}
cat(sprintf("warmstart %s, mgcv %s, R %s; gamSim(1), n = %d, %d resamples, REML\n",
            packageVersion("warmstart"), packageVersion("mgcv"), getRversion(),
            n, B))

set.seed(2)
d <- gamSim(1, n = n, verbose = FALSE)
form <- y ~ s(x0) + s(x1) + s(x2) + s(x3)
root <- file.path(tempdir(), "bench-mgcv")
unlink(root, recursive = TRUE)
store <- ws_open(root)
invisible(ws_gam(form, d, method = "REML", store = store))

res <- NULL
for (b in seq_len(B)) {
  db <- d[sample(nrow(d), replace = TRUE), ]
  # Alternate which goes first, so neither always runs on a warm cache.
  if (b %% 2 == 1) {
    cold <- timed(gam(form, data = db, method = "REML"))
    warm <- timed(ws_gam(form, db, method = "REML", store = store))
  } else {
    warm <- timed(ws_gam(form, db, method = "REML", store = store))
    cold <- timed(gam(form, data = db, method = "REML"))
  }
  res <- rbind(res, data.frame(
    resample = b, mode = attr(warm$fit, "warmstart"),
    iter_cold = cold$fit$outer.info$iter, iter_warm = warm$fit$outer.info$iter,
    sec_cold = cold$seconds, sec_warm = warm$seconds,
    rel_reml = (warm$fit$gcv.ubre - cold$fit$gcv.ubre) / abs(cold$fit$gcv.ubre)))
}
print(res, row.names = FALSE, digits = 3)
cat(sprintf("\nouter iterations: cold %d, warm %d, ratio %.2f (target <= 0.50)\n",
            sum(res$iter_cold), sum(res$iter_warm),
            sum(res$iter_warm) / sum(res$iter_cold)))
cat(sprintf("time:             cold %.2f s, warm %.2f s, ratio %.2f (target <= 0.80)\n",
            sum(res$sec_cold), sum(res$sec_warm),
            sum(res$sec_warm) / sum(res$sec_cold)))
cat(sprintf("worst REML difference (warm - cold) / |cold|: %.2e\n",
            max(res$rel_reml)))

warmstart:::ws_cache_clear() # a hit as another process sees it: from disk
hit_disk <- timed(ws_gam(form, d, method = "REML", store = store))
hit_mem <- timed(ws_gam(form, d, method = "REML", store = store))
cat(sprintf("hit from disk: %.3f s (%s, %.1f MB entry); hit from memory: %.4f s (target < 0.2 s)\n",
            hit_disk$seconds, attr(hit_disk$fit, "warmstart"),
            length(serialize(hit_disk$fit, NULL, xdr = FALSE)) / 1e6,
            hit_mem$seconds))

# bam: its only warm start is `coef` (initial coefficients for PIRLS). A
# Gaussian bam ignores it; measure a Poisson one.
cat("\nbam, Poisson, fREML: cold vs coef = full-data coefficients\n")
set.seed(3)
dp <- gamSim(1, n = n, dist = "poisson", scale = 0.25, verbose = FALSE)
full_bam <- bam(form, data = dp, family = poisson(), method = "fREML")
bam_res <- NULL
for (b in seq_len(min(B, 3))) {
  db <- dp[sample(nrow(dp), replace = TRUE), ]
  cold <- timed(bam(form, data = db, family = poisson(), method = "fREML"))
  warm <- timed(tryCatch(bam(form, data = db, family = poisson(), method = "fREML",
                             coef = full_bam$coefficients),
                         error = function(e) e))
  failed <- inherits(warm$fit, "error")
  bam_res <- rbind(bam_res, data.frame(
    resample = b, sec_cold = cold$seconds, sec_coef = warm$seconds,
    pirls_cold = cold$fit$iter,
    pirls_coef = if (failed) NA else warm$fit$iter,
    result = if (failed) conditionMessage(warm$fit) else "ok"))
}
print(bam_res, row.names = FALSE, digits = 3)
cat(sprintf("bam time with coef / cold: %.2f\n",
            sum(bam_res$sec_coef) / sum(bam_res$sec_cold)))
unlink(root, recursive = TRUE)
