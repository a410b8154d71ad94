# What the trust checks cost (issue 20), side by side in one run:
# - hot lookups under each trust and with a secret (the checks on the hot
#   path are comparisons on cached stamps, no system call);
# - the promise guard (rstream.c) on a 100 MB double vector and on values
#   of many small parts, against unserialize() of the same bytes, and a
#   cold lookup with the guard on and off;
# - a secret's HMAC on cold lookups and saves;
# - with OLD_LIB (a library holding another build, e.g. main before this
#   change), hot lookups of both builds, each in fresh R processes:
#     R CMD INSTALL --library=/tmp/oldlib <old source>
#     OLD_LIB=/tmp/oldlib Rscript bench/trust.R
suppressPackageStartupMessages(library(warmstart))
bench_dir <- Sys.getenv("BENCH_DIR", tempdir())
root_of <- function(name) {
  r <- file.path(bench_dir, paste0("ws-bench-trust-", name))
  unlink(r, recursive = TRUE)
  r
}
# Median seconds per call of each function, rounds interleaved. reps = NA:
# for each function, enough calls for about 50 ms per round.
per_call <- function(fns, reps = NA, rounds = 7) {
  n <- vapply(fns, function(f) {
    if (!is.na(reps)) return(as.integer(reps))
    one <- system.time(for (i in 1:3) f())[["elapsed"]] / 3
    max(1L, as.integer(0.05 / max(one, 1e-6)))
  }, 1L)
  t <- matrix(NA_real_, rounds, length(fns), dimnames = list(NULL, names(fns)))
  for (r in seq_len(rounds)) {
    for (f in sample(names(fns))) {
      fn <- fns[[f]]
      s <- proc.time()[["elapsed"]]
      for (i in seq_len(n[[f]])) fn()
      t[r, f] <- (proc.time()[["elapsed"]] - s) / n[[f]]
    }
  }
  apply(t, 2, median)
}
show <- function(x, unit = 1e6, suffix = "us") {
  for (n in names(x)) cat(sprintf("  %-44s %9.2f %s\n", n, x[[n]] * unit, suffix))
}
secret <- "a benchmark secret of 32 bytes.."
cat(sprintf("warmstart %s, R %s; stores in %s\n", packageVersion("warmstart"),
            getRversion(), bench_dir))

# ---- hot lookups ----
cat("\n-- hot lookup of 1 KB (value cache on)\n")
payload <- as.raw(sample(0:255, 1024, TRUE))
k <- ws_key("hot")
handles <- list(
  `trust = "user"` = ws_open(root_of("user")),
  `trust = "group"` = ws_open(root_of("group"), trust = "group"),
  `trust = "any"` = ws_open(root_of("any"), trust = "any"),
  `trust = "user", secret` = ws_open(root_of("secret"), secret = secret))
for (h in handles) ws_save(h, k, payload)
Sys.sleep(0.2) # past the racy-stamp window: the next lookups are cached
for (h in handles) invisible(ws_lookup(h, k))
show(per_call(lapply(handles, function(h) function() ws_lookup(h, k)), reps = 5000))

# ---- the promise guard ----
cat("\n-- the promise guard: rstream.c against unserialize() of the same bytes\n")
check <- warmstart:::ws_rstream_check
values <- list(
  `100 MB double vector` = rnorm(12.5e6),
  `1e6 strings` = paste0("s", sample(1e6)),
  `1e5 small lists` = lapply(seq_len(1e5), function(i) list(a = i, b = "x")),
  `gam fit (n = 2000)` = if (requireNamespace("mgcv", quietly = TRUE)) {
    set.seed(1)
    d <- mgcv::gamSim(1, n = 2000, verbose = FALSE)
    mgcv::gam(y ~ s(x0) + s(x1) + s(x2), data = d, method = "REML")
  })
values <- values[!vapply(values, is.null, TRUE)]
for (n in names(values)) {
  bytes <- serialize(values[[n]], NULL, xdr = FALSE, version = 3L)
  stopifnot(check(bytes) == "ok")
  t <- per_call(list(check = function() check(bytes),
                     unserialize = function() unserialize(bytes)), rounds = 5)
  cat(sprintf("  %-24s %6.1f MB  check %8.3f ms  unserialize %8.3f ms  ratio %.4f\n",
              n, length(bytes) / 1e6, t[["check"]] * 1e3, t[["unserialize"]] * 1e3,
              t[["check"]] / t[["unserialize"]]))
}
cat("\n-- cold lookup of the 100 MB double vector, guard on and off\n")
cold <- ws_open(root_of("cold"), memory_cache = FALSE, size_budget = Inf)
kb <- ws_key("cold")
ws_save(cold, kb, values[[1]])
rm(values)
invisible(gc())
guarded <- function(on) function() {
  old <- warmstart:::ws_promise_guard(on)
  on.exit(warmstart:::ws_promise_guard(old))
  ws_lookup(cold, kb)
}
show(per_call(list(`guard on` = guarded(TRUE), `guard off` = guarded(FALSE)),
              reps = 1, rounds = 9), unit = 1e3, suffix = "ms")

# ---- a secret's cost ----
cat("\n-- a secret: cold lookups and non-durable saves of 1 KB\n")
plain <- ws_open(root_of("plain"), memory_cache = FALSE, durable = FALSE)
signed <- ws_open(root_of("signed"), memory_cache = FALSE, durable = FALSE,
                  secret = secret)
obj <- list(a = 1, b = letters)
for (h in list(plain, signed)) ws_save(h, k, obj)
show(per_call(list(
  `cold lookup, R value` = function() ws_lookup(plain, k),
  `cold lookup, R value, secret` = function() ws_lookup(signed, k),
  `save, no secret` = function() ws_save(plain, ws_key(runif(1)), payload),
  `save, secret` = function() ws_save(signed, ws_key(runif(1)), payload)),
  reps = 200))

# ---- against another build ----
old_lib <- Sys.getenv("OLD_LIB")
if (nzchar(old_lib)) {
  cat("\n-- hot lookup of 1 KB, this build against OLD_LIB, fresh processes\n")
  rscript <- file.path(R.home("bin"), "Rscript")
  hot_in <- function(lib, root) {
    code <- sprintf(paste0(
      "library(warmstart, lib.loc = %s); s <- ws_open('%s'); k <- ws_key('hot'); ",
      "ws_save(s, k, as.raw(1:200)); Sys.sleep(0.2); invisible(ws_lookup(s, k)); ",
      "t <- replicate(7, system.time(for (i in 1:20000) ws_lookup(s, k))[['elapsed']]); ",
      "cat(median(t) / 20000)"),
      if (nzchar(lib)) sprintf("'%s'", lib) else "NULL", root)
    as.numeric(system2(rscript, c("--vanilla", "-e", shQuote(code)), stdout = TRUE))
  }
  res <- NULL
  for (round in 1:5) {
    for (b in sample(c("this", "old"))) {
      us <- 1e6 * hot_in(if (b == "old") old_lib else "", root_of(paste0("vs-", b)))
      res <- rbind(res, data.frame(build = b, round = round, us = us))
    }
  }
  med <- tapply(res$us, res$build, median)
  cat(sprintf("  this build %.2f us, old build %.2f us per hot lookup (medians of 5 processes); ratio %.3f\n",
              med[["this"]], med[["old"]], med[["this"]] / med[["old"]]))
}
unlink(Sys.glob(file.path(bench_dir, "ws-bench-trust-*")), recursive = TRUE)
