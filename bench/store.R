# The store against its targets and its peers, side by side in one run,
# ending with one table of ratios. Run from the repository with the
# package installed (make install):
#   Rscript bench/store.R
# Environment: BENCH_DIR (where stores live; default tempdir(), so the
# disk is the one R users' temp files are on), BENCH_KEYS (10000).
suppressPackageStartupMessages(library(warmstart))
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
cat("\n-- saves of 1 KB\n")
floor_bin <- file.path(tempdir(), "ws-floor")
floor_src <- "bench/floor.c"
floor_ok <- file.exists(floor_src) &&
  system2("cc", c("-O2", "-o", floor_bin, floor_src), stdout = FALSE,
          stderr = FALSE) == 0
payload <- as.raw(sample(0:255, 1024, TRUE))
n_saves <- 300
save_loop <- function(store, tag) {
  function() {
    for (i in seq_len(n_saves)) ws_save(store, ws_key(tag, i), payload)
  }
}
floor_run <- function(durable) {
  out <- system2(floor_bin, c(shQuote(root_of(paste0("floor", durable))),
                              n_saves, durable), stdout = TRUE)
  as.numeric(sub(" us per save.*", "", out)) / 1e6
}
res_durable <- res_fast <- res_floor <- res_floor0 <- res_cachem <- c()
for (round in 1:5) {
  d <- ws_open(root_of(paste0("durable", round)), durable = TRUE)
  res_durable <- c(res_durable, system.time(save_loop(d, "d")())[["elapsed"]] / n_saves)
  f <- ws_open(root_of(paste0("fast", round)), durable = FALSE)
  res_fast <- c(res_fast, system.time(save_loop(f, "f")())[["elapsed"]] / n_saves)
  if (floor_ok) {
    res_floor <- c(res_floor, floor_run(1))
    res_floor0 <- c(res_floor0, floor_run(0))
  }
  if (has("cachem")) {
    cd <- cachem::cache_disk(root_of(paste0("cachem", round)))
    res_cachem <- c(res_cachem, system.time(
      for (i in seq_len(n_saves)) cd$set(sprintf("k%d", i), payload))[["elapsed"]] / n_saves)
  }
}
rows <- list(`ws_save durable` = res_durable, `C floor durable` = res_floor,
             `ws_save durable = FALSE` = res_fast, `C floor not durable` = res_floor0,
             `cachem::cache_disk()$set` = res_cachem)
for (n in names(rows)) if (length(rows[[n]])) cat(sprintf("  %-32s %s\n", n, us(median(rows[[n]]))))
if (floor_ok) {
  target("durable 1 KB save / C floor", median(res_durable) / median(res_floor), "<= 1.3")
}
if (has("cachem")) {
  target("non-durable 1 KB save / cachem_disk set", median(res_fast) / median(res_cachem),
         "<= 1")
}
if (has("R.cache")) {
  rc <- root_of("rcache")
  dir.create(rc)
  t_rc <- system.time(for (i in seq_len(n_saves))
    R.cache::saveCache(payload, key = list(i), dirs = "b", rootPath = rc))[["elapsed"]]
  cat(sprintf("  %-32s %s\n", "R.cache::saveCache", us(t_rc / n_saves)))
}
if (has("storr")) {
  sr <- storr::storr_rds(root_of("storr"))
  t_sr <- system.time(for (i in seq_len(n_saves)) sr$set(sprintf("k%d", i), payload))[["elapsed"]]
  cat(sprintf("  %-32s %s\n", "storr_rds()$set", us(t_sr / n_saves)))
}
t_rds <- system.time(for (i in seq_len(n_saves))
  saveRDS(payload, file.path(root_of("rds"), sprintf("%d.rds", i)), compress = FALSE))
cat(sprintf("  %-32s %s\n", "saveRDS (no sync, no rename)", us(t_rds[["elapsed"]] / n_saves)))

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
cat("\n-- lookup cache bounds (resident memory)\n")
rss_mb <- function() {
  s <- readLines("/proc/self/status")
  as.numeric(gsub("[^0-9]", "", grep("^VmRSS", s, value = TRUE))) / 1024
}
mem_code <- paste0(
  "library(warmstart); options(warmstart.cache_max_bytes = 64 * 1024^2); ",
  "rss <- function() as.numeric(gsub('[^0-9]', '', grep('^VmRSS', readLines('/proc/self/status'), value = TRUE))) / 1024; ",
  sprintf("s <- ws_open('%s', size_budget = Inf); ", root_of("memory")),
  "keys <- vapply(1:40, function(i) ws_key('m', i), ''); ",
  "for (k in keys) ws_save(s, k, as.raw(sample(0:255, 1e7, TRUE))); Sys.sleep(0.2); ",
  "invisible(gc()); before <- rss(); ",
  "for (r in 1:3) for (k in keys) invisible(ws_lookup(s, k)); invisible(gc()); ",
  "u <- warmstart:::ws_cache_usage(); ",
  "cat(before, rss(), u$entries, u$bytes / 1024^2)")
m <- as.numeric(strsplit(system2(rscript, c("--vanilla", "-e", shQuote(mem_code)),
                                 stdout = TRUE), " ")[[1]])
cat(sprintf(paste0("  cache bound 64 MiB; 40 entries of 10 MB looked up 3 times\n",
                   "  resident before %.0f MB, after %.0f MB (+%.0f MB); cache holds %d entries, %.0f MiB\n"),
            m[1], m[2], m[2] - m[1], as.integer(m[3]), m[4]))
target("RSS growth / cache byte bound (64 MiB)", (m[2] - m[1]) / 64, "<= 1.3",
       "resident growth after 120 lookups of 10 MB entries")

cat("\n== ratios (measured in this run)\n")
print(do.call(rbind, ratios), row.names = FALSE, right = FALSE)
unlink(Sys.glob(file.path(bench_dir, "ws-bench-*")), recursive = TRUE)
