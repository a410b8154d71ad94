# How long until one host sees another's new entry (the network harness's
# visibility probe). The writer saves entry i of one key every `interval`
# seconds; the reader polls ws_lookup_latest() every 20 ms. Both journal
# (tab-separated, flushed) to <logdir>/<role>.log:
#   saved <seq> <unix time> <payload there>    seen <seq> <unix time>
# ("payload there": TRUE when the entry's payload file was still in place
# right after ws_save() returned; FALSE means the save was lost.)
# Usage: Rscript probe.R root logdir role rounds interval payload.R

args <- commandArgs(TRUE)
root <- args[[1]]
logdir <- args[[2]]
role <- args[[3]]
rounds <- as.integer(args[[4]])
interval <- as.numeric(args[[5]])
source(args[[6]])

suppressPackageStartupMessages(library(warmstart))
key <- ws_key("visibility probe")
store <- ws_open(root, size_budget = Inf, ttl = 3600)
con <- file(file.path(logdir, paste0(role, ".log")), open = "a")
jot <- function(...) {
  writeLines(paste(..., sep = "\t"), con)
  flush(con)
}
now <- function() format(as.numeric(Sys.time()), digits = 17)
ready <- file.path(logdir, "reader.ready")

if (role == "writer") {
  deadline <- Sys.time() + 60
  while (!file.exists(ready) && Sys.time() < deadline) Sys.sleep(0.02)
  for (i in seq_len(rounds)) {
    Sys.sleep(interval)
    run_id <- ws_save(store, key, make_host_payload(1L, 1L, 0L, 0L, i, 100L))
    jot("saved", i, now(), file.exists(file.path(root, key, paste0(run_id, ".bin"))))
  }
} else {
  ws_lookup_latest(store, key)
  file.create(ready)
  seen <- 0L
  # Long enough for any attribute or directory cache to expire.
  deadline <- Sys.time() + 60 + rounds * interval
  while (seen < rounds && Sys.time() < deadline) {
    e <- ws_lookup_latest(store, key)
    h <- if (is.null(e)) NULL else read_host_payload(e$payload, 1L)
    if (!is.null(h) && h[["seq"]] > seen) {
      seen <- h[["seq"]]
      jot("seen", seen, now())
    }
    Sys.sleep(0.02)
  }
}
