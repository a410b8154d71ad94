# The CI use end to end: R CMD check of a small package whose tests fit
# GAMs through warmstart (inst/ci-example), twice with one WARMSTART_DIR as
# a CI job with a cached directory runs it, and once without. It runs three
# checks (about a minute), so only when tools/check.sh (`make test`) asks
# for it; the sanitizer and valgrind runs of this suite do not.

# R CMD check of `tarball` in a fresh directory under `work`, in an
# environment of only what a CI machine would set: its own HOME and TMPDIR,
# warmstart from `lib`, and `extra` (WARMSTART_DIR).
check_example <- function(work, name, tarball, lib, extra = character()) {
  dir <- file.path(work, name)
  home <- file.path(dir, "home")
  tmp <- file.path(dir, "tmp")
  dir.create(home, recursive = TRUE)
  dir.create(tmp)
  env <- c(PATH = Sys.getenv("PATH"), HOME = home, TMPDIR = tmp,
           LANG = Sys.getenv("LANG", "C.UTF-8"),
           R_LIBS = paste(c(lib, .libPaths()), collapse = .Platform$path.sep),
           extra)
  lc_all <- Sys.getenv("LC_ALL")
  if (nzchar(lc_all)) env <- c(env, LC_ALL = lc_all)
  log <- file.path(dir, "check.log")
  status <- withr::with_dir(dir, system2(
    "env", c("-i", shQuote(paste0(names(env), "=", env)),
             shQuote(file.path(R.home("bin"), "R")), "CMD", "check",
             "--no-manual", shQuote(tarball)),
    stdout = log, stderr = log))
  check_log <- readLines(log)
  rout <- file.path(dir, "ciexample.Rcheck", "tests",
                    c("testthat.Rout", "testthat.Rout.fail"))
  rout <- rout[file.exists(rout)][1]
  out <- if (is.na(rout)) character() else readLines(rout)
  fits <- regmatches(out, regexec("^ws_gam fit (.+): (cold|warm|hit) \\[(.+)\\]$", out))
  fits <- do.call(rbind, lapply(fits[lengths(fits) == 4L], function(m)
    data.frame(label = m[2], mode = m[3], root = m[4])))
  # R CMD check's .Rout ends with the test process's proc.time().
  at <- match("> proc.time()", out)
  times <- if (is.na(at)) c(NA, NA, NA) else
    scan(text = out[at + 2L], quiet = TRUE)
  list(status = status, log = check_log,
       ok = any(grepl("^Status: (OK|[0-9]+ NOTEs?)$", check_log)),
       fits = fits, hits = sum(fits$mode == "hit"),
       cpu = times[1] + times[2], elapsed = times[3],
       home = home, tmp = tmp,
       why = paste(c(tail(check_log, 15), tail(out, 25)), collapse = "\n"))
}

test_that("a CI job's second R CMD check gets its fits from the cached store", {
  skip_on_cran()
  skip_on_os("windows")
  skip_if_not(identical(Sys.getenv("WARMSTART_CI_PROOF"), "true"),
              "the two-check proof runs with `make test` (WARMSTART_CI_PROOF=true)")
  skip_if_not_installed("mgcv")
  installed <- find.package("warmstart")
  skip_if_not(file.exists(file.path(installed, "Meta", "package.rds")),
              "warmstart is not installed (loaded from source)")

  work <- tempfile("ci-proof-")
  dir.create(work)
  withr::defer(unlink(work, recursive = TRUE))
  # warmstart as the CI job installs it: a library of its own.
  lib <- file.path(work, "lib")
  dir.create(lib)
  expect_true(file.copy(installed, lib, recursive = TRUE))
  # The example package, built on the fly.
  src <- file.path(work, "src")
  dir.create(src)
  file.copy(system.file("ci-example", package = "warmstart"), src,
            recursive = TRUE)
  withr::with_dir(work, system2(file.path(R.home("bin"), "R"),
                                c("CMD", "build", shQuote(file.path(src, "ci-example"))),
                                stdout = FALSE, stderr = FALSE))
  tarball <- file.path(work, "ciexample_0.1.0.tar.gz")
  expect_true(file.exists(tarball))

  ci <- file.path(work, "ci-cache")
  first <- check_example(work, "run1", tarball, lib, c(WARMSTART_DIR = ci))
  second <- check_example(work, "run2", tarball, lib, c(WARMSTART_DIR = ci))
  alone <- check_example(work, "alone", tarball, lib)

  for (run in list(first, second, alone)) {
    expect_true(run$ok, info = run$why)
    expect_identical(nrow(run$fits), 6L, info = run$why)
  }
  # Every fit, the default store's too, used the cached directory...
  expect_identical(unique(c(first$fits$root, second$fits$root)),
                   normalizePath(ci, winslash = "/"))
  # ...so the first run fitted and the second fitted nothing.
  expect_identical(first$hits, 0L)
  expect_identical(second$hits, 6L)
  expect_lt(second$cpu, first$cpu)
  # Without WARMSTART_DIR: fresh stores under the check's tempdir(), and
  # nothing written to the home directory (where the user cache would be).
  expect_identical(alone$hits, 0L)
  expect_true(all(startsWith(alone$fits$root,
                             paste0(normalizePath(alone$tmp, winslash = "/"), "/"))))
  expect_identical(list.files(alone$home, recursive = TRUE, all.files = TRUE,
                              include.dirs = TRUE, no.. = TRUE), character())

  record_figure("ci proof (R CMD check of inst/ci-example, tests' CPU s / elapsed s)",
                sprintf("run 1: %d fits, %d hits, %.1f / %.1f; run 2: %d hits, %.1f / %.1f; without WARMSTART_DIR: %d hits, home untouched",
                        nrow(first$fits), first$hits, first$cpu, first$elapsed,
                        second$hits, second$cpu, second$elapsed, alone$hits))
})
