# ws_gam() on public data sets shipped in R packages: cold mgcv::gam()
# against ws_gam() on the training sets of a 5-fold cross-validation and on
# 5 bootstrap resamples of each, side by side in one run.
#   Rscript bench/realdata.R
# Targets (issue 17): warm outer iterations <= 0.5x cold on every data set;
# warm time <= 0.7x cold over all; every warm fit at the cold optimum to
# 1e-6 relative, or better (a lower REML score).
# The data sets come from MASS (with R) and gamair (CRAN: installed into a
# private library, WARMSTART_BENCH_LIB or .bench-lib/, if missing).
suppressPackageStartupMessages({
  library(warmstart)
  library(mgcv)
})
lib <- Sys.getenv("WARMSTART_BENCH_LIB", ".bench-lib")
if (!requireNamespace("gamair", quietly = TRUE, lib.loc = c(lib, .libPaths()))) {
  dir.create(lib, showWarnings = FALSE, recursive = TRUE)
  utils::install.packages("gamair", lib = lib, repos = "https://cloud.r-project.org",
                          quiet = TRUE)
}
.libPaths(c(lib, .libPaths()))
data_of <- function(name, package) {
  e <- new.env()
  utils::data(list = name, package = package, envir = e)
  e[[name]]
}

# Each model as its author (or mgcv's documentation) would fit it.
models <- list(
  chicago = list(
    what = "Poisson, daily deaths in Chicago (gamair::chicago), n = 4841",
    data = function() {
      d <- data_of("chicago", "gamair")
      d[stats::complete.cases(d[, c("death", "pm10median", "so2median", "tmpd", "time")]), ]
    },
    formula = death ~ s(time, bs = "cr", k = 100) + s(pm10median, bs = "cr") +
      s(so2median, bs = "cr") + s(tmpd, bs = "cr"),
    family = poisson),
  boston = list(
    what = "Gaussian, near-linear smooths: Boston house prices (MASS::Boston), n = 506",
    data = function() data_of("Boston", "MASS"),
    formula = log(medv) ~ s(crim) + s(indus) + s(nox) + s(rm) + s(age) + s(dis) +
      s(tax) + s(ptratio) + s(black) + s(lstat),
    family = gaussian),
  mackerel = list(
    what = "negative binomial (theta estimated): mackerel eggs (gamair::mack), n = 628",
    data = function() {
      d <- data_of("mack", "gamair")
      d$log.net.area <- log(d$net.area)
      d[stats::complete.cases(d[, c("egg.count", "lon", "lat", "b.depth", "c.dist",
                                    "salinity", "temp.surf")]), ]
    },
    formula = egg.count ~ s(lon, lat, k = 50) + s(I(b.depth^0.5)) + s(c.dist) +
      s(salinity) + s(temp.surf) + offset(log.net.area),
    family = mgcv::nb),
  cairo = list(
    what = "Gaussian time series: daily temperature in Cairo (gamair::cairo), n = 3780",
    data = function() data_of("cairo", "gamair"),
    formula = temp ~ s(day.of.year, bs = "cc", k = 20) + s(time, bs = "cr", k = 100),
    family = gaussian)
)
only <- Sys.getenv("DATASETS")
if (nzchar(only)) models <- models[strsplit(only, ",")[[1]]]

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
  set.seed(17)
  fold <- sample(rep(1:5, length.out = nrow(d)))
  sets <- c(lapply(1:5, function(k) list(kind = sprintf("cv %d", k), rows = which(fold != k))),
            lapply(1:5, function(b) list(kind = sprintf("boot %d", b),
                                         rows = sample(nrow(d), replace = TRUE))))
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
