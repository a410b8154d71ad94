# Amortized save cost in a store of 100 keys against one of 10,000, each
# measured in a fresh R process (a new worker inheriting the store), for
# the installed warmstart and, when OLD_LIB names a library holding
# another build, for that one too, side by side in the same run:
#   R CMD INSTALL --library=/tmp/oldlib <old source>
#   OLD_LIB=/tmp/oldlib Rscript bench/amortized.R
suppressPackageStartupMessages(library(warmstart))
rscript <- file.path(R.home("bin"), "Rscript")
base <- Sys.getenv("BENCH_DIR", tempdir())
saves <- as.integer(Sys.getenv("SAVES", "400"))
run <- function(lib, root) {
  code <- sprintf(paste0(
    "library(warmstart, lib.loc = %s); s <- ws_open('%s', size_budget = Inf); ",
    "p <- as.raw(1:200); t <- system.time(for (i in 1:%d) ",
    "ws_save(s, ws_key('new', i, runif(1)), p))[['elapsed']]; cat(t / %d)"),
    if (nzchar(lib)) sprintf("'%s'", lib) else "NULL", root, saves, saves)
  as.numeric(system2(rscript, c("--vanilla", "-e", shQuote(code)), stdout = TRUE))
}
populate <- function(root, n) {
  unlink(root, recursive = TRUE)
  s <- ws_open(root, durable = FALSE, size_budget = Inf)
  for (i in seq_len(n)) ws_save(s, ws_key("populate", i), as.raw(1:200))
}
small <- file.path(base, "amortized-100")
large <- file.path(base, "amortized-10000")
populate(small, 100)
populate(large, 10000)
builds <- c(installed = "", old = Sys.getenv("OLD_LIB"))
builds <- builds[builds != "" | names(builds) == "installed"]
res <- NULL
for (round in 1:3) {
  for (b in names(builds)) {
    res <- rbind(res, data.frame(build = b, round = round,
                                 us_100 = 1e6 * run(builds[[b]], small),
                                 us_10000 = 1e6 * run(builds[[b]], large)))
  }
}
res$ratio <- res$us_10000 / res$us_100
print(res, row.names = FALSE, digits = 3)
cat("\nmedians:\n")
print(aggregate(cbind(us_100, us_10000, ratio) ~ build, res, median), digits = 3)
unlink(c(small, large), recursive = TRUE)
