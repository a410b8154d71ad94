# The README's R code runs as written: every ```r block of README.md, in
# order, in a new R session whose tempdir() is a fresh directory (so the
# stores it opens there are new). A line that ends with a comment starting
# with a quoted string (`attr(fit, "warmstart")  # "cold"`) states the value
# its expression returns, and that is checked too. ```sh blocks (make,
# R CMD INSTALL) are not run here.
#
# README.md is not installed with the package: the test reads it from the
# source tree (tests/testthat/../../README.md) or, under R CMD check of the
# tarball, from the sources the check unpacked (warmstart.Rcheck/00_pkg_src).

readme_path <- function() {
  candidates <- c(test_path("..", "..", "README.md"),
                  test_path("..", "..", "00_pkg_src", "warmstart", "README.md"))
  found <- candidates[file.exists(candidates)]
  if (length(found) == 0) skip("README.md is not installed (only in the sources)")
  found[[1]]
}

# The lines inside the README's ```r fences, blocks in order.
readme_r_code <- function(path) {
  lines <- readLines(path, warn = FALSE, encoding = "UTF-8")
  fence <- grepl("^```", lines)
  opens_r <- grepl("^```r\\s*$", lines)
  code <- character()
  inside <- FALSE
  for (i in seq_along(lines)) {
    if (fence[i]) {
      inside <- !inside && opens_r[i]
      next
    }
    if (inside) code <- c(code, lines[i])
  }
  code
}

test_that("readme_r_code() takes the r blocks only", {
  md <- withr::local_tempfile(fileext = ".md")
  writeLines(c("text", "```sh", "make test", "```", "```r", "x <- 1",
               "```", "more", "```r", "x + 1  # \"2\"", "```"), md)
  expect_identical(readme_r_code(md), c("x <- 1", "x + 1  # \"2\""))
})

test_that("the README's R code runs as written and returns what it says", {
  skip_on_cran() # a child R session that fits three GAMs
  skip_if_not_installed("mgcv")
  skip_if_not_installed("memoise")
  code <- readme_r_code(readme_path())
  expect_gt(length(code), 10)

  code_file <- withr::local_tempfile(fileext = ".R")
  writeLines(code, code_file)
  child_tmp <- withr::local_tempdir()
  out <- run_r(c(
    sprintf("code <- readLines(%s)", deparse(code_file)),
    "exprs <- parse(text = code, keep.source = TRUE)",
    "refs <- attr(exprs, 'srcref')",
    "for (i in seq_along(exprs)) {",
    "  value <- eval(exprs[[i]], globalenv())",
    "  last <- code[refs[[i]][3]]",
    "  said <- regmatches(last, regexec('#\\\\s*\"([^\"]*)\"', last))[[1]]",
    "  if (length(said) == 2)",
    "    cat('CHECK', said[2], paste(format(value), collapse = ' '), '\\n', sep = '\\t')",
    "}",
    "cat('README-DONE\\n')"
  ), env = c(TMPDIR = child_tmp), timeout = 300)
  expect_identical(attr(out, "status"), 0L, info = paste(out, collapse = "\n"))
  expect_true("README-DONE" %in% out, info = paste(out, collapse = "\n"))

  checks <- strsplit(grep("^CHECK\t", out, value = TRUE), "\t")
  # The README states the mode of each of its three ws_gam() calls.
  expect_gte(length(checks), 3)
  for (check in checks) {
    expect_identical(trimws(check[3]), check[2], info = paste(check, collapse = " "))
  }
})
