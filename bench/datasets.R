# The public data sets and models of bench/realdata.R and bench/seeds.R,
# each model as its author (or mgcv's documentation) would fit it. The data
# come from MASS (with R) and gamair (CRAN: installed into a private
# library, WARMSTART_BENCH_LIB or .bench-lib/, if missing, from the CRAN
# repository R is configured with: getOption("repos")). DATASETS=a,b keeps
# only those.
cran_repo <- function() {
  repos <- getOption("repos")
  cran <- if ("CRAN" %in% names(repos)) repos[["CRAN"]] else ""
  if (is.na(cran) || !nzchar(cran) || identical(cran, "@CRAN@")) {
    stop("no CRAN repository is set: set one with options(repos = c(CRAN = \"...\")) ",
         "(e.g. in ~/.Rprofile) and run again", call. = FALSE)
  }
  sub("/+$", "", cran)
}
lib <- Sys.getenv("WARMSTART_BENCH_LIB", ".bench-lib")
if (!requireNamespace("gamair", quietly = TRUE, lib.loc = c(lib, .libPaths()))) {
  dir.create(lib, showWarnings = FALSE, recursive = TRUE)
  utils::install.packages("gamair", lib = lib, repos = cran_repo(), quiet = TRUE)
}
.libPaths(c(lib, .libPaths()))
data_of <- function(name, package) {
  e <- new.env()
  utils::data(list = name, package = package, envir = e)
  e[[name]]
}

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

# The training rows of a 5-fold cross-validation, then 5 bootstrap
# resamples, drawn from `seed` (17: the sets bench/seeds.R uses). `cv` and
# `boot` keep the first of each (bench/realdata.R's quick mode).
resample_sets <- function(n, seed = 17L, cv = 5L, boot = 5L) {
  set.seed(seed)
  fold <- sample(rep(1:5, length.out = n))
  c(lapply(seq_len(cv), function(k) list(kind = sprintf("cv %d", k),
                                         rows = which(fold != k))),
    lapply(seq_len(boot), function(b) list(kind = sprintf("boot %d", b),
                                           rows = sample(n, replace = TRUE))))
}
