library(testthat)
library(ciexample)
test_check("ciexample")
