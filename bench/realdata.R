# ws_gam() on public data sets shipped in R packages: cold mgcv::gam()
# against ws_gam() on the training sets of a 5-fold cross-validation and on
# 5 bootstrap resamples of each, side by side in one run.
#   Rscript bench/realdata.R
# Targets (issue 17): warm outer iterations <= 0.5x cold on every data set;
# warm time <= 0.7x cold over all; every warm fit at the cold optimum to
# 1e-6 relative, or better (a lower REML score).
# The data sets: bench/datasets.R.
suppressPackageStartupMessages({
  library(warmstart)
  library(mgcv)
})
# The data sets and models, shared with bench/seeds.R.
script <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
script <- gsub("~+~", " ", script, fixed = TRUE) # how Rscript passes spaces
source(file.path(if (length(script) == 1L) dirname(script) else "bench", "datasets.R"))

# Elapsed seconds, and CPU seconds of this process (steadier on a loaded
# machine).
timed <- function(expr) {
  t <- proc.time()
  value <- expr
  d <- proc.time() - t
  list(fit = value, seconds = d[["elapsed"]],
       cpu = d[["user.self"]] + d[["sys.self"]])
}
root <- file.path(tempdir(), "bench-realdata")
cat(sprintf("warmstart %s, mgcv %s, R %s; 5-fold CV + 5 bootstrap resamples each, REML\n",
            packageVersion("warmstart"), packageVersion("mgcv"), getRversion()))
cat(sprintf("load average at start: %s\n\n",
            paste(readLines("/proc/loadavg", warn = FALSE), collapse = " ")))

rows <- NULL
for (name in names(models)) {
  m <- models[[name]]
  d <- m$data()
  unlink(root, recursive = TRUE)
  store <- ws_open(root, size_budget = 4 * 1024^3)
  # A new family object for every fit: gam() writes its estimate of theta
  # into the family it is given, and the next fit would start from there.
  fam <- m$family
  invisible(ws_gam(m$formula, d, family = fam(), method = "REML", store = store))
  sets <- resample_sets(nrow(d))
  for (i in seq_along(sets)) {
    db <- d[sets[[i]]$rows, ]
    # Alternate which goes first, so neither always runs on a warm cache.
    go_cold <- function() timed(gam(m$formula, data = db, family = fam(), method = "REML"))
    go_warm <- function() timed(ws_gam(m$formula, db, family = fam(), method = "REML",
                                       store = store))
    if (i %% 2 == 1) {
      cold <- go_cold()
      warm <- go_warm()
    } else {
      warm <- go_warm()
      cold <- go_cold()
    }
    rows <- rbind(rows, data.frame(
      data = name, set = sets[[i]]$kind, mode = attr(warm$fit, "warmstart"),
      iter_cold = cold$fit$outer.info$iter,
      iter_warm = attr(warm$fit, "warmstart_iterations"),
      sec_cold = cold$seconds, sec_warm = warm$seconds,
      cpu_cold = cold$cpu, cpu_warm = warm$cpu,
      rel_reml = (as.numeric(warm$fit$gcv.ubre) - as.numeric(cold$fit$gcv.ubre)) /
        abs(as.numeric(cold$fit$gcv.ubre))))
  }
}
unlink(root, recursive = TRUE)
if (nzchar(Sys.getenv("VERBOSE"))) print(rows, row.names = FALSE, digits = 3)

met <- function(ok) if (isTRUE(ok)) "met" else "not met"
cat(sprintf("%-9s %5s %5s %6s %8s %8s %6s %6s %11s  %-8s %-8s\n", "data", "iterC", "iterW",
            "ratio", "secC", "secW", "ratio", "cpu", "worst rel", "iter<=.5", "optimum"))
for (name in names(models)) {
  r <- rows[rows$data == name, ]
  ir <- sum(r$iter_warm) / sum(r$iter_cold)
  cat(sprintf("%-9s %5d %5d %6.2f %8.2f %8.2f %6.2f %6.2f %11.2e  %-8s %-8s\n", name,
              sum(r$iter_cold), sum(r$iter_warm), ir, sum(r$sec_cold), sum(r$sec_warm),
              sum(r$sec_warm) / sum(r$sec_cold), sum(r$cpu_warm) / sum(r$cpu_cold),
              max(r$rel_reml), met(ir <= 0.5),
              met(max(r$rel_reml) <= 1e-6)))
}
tr <- sum(rows$sec_warm) / sum(rows$sec_cold)
cat(sprintf("\nall: iterations %.2f x cold; time %.2f x cold (target <= 0.70: %s; CPU time %.2f x); every fit at the cold optimum or better (1e-6): %s; modes: %s\n",
            sum(rows$iter_warm) / sum(rows$iter_cold), tr, met(tr <= 0.7),
            sum(rows$cpu_warm) / sum(rows$cpu_cold),
            met(all(rows$rel_reml <= 1e-6)),
            paste(names(table(rows$mode)), table(rows$mode), sep = "=", collapse = " ")))
cat(sprintf("load average at end: %s\n",
            paste(readLines("/proc/loadavg", warn = FALSE), collapse = " ")))
