# testthat is a suggested package: without it (R CMD check with
# _R_CHECK_DEPENDS_ONLY_=true) there is nothing to run.
if (requireNamespace("testthat", quietly = TRUE)) {
  library(testthat)
  library(warmstart)
  test_check("warmstart")
}
