# How much any choice of seed could give: a bound for bench/realdata.R.
#   Rscript bench/seeds.R
# For each training set of bench/realdata.R (5 CV folds, then 5 bootstrap
# resamples), ws_gam() runs once from each seed it could have had: the full
# data's fit and the fit of every other set. A store that holds only that
# seed is made by fitting its data with ws_gam() (a cold fit, which saves
# its seed), and copied for every run, so each run starts from exactly one
# seed. Printed per data set, as outer iterations against cold gam():
#   full:        every set from the full data's seed;
#   best before: each set from whichever seed made its fit cheapest among
#                the full data and the sets before it, counting only fits
#                at the cold optimum to 1e-6 (or better) -- the best any
#                rule that picks one earlier fit could do, knowing the
#                outcome;
#   |cold:       "best before", or mgcv's own start where a cold fit took
#                fewer iterations (ratio only);
#   best any:    the same over all other sets, later ones included;
# and how many fits from the full data's seed missed the cold optimum.
# If "best before" is above 0.5, no choice among earlier fits meets
# issue 17's iteration target on that data set with this warm start.
suppressPackageStartupMessages({
  library(warmstart)
  library(mgcv)
})
script <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
script <- gsub("~+~", " ", script, fixed = TRUE) # how Rscript passes spaces
source(file.path(if (length(script) == 1L) dirname(script) else "bench", "datasets.R"))

root <- file.path(tempdir(), "bench-seeds")
cat(sprintf("warmstart %s, mgcv %s, R %s; REML\n\n", packageVersion("warmstart"),
            packageVersion("mgcv"), getRversion()))
cat(sprintf("%-9s %-5s %5s %6s %6s %6s %6s %6s %6s %6s  %s\n", "data", "sets", "cold",
            "full", "ratio", "before", "ratio", "|cold", "any", "ratio",
            "full: fits off the optimum"))
for (name in names(models)) {
  m <- models[[name]]
  d <- m$data()
  sets <- resample_sets(nrow(d))
  data_sets <- c(list(full = d), lapply(sets, function(s) d[s$rows, ]))
  names(data_sets) <- c("full", vapply(sets, `[[`, "", "kind"))
  fam <- m$family
  unlink(root, recursive = TRUE)
  dir.create(root, recursive = TRUE)
  # One store per seed, each holding that data's fit and seed. A first fit
  # in an empty store is a cold one, gam()'s own: the reference for the
  # runs below.
  seed_dirs <- file.path(root, make.names(names(data_sets)))
  names(seed_dirs) <- names(data_sets)
  cold <- lapply(names(data_sets)[-1L], function(s) {
    fit <- ws_gam(m$formula, data_sets[[s]], family = fam(), method = "REML",
                  store = ws_open(seed_dirs[[s]]))
    stopifnot(identical(attr(fit, "warmstart"), "cold"))
    fit
  })
  names(cold) <- names(data_sets)[-1L]
  invisible(ws_gam(m$formula, d, family = fam(), method = "REML",
                   store = ws_open(seed_dirs[["full"]])))
  runs <- NULL
  for (i in seq_along(sets)) {
    target <- names(data_sets)[i + 1L]
    for (s in setdiff(names(data_sets), target)) {
      dir <- file.path(root, "run")
      unlink(dir, recursive = TRUE)
      dir.create(dir)
      stopifnot(all(file.copy(list.files(seed_dirs[[s]], full.names = TRUE, all.files = TRUE,
                                         no.. = TRUE), dir, recursive = TRUE)))
      warm <- ws_gam(m$formula, data_sets[[target]], family = fam(), method = "REML",
                     store = ws_open(dir))
      if (!identical(attr(warm, "warmstart"), "warm")) {
        stop(sprintf("%s, %s from %s: a %s fit, not a warm one", name, target, s,
                     attr(warm, "warmstart")))
      }
      c0 <- as.numeric(cold[[target]]$gcv.ubre)
      runs <- rbind(runs, data.frame(
        set = i, target = target, seed = s,
        earlier = s == "full" || match(s, names(data_sets)) < i + 1L,
        iter = attr(warm, "warmstart_iterations"),
        ok = isTRUE((as.numeric(warm$gcv.ubre) - c0) / abs(c0) <= 1e-6)))
    }
  }
  iter_cold <- vapply(cold, function(f) as.numeric(attr(f, "warmstart_iterations")), 0)
  # The fewest iterations over the seeds keep() allows, counting only fits at
  # the optimum; where none is, a cold fit's.
  best <- function(i, keep) {
    r <- runs[runs$set == i & runs$ok & keep(runs), ]
    if (nrow(r) == 0L) iter_cold[[i]] else min(r$iter)
  }
  parts <- list(cv = 1:5, boot = 6:10, all = seq_along(sets))
  for (part in names(parts)) {
    idx <- parts[[part]]
    total <- sum(iter_cold[idx])
    from_full <- sum(runs$iter[runs$seed == "full" & runs$set %in% idx])
    missed <- sum(!runs$ok[runs$seed == "full" & runs$set %in% idx])
    before <- sum(vapply(idx, best, 0, keep = function(r) r$earlier))
    or_cold <- sum(pmin(vapply(idx, best, 0, keep = function(r) r$earlier), iter_cold[idx]))
    any <- sum(vapply(idx, best, 0, keep = function(r) rep(TRUE, nrow(r))))
    cat(sprintf("%-9s %-5s %5d %6d %6.2f %6d %6.2f %6.2f %6d %6.2f  %d\n", name, part, total,
                from_full, from_full / total, before, before / total, or_cold / total,
                any, any / total, missed))
  }
  if (nzchar(Sys.getenv("VERBOSE"))) {
    print(stats::xtabs(iter ~ target + seed, runs)[names(data_sets)[-1L], names(data_sets)])
  }
}
unlink(root, recursive = TRUE)
