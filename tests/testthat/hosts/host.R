# One "host" of the multi-host harness (helper-hosts.R starts three, each in
# its own pid namespace). It runs `workers` worker processes doing a random
# mix of saves, lookups, lookup_latest and sweeps on one store for
# `seconds`, and SIGKILLs a random worker every few hundred milliseconds
# (starting a new one in its place). Everything the harness checks later is
# written to journals in `logdir`, one line per event, flushed at once so
# that a killed worker's journal is whole up to its last completed line:
#   worker journal h<host>w<worker>g<gen>.log, tab-separated:
#     start   pid nodename
#     begin   seq key len           (just before ws_save)
#     commit  seq key run_id check  (ws_save returned; check: what a direct
#                                    read of the entry's files found)
#     error   op seq key class code path message
#     lookup  op key outcome writer (outcome: miss, ok, wrong)
#     evict   removed temps_removed
#   host log host<host>.log: host, start, kill, done lines.
# Just before it kills a worker, the host creates and removes
# <killdir>/<pid>: the harness's inotify log then shows which removals of
# that worker's temps came before its death.
# Usage: Rscript host.R root logdir host workers seconds budget nkeys
#          payload.R killdir

args <- commandArgs(TRUE)
root <- args[[1]]
logdir <- args[[2]]
host <- as.integer(args[[3]])
workers <- as.integer(args[[4]])
seconds <- as.numeric(args[[5]])
budget <- as.numeric(args[[6]])
nkeys <- as.integer(args[[7]])
source(args[[8]])
killdir <- args[[9]]

suppressPackageStartupMessages(library(warmstart))
keys <- vapply(seq_len(nkeys), function(k) ws_key("multi-host harness", k), "")
# Against a budget of a few hundred KiB the sweeps evict all the time, yet
# the newest entry is never the oldest: one just committed is not evicted
# before its writer checks it.
sizes <- c(16L, 700L, 4000L, 20000L)
deadline <- Sys.time() + seconds

journal <- function(path) {
  con <- file(path, open = "a")
  function(...) {
    writeLines(paste(..., sep = "\t"), con)
    flush(con)
  }
}

# What the files of a just-committed entry hold, read directly. The
# payload is read before the meta is looked for: a removal (a sweep over
# budget may take an entry the moment it is committed) unlinks the meta
# first, so a payload found missing with its meta still there afterwards
# was lost, while the other order of checks counted such an eviction,
# caught between its two unlinks, as a loss.
check_commit <- function(key_index, run_id, payload) {
  dir <- file.path(root, keys[[key_index]])
  bin <- file.path(dir, paste0(run_id, ".bin"))
  bytes <- tryCatch(readBin(bin, "raw", length(payload) + 1L),
                    error = function(e) NULL, warning = function(w) NULL)
  has_meta <- file.exists(file.path(dir, paste0(run_id, ".json")))
  if (is.null(bytes)) return(if (has_meta) "bin_missing" else "both_missing")
  if (!identical(bytes, payload)) return("wrong_bytes")
  if (!has_meta) "json_missing" else "ok"
}

error_fields <- function(e) {
  code <- if (is.null(e$code)) "" else e$code
  path <- if (is.null(e$path)) "" else e$path
  c(class(e)[[1]], code, path, gsub("[\t\n]", " ", conditionMessage(e)))
}

run_worker <- function(worker, gen) {
  jot <- journal(file.path(logdir, sprintf("h%dw%dg%d.log", host, worker, gen)))
  jot("start", Sys.getpid(), Sys.info()[["nodename"]])
  set.seed(host * 100000 + worker * 1000 + gen)
  store <- ws_open(root, size_budget = budget, ttl = 3600)
  seq <- 0L
  while (Sys.time() < deadline) {
    k <- sample.int(nkeys, 1L)
    op <- sample(c("save", "lookup", "latest", "evict"), 1L,
                 prob = c(0.45, 0.25, 0.2, 0.1))
    if (op == "save") {
      seq <- seq + 1L
      len <- sample(sizes, 1L)
      p <- make_host_payload(k, host, worker, gen, seq, len)
      jot("begin", seq, k, len)
      r <- tryCatch(ws_save(store, keys[[k]], p, objective = runif(1),
                            iteration = seq),
                    error = function(e) e)
      if (inherits(r, "error")) {
        jot("error", op, seq, k, paste(error_fields(r), collapse = "\t"))
      } else {
        jot("commit", seq, k, r, check_commit(k, r, p))
      }
    } else if (op == "evict") {
      r <- tryCatch(ws_evict(store), error = function(e) e)
      if (inherits(r, "error")) {
        jot("error", op, 0L, 0L, paste(error_fields(r), collapse = "\t"))
      } else {
        jot("evict", r$removed, r$temps_removed)
      }
    } else {
      e <- tryCatch(if (op == "lookup") ws_lookup(store, keys[[k]]) else
        ws_lookup_latest(store, keys[[k]]), error = function(e) e)
      if (inherits(e, "error")) {
        jot("error", op, 0L, k, paste(error_fields(e), collapse = "\t"))
      } else if (is.null(e)) {
        jot("lookup", op, k, "miss", "")
      } else {
        h <- read_host_payload(e$payload, k)
        writer <- if (is.null(h)) "" else
          paste(h[c("host", "worker", "gen", "seq")], collapse = ".")
        jot("lookup", op, k, if (is.null(h)) "wrong" else "ok", writer)
      }
    }
  }
  invisible(NULL)
}

hlog <- journal(file.path(logdir, sprintf("host%d.log", host)))
hlog("host", host, Sys.info()[["nodename"]], Sys.getpid())
jobs <- vector("list", workers)
gens <- integer(workers)
start_worker <- function(w) {
  gens[[w]] <<- gens[[w]] + 1L
  jobs[[w]] <<- parallel::mcparallel(run_worker(w, gens[[w]]), silent = TRUE)
  hlog("start", w, gens[[w]], jobs[[w]]$pid)
}
for (w in seq_len(workers)) start_worker(w)
set.seed(host)
while (Sys.time() < deadline - 0.5) {
  Sys.sleep(runif(1, 0.15, 0.6))
  w <- sample.int(workers, 1L)
  mark <- file.path(killdir, jobs[[w]]$pid)
  file.create(mark)
  unlink(mark)
  tools::pskill(jobs[[w]]$pid, tools::SIGKILL)
  suppressWarnings(parallel::mccollect(jobs[[w]], wait = TRUE))
  hlog("kill", w, gens[[w]], jobs[[w]]$pid)
  start_worker(w)
}
for (w in seq_len(workers)) {
  suppressWarnings(parallel::mccollect(jobs[[w]], wait = TRUE))
}
hlog("done")
