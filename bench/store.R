# The store against its targets and its peers, side by side in one run,
# ending with one table of ratios. Run from the repository with the
# package installed (make install):
#   Rscript bench/store.R
# Environment: BENCH_DIR (where stores live; default tempdir(), so the
# disk is the one R users' temp files are on), BENCH_KEYS (10000).
suppressPackageStartupMessages(library(warmstart))
# R.cache makes its root in the user's home when it loads: not here.
Sys.setenv(R_CACHE_ROOTPATH = file.path(tempdir(), "R.cache"))
has <- function(p) requireNamespace(p, quietly = TRUE)
bench_dir <- Sys.getenv("BENCH_DIR", tempdir())
big_keys <- as.integer(Sys.getenv("BENCH_KEYS", "10000"))
root_of <- function(name) {
  r <- file.path(bench_dir, paste0("ws-bench-", name))
  unlink(r, recursive = TRUE)
  r
}
ratios <- list()
target <- function(what, ratio, goal, note = "") {
  ratios[[length(ratios) + 1]] <<- data.frame(
    measure = what, ratio = round(ratio, 3), target = goal,
    met = if (grepl("^<=", goal)) ratio <= as.numeric(sub("<= ?", "", goal)) else NA,
    note = note, stringsAsFactors = FALSE)
}

# Median seconds per call of each function, rounds interleaved so the
# machine's noise falls on all of them alike.
per_call <- function(fns, reps, rounds = 7) {
  t <- matrix(NA_real_, rounds, length(fns), dimnames = list(NULL, names(fns)))
  for (r in seq_len(rounds)) {
    for (f in sample(names(fns))) {
      fn <- fns[[f]]
      s <- proc.time()[["elapsed"]]
      for (i in seq_len(reps)) fn()
      t[r, f] <- (proc.time()[["elapsed"]] - s) / reps
    }
  }
  apply(t, 2, median)
}
us <- function(x) sprintf("%.2f us", x * 1e6)

cat(sprintf("warmstart %s, R %s, %s; stores in %s\n", packageVersion("warmstart"),
            getRversion(), Sys.info()[["machine"]], bench_dir))

# ---- hot lookups ----
cat("\n-- hot lookup (memory cache on)\n")
st <- ws_open(root_of("hot"), size_budget = Inf)
k1 <- ws_key("hot", "1KB")
k10 <- ws_key("hot", "10MB")
ws_save(st, k1, as.raw(sample(0:255, 1024, TRUE)))
ws_save(st, k10, as.raw(sample(0:255, 1e7, TRUE)))
Sys.sleep(0.2) # past the racy-stamp window: the next lookups can be cached
invisible(ws_lookup(st, k1))
invisible(ws_lookup(st, k10))
hot <- list(`ws_lookup 1 KB` = function() ws_lookup(st, k1),
            `ws_lookup 10 MB` = function() ws_lookup(st, k10))
if (has("cachem")) {
  cm <- cachem::cache_mem()
  cm$set("k1", as.raw(sample(0:255, 1024, TRUE)))
  hot$`cachem::cache_mem()$get 1 KB` <- function() cm$get("k1")
}
if (has("storr")) {
  sr <- storr::storr_environment()
  sr$set("k1", as.raw(sample(0:255, 1024, TRUE)))
  hot$`storr_environment()$get 1 KB` <- function() sr$get("k1")
}
h <- per_call(hot, reps = 5000)
for (n in names(h)) cat(sprintf("  %-32s %s\n", n, us(h[[n]])))
if (has("cachem")) {
  target("hot 1 KB: ws_lookup / cachem_mem get", h[["ws_lookup 1 KB"]] /
           h[["cachem::cache_mem()$get 1 KB"]], "<= 1")
}
target("hot 10 MB / hot 1 KB", h[["ws_lookup 10 MB"]] / h[["ws_lookup 1 KB"]],
       "<= 2")

# ---- cold lookup of 100 MB ----
cat("\n-- cold lookup of a 100 MB raw payload (memory cache off)\n")
cold <- ws_open(root_of("cold"), size_budget = Inf, memory_cache = FALSE)
big <- as.raw(sample(0:255, 1e8, TRUE))
kb <- ws_key("cold", "100MB")
ws_save(cold, kb, big)
rds <- file.path(bench_dir, "ws-bench-100MB.rds")
saveRDS(big, rds, compress = FALSE)
rm(big)
invisible(gc())
c100 <- per_call(list(`ws_lookup` = function() ws_lookup(cold, kb),
                      `readRDS` = function() readRDS(rds)), reps = 1, rounds = 7)
for (n in names(c100)) {
  cat(sprintf("  %-32s %7.1f ms  %5.2f GB/s\n", n, c100[[n]] * 1e3, 1e8 / c100[[n]] / 1e9))
}
# The floor under a verified read: SHA-256 of 100 MB alone (ws_key() hashes
# a raw vector's bytes straight from memory).
x <- as.raw(sample(0:255, 1e8, TRUE))
hash_only <- per_call(list(h = function() ws_key(x)), reps = 1, rounds = 5)[["h"]]
rm(x)
cat(sprintf("  %-32s %7.1f ms  %5.2f GB/s  (the floor of any verified read)\n",
            "SHA-256 of 100 MB in memory", hash_only * 1e3, 1e8 / hash_only / 1e9))
target("cold 100 MB: ws_lookup / readRDS", c100[["ws_lookup"]] / c100[["readRDS"]],
       "<= 0.5", sprintf("%.2f GB/s; SHA-256 alone takes %.2f of readRDS",
                         1e8 / c100[["ws_lookup"]] / 1e9,
                         hash_only / c100[["readRDS"]]))
unlink(rds)

# ---- saves of 1 KB ----
# Each round writes n_saves entries under one key (the C floor writes as
# many into one directory), every contender in a fresh directory, rounds
# interleaved: file creation on this disk varies a lot from minute to
# minute, so only same-round comparisons mean anything.
cat("\n-- saves of 1 KB (one key dir; medians of per-round figures)\n")
floor_bin <- file.path(tempdir(), "ws-floor")
floor_ok <- file.exists("bench/floor.c") &&
  system2("cc", c("-O2", "-o", floor_bin, "bench/floor.c"), stdout = FALSE,
          stderr = FALSE) == 0
payload <- as.raw(sample(0:255, 1024, TRUE))
n_saves <- 200
one_key <- ws_key("bench", "save")
ws_saves <- function(durable, round) {
  s <- ws_open(root_of(sprintf("save-%d-%d", durable, round)), durable = durable)
  system.time(for (i in seq_len(n_saves)) ws_save(s, one_key, payload))[["elapsed"]] / n_saves
}
floor_saves <- function(durable, round) {
  out <- system2(floor_bin, c(shQuote(root_of(sprintf("floor-%d-%d", durable, round))),
                              n_saves, as.integer(durable)), stdout = TRUE)
  as.numeric(sub(" us per save.*", "", out)) / 1e6
}
contenders <- list(
  `ws_save durable` = function(r) ws_saves(TRUE, r),
  `ws_save durable = FALSE` = function(r) ws_saves(FALSE, r))
if (floor_ok) {
  contenders$`C floor durable` <- function(r) floor_saves(TRUE, r)
  contenders$`C floor not durable` <- function(r) floor_saves(FALSE, r)
}
if (has("cachem")) {
  contenders$`cachem::cache_disk()$set` <- function(r) {
    cd <- cachem::cache_disk(root_of(sprintf("cachem-%d", r)))
    system.time(for (i in seq_len(n_saves)) cd$set(sprintf("k%d", i), payload))[["elapsed"]] / n_saves
  }
}
if (has("storr")) {
  contenders$`storr_rds()$set` <- function(r) {
    sr <- storr::storr_rds(root_of(sprintf("storr-%d", r)))
    system.time(for (i in seq_len(n_saves)) sr$set(sprintf("k%d", i), payload))[["elapsed"]] / n_saves
  }
}
if (has("R.cache")) {
  contenders$`R.cache::saveCache` <- function(r) {
    rc <- root_of(sprintf("rcache-%d", r))
    dir.create(rc)
    old <- R.cache::getCacheRootPath()
    on.exit(R.cache::setCacheRootPath(old))
    R.cache::setCacheRootPath(rc)
    system.time(for (i in seq_len(n_saves))
      R.cache::saveCache(payload, key = list(i)))[["elapsed"]] / n_saves
  }
}
contenders$`saveRDS (no sync, no rename)` <- function(r) {
  d <- root_of(sprintf("rds-%d", r))
  dir.create(d)
  system.time(for (i in seq_len(n_saves))
    saveRDS(payload, file.path(d, sprintf("%d.rds", i)), compress = FALSE))[["elapsed"]] / n_saves
}
# Nothing is deleted until all rounds are done: ext4 searches its recently
# deleted inodes when it creates one, and deletions between rounds made
# file creation (most of a save's cost here) swing by a factor of 3.
rounds <- 9
sv <- matrix(NA_real_, rounds, length(contenders), dimnames = list(NULL, names(contenders)))
for (r in seq_len(rounds)) {
  for (n in sample(names(contenders))) sv[r, n] <- contenders[[n]](r)
}
unlink(Sys.glob(file.path(bench_dir, "ws-bench-*-*")), recursive = TRUE)
for (n in colnames(sv)) cat(sprintf("  %-32s %s\n", n, us(median(sv[, n]))))
if (floor_ok) {
  target("durable 1 KB save / C floor",
         median(sv[, "ws_save durable"] / sv[, "C floor durable"]), "<= 1.3",
         "median of per-round ratios")
  target("non-durable 1 KB save / C floor (info)",
         median(sv[, "ws_save durable = FALSE"] / sv[, "C floor not durable"]), "-")
}
if (has("cachem")) {
  target("non-durable 1 KB save / cachem_disk set",
         median(sv[, "ws_save durable = FALSE"] / sv[, "cachem::cache_disk()$set"]),
         "<= 1", "median of per-round ratios")
  if (floor_ok) {
    target("C floor not durable / cachem_disk set (info)",
           median(sv[, "C floor not durable"] / sv[, "cachem::cache_disk()$set"]), "-",
           "two files per entry (the format) against cachem's one")
  }
}

# ---- amortized saves: 100 keys vs many ----
# In a fresh R process for each, as a new worker inheriting a store: its
# first save sweeps, and its later saves follow the sweep schedule.
cat(sprintf("\n-- amortized durable save cost, store of 100 vs %d keys\n", big_keys))
populate <- function(root, n) {
  s <- ws_open(root, durable = FALSE, size_budget = Inf)
  for (i in seq_len(n)) ws_save(s, ws_key("populate", i), payload)
}
rscript <- file.path(R.home("bin"), "Rscript")
amortized <- function(root, saves = 600) {
  code <- sprintf(paste0(
    "library(warmstart); s <- ws_open('%s', size_budget = Inf); p <- as.raw(1:200); ",
    "t <- system.time(for (i in 1:%d) ws_save(s, ws_key('new', i), p))[['elapsed']]; ",
    "cat(t / %d)"), root, saves, saves)
  as.numeric(system2(rscript, c("--vanilla", "-e", shQuote(code)), stdout = TRUE))
}
small_root <- root_of("keys-small")
large_root <- root_of("keys-large")
populate(small_root, 100)
populate(large_root, big_keys)
a_small <- a_large <- c()
for (round in 1:3) {
  a_small <- c(a_small, amortized(small_root))
  a_large <- c(a_large, amortized(large_root))
}
cat(sprintf("  100 keys:   %s per save\n  %d keys: %s per save\n",
            us(median(a_small)), big_keys, us(median(a_large))))
target(sprintf("amortized save, %d keys / 100 keys", big_keys),
       median(a_large) / median(a_small), "<= 1.3")

# ---- memory: the lookup cache's bounds ----
# Two fresh processes look up the same 40 entries of 10 MB three times:
# one with the cache bounded to 64 MiB, one with it off. The difference in
# resident growth is what the cache holds (the rest is R's and malloc's
# churn, the same in both).
cat("\n-- lookup cache bounds (resident memory, two processes)\n")
mem_root <- root_of("memory")
local({
  s <- ws_open(mem_root, size_budget = Inf, durable = FALSE)
  for (i in 1:40) ws_save(s, ws_key("m", i), as.raw(sample(0:255, 1e7, TRUE)))
})
Sys.sleep(0.2)
mem_run <- function(cache) {
  code <- paste0(
    "library(warmstart); options(warmstart.cache_max_bytes = 64 * 1024^2); ",
    "rss <- function() as.numeric(gsub('[^0-9]', '', grep('^VmRSS', ",
    "readLines('/proc/self/status'), value = TRUE))) / 1024; ",
    sprintf("s <- ws_open('%s', size_budget = Inf, memory_cache = %s); ", mem_root, cache),
    "keys <- vapply(1:40, function(i) ws_key('m', i), ''); ",
    "invisible(gc()); before <- rss(); ",
    "for (r in 1:3) for (k in keys) invisible(ws_lookup(s, k)); invisible(gc()); ",
    "u <- warmstart:::ws_cache_usage(); ",
    "cat(before, rss(), u$entries, u$bytes / 1024^2)")
  as.numeric(strsplit(system2(rscript, c("--vanilla", "-e", shQuote(code)),
                              stdout = TRUE), " ")[[1]])
}
on <- mem_run("TRUE")
off <- mem_run("FALSE")
cat(sprintf(paste0("  cache on (bound 64 MiB): resident +%.0f MB; cache holds %d entries, %.0f MiB\n",
                   "  cache off:               resident +%.0f MB\n"),
            on[2] - on[1], as.integer(on[3]), on[4], off[2] - off[1]))
target("cache's resident share / its byte bound (64 MiB)",
       ((on[2] - on[1]) - (off[2] - off[1])) / (64 * 1.048576), "<= 1",
       sprintf("cache accounts %.0f MiB in %d entries", on[4], as.integer(on[3])))

cat("\n== ratios (measured in this run)\n")
print(do.call(rbind, ratios), row.names = FALSE, right = FALSE)
unlink(Sys.glob(file.path(bench_dir, "ws-bench-*")), recursive = TRUE)
