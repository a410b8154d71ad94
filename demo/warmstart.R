# A short tour of warmstart: a store on disk, checkpoints and finals of a
# fit, best and latest lookups, and what the sweep keeps.
library(warmstart)

root <- file.path(tempdir(), "warmstart-demo")
unlink(root, recursive = TRUE)
store <- ws_open(root, size_budget = 50 * 1024^2, ttl = 7 * 86400)
print(store)

# A toy "fit": gradient descent on a quadratic, checkpointed every 10
# iterations under one run id (each checkpoint replaces the previous one),
# then saved as a final entry.
fit <- function(start, iters = 50) {
  target <- c(3, -1, 2)
  theta <- start
  objective <- function(th) sum((th - target)^2)
  key <- ws_key(model = "quadratic", target = format(target))
  run <- NULL
  for (i in seq_len(iters)) {
    theta <- theta - 0.05 * 2 * (theta - target)
    if (i %% 10 == 0) {
      run <- ws_save(store, key, list(theta = theta), objective = objective(theta),
                     iteration = i, kind = "checkpoint", run_id = run)
    }
  }
  ws_save(store, key, list(theta = theta), objective = objective(theta),
          iteration = iters, kind = "final")
  key
}

cat("\n-- a cold fit from zero --\n")
key <- fit(c(0, 0, 0))
best <- ws_lookup(store, key)
print(best)

cat("\n-- the next fit starts where the best one ended --\n")
start <- best$payload$theta
cat("start:", format(start, digits = 6), "\n")
invisible(fit(start, iters = 20))
best <- ws_lookup(store, key)
latest <- ws_lookup_latest(store, key)
cat(sprintf("best:   %s  objective %.3g  (iteration %d)\n", best$kind,
            best$objective, best$iteration))
cat(sprintf("latest: %s  objective %.3g  (iteration %d)\n", latest$kind,
            latest$objective, latest$iteration))

cat("\n-- raw bytes are kept byte for byte --\n")
blob_key <- ws_key("blob")
ws_save(store, blob_key, charToRaw("any bytes at all"))
print(rawToChar(ws_lookup(store, blob_key)$payload))

cat("\n-- the sweep --\n")
str(ws_evict(store))
unlink(root, recursive = TRUE)
