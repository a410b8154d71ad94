# Runs the test suite under covr against the coverage build in `pkg` and
# prints line coverage per file: R/ (covr) and src/ (gcov), the C core
# (the files without R headers) last, ending with "C core: N% of lines".
# The core's lines no test runs go to `out`/uncovered-core.txt.
args <- commandArgs(TRUE)
pkg <- args[1]
out <- args[2]

traces_r <- args[3] # tools/coverage/traces.R

hook <- "src/zz_coverage_flush.c"
lib <- file.path(out, "lib") # kept: the tests' output is in lib/warmstart/tests
dir.create(lib)
lib <- normalizePath(lib)
# Traces that cannot be read (a child killed while saving its own) are set
# aside before covr merges them (traces.R says how): covr runs `code` after
# the tests, in a process of its own, and merges next.
source(traces_r)
traces_report <- file.path(out, "traces.txt")
check_traces <- sprintf("source(%s); set_aside_traces(%s, %s)", deparse(traces_r),
                        deparse(lib), deparse(traces_report))
cov <- covr::package_coverage(pkg, type = "tests", quiet = FALSE, clean = FALSE,
                              install_path = lib, code = check_traces)
saveRDS(cov, file.path(out, "coverage.rds"))
lines <- covr::tally_coverage(cov, by = "line")
lines <- lines[lines$filename != hook, ]

# The C core is src/core/ (no R headers there).
core <- file.path("src", "core", list.files(file.path(pkg, "src", "core"), "\\.c$"))

per_file <- function(files) {
  rows <- lapply(files, function(f) {
    l <- lines[lines$filename == f, ]
    c(lines = nrow(l), covered = sum(l$value > 0))
  })
  data.frame(file = files, lines = vapply(rows, `[[`, 0, "lines"),
             covered = vapply(rows, `[[`, 0, "covered"))
}
show <- function(title, df) {
  cat(sprintf("\n%s\n", title))
  for (i in seq_len(nrow(df))) {
    cat(sprintf("  %-22s %5d lines %5d run  %6.1f%%\n", df$file[i], df$lines[i],
                df$covered[i], 100 * df$covered[i] / max(df$lines[i], 1)))
  }
  cat(sprintf("  %-22s %5d lines %5d run  %6.1f%%\n", "(all)", sum(df$lines),
              sum(df$covered), 100 * sum(df$covered) / max(sum(df$lines), 1)))
}

files <- sort(unique(lines$filename))
r_files <- per_file(files[startsWith(files, "R/")])
glue <- per_file(setdiff(files[startsWith(files, "src/")], core))
core_df <- per_file(sort(core))
show("R code (covr)", r_files)
show("C glue: the files that use R's API (gcov)", glue)
show("C core: no R headers (gcov)", core_df)

# The core's lines no test ran, with their text.
report <- character()
for (f in core) {
  l <- lines[lines$filename == f & lines$value == 0, ]
  if (nrow(l) == 0) next
  text <- readLines(file.path(pkg, f))
  report <- c(report, sprintf("%s:%d: %s", f, l$line, trimws(text[l$line])))
}
writeLines(report, file.path(out, "uncovered-core.txt"))
cat(paste0(c("", describe_traces(traces_report)), "\n"), sep = "")
cat(sprintf("\nlines of the C core no test runs: %s\n", file.path(out, "uncovered-core.txt")))
cat(sprintf("C core: %.1f%% of lines\n", 100 * sum(core_df$covered) / sum(core_df$lines)))
