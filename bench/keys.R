# ws_key() throughput beside serialize() and digest::digest(x, "sha256"),
# measured side by side in one run (interleaved rounds, median of each).
# Run from the repository with the package installed:
#   Rscript bench/keys.R
library(warmstart)

rounds <- as.integer(Sys.getenv("ROUNDS", "7"))
has_digest <- requireNamespace("digest", quietly = TRUE)

set.seed(1)
inputs <- list(
  "double vector, 160 MB" = runif(2e7),
  "wide data frame, 2000 columns x 10000 rows of doubles (160 MB)" =
    as.data.frame(matrix(runif(2e7), ncol = 2000)),
  # serialize() writes the compact form (a few bytes), not the values.
  "integer sequence 1:4e7 (ALTREP, 160 MB of values)" = 1:4e7
)
data_bytes <- c(160e6, 160e6, 160e6)

methods <- list(
  "ws_key(x)" = function(x) ws_key(x),
  "serialize(x, NULL)" = function(x) serialize(x, NULL),
  "digest(x, \"sha256\")" = if (has_digest)
    function(x) digest::digest(x, "sha256")
)
methods <- methods[!vapply(methods, is.null, TRUE)]

elapsed <- function(f, x) {
  t <- proc.time()[["elapsed"]]
  f(x)
  proc.time()[["elapsed"]] - t
}

cat(sprintf("warmstart %s, R %s, %s, %d rounds\n",
            packageVersion("warmstart"), getRversion(),
            Sys.info()[["machine"]], rounds))
for (i in seq_along(inputs)) {
  name <- names(inputs)[i]
  x <- inputs[[i]]
  bytes <- data_bytes[i]
  times <- matrix(NA_real_, rounds, length(methods),
                  dimnames = list(NULL, names(methods)))
  for (r in seq_len(rounds)) {
    for (m in sample(names(methods))) times[r, m] <- elapsed(methods[[m]], x)
  }
  med <- apply(times, 2, median)
  cat(sprintf("\n%s\n", name))
  for (m in names(methods)) {
    if (med[[m]] < 0.001) {
      cat(sprintf("  %-22s   < 1 ms  (hashes/writes the compact form only)\n", m))
      next
    }
    cat(sprintf("  %-22s %8.1f ms  %6.2f GB/s  (%.2fx ws_key time)\n", m,
                1000 * med[[m]], bytes / med[[m]] / 1e9,
                med[[m]] / med[["ws_key(x)"]]))
  }
}
