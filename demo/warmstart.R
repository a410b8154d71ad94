# warmstart's main job: refitting GAMs faster. A bootstrap of an mgcv REML
# fit, each resample fitted cold by gam() and warm by ws_gam() from the
# same store, then the whole analysis rerun (every fit a hit). Prints one
# row per fit and the totals.
library(warmstart)
if (!requireNamespace("mgcv", quietly = TRUE)) stop("the demo needs mgcv")

root <- file.path(tempdir(), "warmstart-demo")
unlink(root, recursive = TRUE)
store <- ws_open(root)
print(store)

set.seed(1)
d <- mgcv::gamSim(1, n = 5000, verbose = FALSE)
form <- y ~ s(x0) + s(x1) + s(x2) + s(x3)
resamples <- lapply(1:5, function(b) d[sample(nrow(d), replace = TRUE), ])

timed <- function(expr) {
  t <- proc.time()[["elapsed"]]
  value <- expr
  list(fit = value, seconds = proc.time()[["elapsed"]] - t)
}
row <- function(fit, what, seconds, mode = attr(fit, "warmstart")) {
  # A hit does no fitting: report no iterations for it. ws_gam() counts
  # what it spent, restarts included.
  it <- attr(fit, "warmstart_iterations")
  if (is.null(it)) it <- fit$outer.info$iter
  data.frame(fit = what, mode = if (is.null(mode)) "plain gam()" else mode,
             outer_iterations = if (is.null(it)) NA else it,
             seconds = round(seconds, 3), reml = round(fit$gcv.ubre, 4))
}

rows <- list()
full <- timed(ws_gam(form, d, method = "REML", store = store))
rows[[1]] <- row(full$fit, "full data", full$seconds)
for (b in seq_along(resamples)) {
  cold <- timed(mgcv::gam(form, data = resamples[[b]], method = "REML"))
  warm <- timed(ws_gam(form, resamples[[b]], method = "REML", store = store))
  rows[[length(rows) + 1]] <- row(cold$fit, paste("resample", b), cold$seconds,
                                  mode = "cold (gam)")
  rows[[length(rows) + 1]] <- row(warm$fit, paste("resample", b), warm$seconds)
}
for (b in seq_along(resamples)) {
  again <- timed(ws_gam(form, resamples[[b]], method = "REML", store = store))
  rows[[length(rows) + 1]] <- row(again$fit, paste("resample", b, "rerun"),
                                  again$seconds)
}
table <- do.call(rbind, rows)
cat("\n")
print(table, row.names = FALSE)

totals <- aggregate(cbind(outer_iterations, seconds) ~ mode,
                    data = table[table$fit != "full data", ], FUN = sum)
cat("\nTotals over the", length(resamples), "resamples:\n")
print(totals, row.names = FALSE)
cold_s <- totals$seconds[totals$mode == "cold (gam)"]
warm_s <- totals$seconds[totals$mode == "warm"]
cat(sprintf("\nwarm/cold time: %.2f   warm/cold outer iterations: %.2f\n",
            warm_s / cold_s,
            totals$outer_iterations[totals$mode == "warm"] /
              totals$outer_iterations[totals$mode == "cold (gam)"]))

cat("\nThe store now holds:\n")
str(ws_evict(store))
unlink(root, recursive = TRUE)
