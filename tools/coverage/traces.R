# covr's traces of the R code: every process that loads the coverage build
# saves its counters, when it exits, to a file covr_trace_<random> in the
# library (saveRDS straight to that name), and covr::package_coverage()
# then reads every file so named with readRDS(). A child that a crash test
# kills while it saves leaves a truncated file, and one such file stopped
# the whole merge ("error reading from connection") after the suite's
# 7 minutes. set_aside_traces() reads each trace first and renames the
# ones that cannot be read to unreadable_covr_trace_<random>, which covr's
# pattern (^covr_trace_) does not match: they are left out of the merge,
# and their names are written to `report`. A killed child's R lines run in
# other processes too, so leaving its counters out loses little.
#
# Run by covr itself (package_coverage(code = ...), tools/coverage/report.R)
# after the tests and before its merge, so no covr internals are replaced.
set_aside_traces <- function(lib, report) {
  traces <- list.files(lib, pattern = "^covr_trace_", full.names = TRUE)
  bad <- character()
  for (f in traces) {
    ok <- tryCatch({
      x <- suppressWarnings(readRDS(f))
      # A trace is covr's list of counters (an environment saved as a
      # list); anything else is not one.
      is.list(x) || is.environment(x)
    }, error = function(e) FALSE)
    if (!ok) {
      size <- file.size(f)
      to <- file.path(dirname(f), paste0("unreadable_", basename(f)))
      if (!file.rename(f, to)) unlink(f)
      bad <- c(bad, sprintf("%s (%.0f bytes)", basename(f), size))
    }
  }
  writeLines(c(sprintf("read %d", length(traces) - length(bad)), bad), report)
  invisible(bad)
}

# The line report.R prints, from the file set_aside_traces() wrote.
describe_traces <- function(report) {
  if (!file.exists(report))
    return("covr traces: not checked before the merge (see run.log)")
  r <- readLines(report)
  read <- as.integer(sub("^read ", "", r[1]))
  bad <- r[-1]
  c(sprintf("covr traces: %d read, %d left out (could not be read: a child killed while saving)",
            read, length(bad)),
    if (length(bad)) paste0("  left out: ", bad))
}
