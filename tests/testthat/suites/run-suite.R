# Runs another package's own test files against ws_cachem(), in a process
# of its own (the package under test may be another version than the one
# installed). Arguments: the package (cachem or memoise), the folder of its
# tests/testthat, the files to run, and where to save the results (an RDS
# data frame: file, test, passed, failed, skipped, error).
args <- commandArgs(TRUE)
pkg <- args[[1]]
src <- args[[2]]
out <- args[[length(args)]]
files <- args[3:(length(args) - 1L)]

suppressPackageStartupMessages({
  library(testthat)
  library(warmstart)
})

# A store of its own for each cache: every test starts from nothing, as a
# cache_disk() in a new temporary folder does.
fresh_store <- function() {
  ws_open(tempfile("ws-suite-"), ttl = 0, semantics = "access",
          durable = FALSE)
}

# Each constructor the suite calls gives a ws_cachem() over a fresh store
# instead: cachem's cache_disk(...) and memoise's cachem::cache_mem().
rewrite <- function(text) {
  text <- gsub("\\bcache_disk\\(\\s*\\)", "ws_cachem(fresh_store())", text, perl = TRUE)
  text <- gsub("\\bcache_disk\\(", "ws_cachem(fresh_store(), ", text, perl = TRUE)
  text <- gsub("cachem::cache_mem\\(\\s*\\)", "ws_cachem(fresh_store())", text, perl = TRUE)
  text
}

dir <- tempfile("suite-")
dir.create(dir)
helpers <- list.files(src, "^helper.*\\.R$", full.names = TRUE)
invisible(file.copy(helpers, dir))
for (f in files) writeLines(rewrite(readLines(file.path(src, f))), file.path(dir, f))

env <- new.env(parent = asNamespace(pkg))
env$fresh_store <- fresh_store
if (pkg == "memoise") {
  # memoise()'s default cache is a cachem::cache_mem(): every memoised
  # function of the suite gets a ws_cachem() instead.
  env$memoise <- function(f, ..., cache = ws_cachem(fresh_store())) {
    memoise::memoise(f, ..., cache = cache)
  }
}
res <- testthat::test_dir(dir, env = env, reporter = "silent",
                          stop_on_failure = FALSE, load_package = "none")
df <- as.data.frame(res)
saveRDS(data.frame(file = df$file, test = df$test,
                   passed = !df$error & df$failed == 0 & !df$skipped,
                   failed = df$failed, skipped = df$skipped, error = df$error,
                   stringsAsFactors = FALSE), out)
