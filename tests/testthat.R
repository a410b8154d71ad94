library(testthat)
library(warmstart)

test_check("warmstart")
