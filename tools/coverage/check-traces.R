# Self-check of traces.R, run by tools/coverage.sh before the suite: covr's
# merge of a library holding a truncated trace fails, and after
# set_aside_traces() it succeeds, with the readable traces' counts, the
# truncated one named and counted as left out.
# Usage: Rscript check-traces.R tools/coverage/traces.R
source(commandArgs(TRUE)[1])
stopifnot(requireNamespace("covr", quietly = TRUE))
lib <- tempfile("traces-")
dir.create(lib)


# Traces as covr saves them (save_trace(): saveRDS of its environment of
# counters, one element per traced expression with its $value).
trace <- function(name, value) {
  counters <- new.env()
  for (i in 1:400) {
    key <- sprintf("R/file.R:%d:1:%d:20:1:20:%d:%d", i, i, i, i)
    counters[[key]] <- list(value = value, srcref = NULL, functions = NA_character_)
  }
  saveRDS(counters, file.path(lib, name))
}
trace("covr_trace_good1", 1L)
trace("covr_trace_good2", 2L)
trace("covr_trace_killed", 4L)
# Cut as a child killed mid-save leaves it; and one killed right after
# creating the file.
f <- file.path(lib, "covr_trace_killed")
bytes <- readBin(f, "raw", file.size(f))
writeBin(bytes[seq_len(length(bytes) %/% 2)], f)
invisible(file.create(file.path(lib, "covr_trace_empty")))

merge <- function() covr:::merge_coverage(
  list.files(lib, pattern = "^covr_trace_[^/]+$", full.names = TRUE))
# Without the fix, covr's own merge stops (the failure of issue 34).
failed <- tryCatch({ merge(); FALSE }, error = function(e) TRUE)
if (!failed) stop("covr merged a truncated trace: this check proves nothing")

report <- file.path(lib, "report.txt")
bad <- set_aside_traces(lib, report)
stopifnot(length(bad) == 2,
          any(startsWith(bad, "covr_trace_killed (")),
          any(startsWith(bad, "covr_trace_empty (")),
          file.exists(file.path(lib, "unreadable_covr_trace_killed")))
merged <- merge()
values <- vapply(merged, function(x) as.numeric(x$value), 0)
stopifnot(length(values) == 400, all(values == 3)) # 1 + 2: the readable two
line <- describe_traces(report)
stopifnot(grepl("2 read, 2 left out", line[1]), length(line) == 3)
cat("coverage: trace self-check passed (a truncated and an empty trace are left out, named; the merge of the rest holds their sum)\n")
unlink(lib, recursive = TRUE)
