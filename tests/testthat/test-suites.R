# cachem's and memoise's own test suites, run against ws_cachem(): every
# cache_disk() of cachem's tests/testthat/test-cache-disk.R, and every cache
# memoise's tests make, is a ws_cachem() over a fresh store. The sources
# come from CRAN at test time (or from the folder tools/install-deps.sh
# fetched them into, WARMSTART_SUITES); where neither is possible the test
# skips with a message. See suites/run-suite.R.

# The CRAN repository R is configured with: getOption("repos"), or, as
# R CMD check runs the tests with --vanilla (no Rprofile.site, no
# ~/.Rprofile), the one tools/check.sh read from R's configuration
# (WARMSTART_REPOS). NULL when none is set.
cran_repo <- function() {
  repos <- getOption("repos")
  cran <- if ("CRAN" %in% names(repos)) repos[["CRAN"]] else ""
  if (is.na(cran) || !nzchar(cran) || identical(cran, "@CRAN@")) {
    cran <- Sys.getenv("WARMSTART_REPOS")
  }
  if (!nzchar(cran) || identical(cran, "@CRAN@")) return(NULL)
  sub("/+$", "", cran)
}

# cache_disk()'s own file format (read_fn, write_fn, extension: its .rds or
# .csv files), which ws_cachem() has no use for: entries are the store's.
excused <- "Cache disk can use different formts"

suite_tarball <- function(pkg, version) {
  local <- Sys.getenv("WARMSTART_SUITES")
  name <- sprintf("%s_%s.tar.gz", pkg, version)
  if (nzchar(local) && file.exists(file.path(local, name))) {
    return(file.path(local, name))
  }
  dest <- file.path(tempdir(), name)
  if (file.exists(dest)) return(dest)
  if (is.null(cran_repo())) return(NULL)
  cran <- paste0(cran_repo(), "/src/contrib")
  for (url in c(sprintf("%s/Archive/%s/%s", cran, pkg, name),
                sprintf("%s/%s", cran, name))) {
    ok <- tryCatch({
      suppressWarnings(utils::download.file(url, dest, quiet = TRUE, mode = "wb"))
      file.exists(dest) && file.size(dest) > 0
    }, error = function(e) FALSE)
    if (ok) return(dest)
    unlink(dest)
  }
  NULL
}

# The version CRAN has now (when the wanted one is not to be had, e.g. its
# archive is out of reach), NULL when CRAN is out of reach.
cran_current <- function(pkg) {
  if (is.null(cran_repo())) return(NULL)
  db <- tryCatch(suppressWarnings(utils::available.packages(
    repos = cran_repo(), type = "source")),
    error = function(e) NULL)
  if (is.null(db) || !pkg %in% rownames(db)) return(NULL)
  db[pkg, "Version"]
}

# The package's sources unpacked, installed into a library of their own
# when the version installed here is another one. list(src, lib, version).
suite_sources <- function(pkg, version) {
  tarball <- suite_tarball(pkg, version)
  if (is.null(tarball)) {
    current <- cran_current(pkg)
    if (!is.null(current)) {
      tarball <- suite_tarball(pkg, current)
      version <- current
    }
  }
  # Worded as a missing tool, which is what it is here: check.sh lets a
  # test skip for nothing else.
  skip_if(is.null(tarball) && is.null(cran_repo()),
          sprintf(paste("%s %s's test suite is not installed: no CRAN repository is set",
                        "(options(repos = c(CRAN = ...)), or WARMSTART_REPOS)"),
                  pkg, version))
  skip_if(is.null(tarball),
          sprintf("%s %s's test suite is not installed: CRAN is out of reach",
                  pkg, version))
  dir <- file.path(tempdir(), paste0("suite-src-", pkg, "-", version))
  if (!dir.exists(dir)) utils::untar(tarball, exdir = dir)
  src <- file.path(dir, pkg)
  lib <- .libPaths()
  installed <- tryCatch(format(utils::packageVersion(pkg)), error = function(e) "")
  if (!identical(installed, version)) {
    own <- file.path(tempdir(), paste0("suite-lib-", pkg, "-", version))
    if (!dir.exists(file.path(own, pkg))) {
      dir.create(own, showWarnings = FALSE)
      install_needs(file.path(src, "DESCRIPTION"), own)
      utils::install.packages(tarball, lib = own, repos = NULL,
                              type = "source", quiet = TRUE)
    }
    if (!dir.exists(file.path(own, pkg))) {
      stop(sprintf("%s %s did not install from its sources", pkg, version))
    }
    lib <- c(own, lib)
  }
  list(src = src, lib = lib, version = version)
}

# files: those of the suite's tests/testthat to run; NULL: every test file.
# What the package imports and this library lacks, or has too old, from
# CRAN into lib (install.packages() from a tarball does neither).
install_needs <- function(description, lib) {
  imports <- read.dcf(description, fields = "Imports")[1, 1]
  if (is.na(imports)) return(invisible())
  for (dep in trimws(strsplit(imports, ",")[[1]])) {
    name <- sub("\\s*\\(.*", "", dep)
    wanted <- sub(".*\\(\\s*>=\\s*([^)[:space:]]+)\\s*\\).*", "\\1", dep)
    have <- tryCatch(utils::packageVersion(name), error = function(e) NULL)
    if (is.null(have) || (wanted != dep && have < wanted)) {
      if (is.null(cran_repo())) {
        stop("no CRAN repository is set to install ", name, " from: set ",
             "options(repos = c(CRAN = ...)) or WARMSTART_REPOS")
      }
      utils::install.packages(name, lib = lib, type = "source", quiet = TRUE,
                              repos = cran_repo())
    }
  }
}

run_suite <- function(pkg, version, files = NULL) {
  s <- suite_sources(pkg, version)
  if (is.null(files)) {
    files <- list.files(file.path(s$src, "tests", "testthat"), "^test.*\\.R$")
  }
  out <- tempfile(fileext = ".rds")
  script <- test_path("suites", "run-suite.R")
  skip_if_not_installed("withr")
  log <- withr::with_envvar(
    c(R_LIBS = paste(s$lib, collapse = .Platform$path.sep)),
    system2(file.path(R.home("bin"), "Rscript"),
            c("--vanilla", shQuote(script), pkg,
              shQuote(file.path(s$src, "tests", "testthat")), files,
              shQuote(out)),
            stdout = TRUE, stderr = TRUE))
  if (!file.exists(out)) stop("the suite did not run:\n", paste(log, collapse = "\n"))
  res <- readRDS(out)
  res$version <- s$version
  res
}

test_that("cachem's test-cache-disk.R passes against ws_cachem()", {
  skip_on_cran()
  res <- run_suite("cachem", "1.0.7", "test-cache-disk.R")
  judged <- res[!res$test %in% excused, ]
  record_figure(sprintf("cachem %s test-cache-disk.R on ws_cachem(): passed of tests (skipped), excused",
                        res$version[1]),
                c(sum(judged$passed), nrow(judged), sum(judged$skipped),
                  sum(res$test %in% excused)))
  expect_gte(nrow(judged), 9)
  for (i in seq_len(nrow(judged))) {
    expect_true(judged$passed[i] || judged$skipped[i], label = judged$test[i])
  }
  expect_gt(sum(judged$passed), 0)
})

test_that("memoise's test suite passes with ws_cachem() as every cache", {
  skip_on_cran()
  skip_if_not_installed("memoise")
  # memoise's cache_filesystem() (test-filesystem.R) needs digest, one of
  # memoise's Suggests: in warmstart's Suggests too, as R CMD check
  # --as-cran gives the tests a library of the declared packages only.
  skip_if_not_installed("digest")
  res <- run_suite("memoise", "2.0.1")
  record_figure(sprintf("memoise %s tests on ws_cachem(): passed of tests (skipped)",
                        res$version[1]),
                c(sum(res$passed), nrow(res), sum(res$skipped)))
  expect_gte(nrow(res), 30)
  for (i in seq_len(nrow(res))) {
    expect_true(res$passed[i] || res$skipped[i], label = res$test[i])
  }
})
