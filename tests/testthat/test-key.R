# ws_key(): canonical, stable fingerprints of R values.

test_that("keys are 64 lowercase hex characters", {
  expect_match(ws_key("a"), "^[0-9a-f]{64}$")
  expect_match(ws_key(), "^[0-9a-f]{64}$")
  expect_match(ws_key(list(1, "a", NULL, TRUE)), "^[0-9a-f]{64}$")
})

test_that("framing is unambiguous", {
  expect_false(ws_key("ab", "c") == ws_key("a", "bc"))
  expect_false(ws_key(c("ab", "c")) == ws_key(c("a", "bc")))
  expect_false(ws_key(c("a", "b")) == ws_key("a", "b"))
  expect_false(ws_key("a", "b") == ws_key("b", "a"))
  expect_false(ws_key("") == ws_key())
  expect_false(ws_key(character()) == ws_key())
  expect_false(ws_key(list(1, 2)) == ws_key(list(list(1), 2)))
  expect_false(ws_key(list(1, 2)) == ws_key(1, 2))
  expect_false(ws_key(list()) == ws_key(NULL))
  expect_false(ws_key(list(NULL)) == ws_key(list()))
})

test_that("argument names and order matter", {
  expect_false(ws_key(a = "x") == ws_key(b = "x"))
  expect_false(ws_key(a = "x") == ws_key("x"))
  expect_false(ws_key(a = 1, b = 2) == ws_key(b = 2, a = 1))
  expect_false(ws_key(a = "x", "y") == ws_key("y", a = "x"))
  expect_false(ws_key(list(a = 1)) == ws_key(list(b = 1)))
})

test_that("type matters; -0 is 0; NA differs from NaN; all NaNs are one", {
  expect_false(ws_key(1L) == ws_key(1))
  expect_false(ws_key(TRUE) == ws_key(1L))
  expect_false(ws_key("a") == ws_key(charToRaw("a")))
  expect_false(ws_key(1) == ws_key(1 + 0i))
  expect_false(ws_key(quote(a)) == ws_key("a"))
  expect_identical(ws_key(-0), ws_key(0))
  expect_identical(ws_key(complex(real = -0, imaginary = -0)), ws_key(0i))
  expect_false(ws_key(NA_real_) == ws_key(NaN))
  expect_false(ws_key(NA_integer_) == ws_key(NA_real_))
  # A NaN with another bit pattern (sign bit and payload set).
  other_nan <- readBin(as.raw(c(1, 0, 0, 0, 0, 0, 0xf8, 0xff)), "double",
                       endian = "little")
  stopifnot(is.nan(other_nan))
  expect_identical(ws_key(other_nan), ws_key(NaN))
  expect_identical(ws_key(c(1, other_nan, 3)), ws_key(c(1, NaN, 3)))
  expect_identical(ws_key(0 / 0), ws_key(NaN))
})

test_that("strings are hashed as UTF-8 whatever their declared encoding", {
  utf8 <- "caf\u00e9"
  latin1 <- iconv(utf8, "UTF-8", "latin1")
  Encoding(latin1) <- "latin1"
  stopifnot(!identical(charToRaw(utf8), charToRaw(latin1)))
  expect_identical(ws_key(latin1), ws_key(utf8))
  expect_identical(ws_key(list(x = latin1)), ws_key(list(x = utf8)))
  expect_false(ws_key(NA_character_) == ws_key("NA"))
  bytes <- "\xff\xfe"
  Encoding(bytes) <- "bytes"
  expect_match(ws_key(bytes), "^[0-9a-f]{64}$")
})

test_that("ALTREP vectors hash like their values, without materializing", {
  expect_identical(ws_key(1:10), ws_key(c(1:10) + 0L))
  expect_identical(ws_key(as.character(1:5)), ws_key(c("1", "2", "3", "4", "5")))
  expect_identical(ws_key(seq(1, 10, by = 1)),
                   ws_key(c(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)))
  x <- 1:1e7
  ws_key(x)
  expect_match(paste(capture.output(.Internal(inspect(x))), collapse = "\n"),
               "compact")
  # 1:2e8 is 800 MB once materialized; hashing it must not get near that.
  invisible(gc(reset = TRUE))
  k <- ws_key(1:2e8)
  used_mb <- gc()[2, 6]
  expect_lt(used_mb, 200)
  expect_match(k, "^[0-9a-f]{64}$")
})

test_that("attributes are a set; compact row names equal explicit 1:n", {
  expect_identical(ws_key(structure(1, a = 1, b = 2)),
                   ws_key(structure(1, b = 2, a = 1)))
  expect_false(ws_key(structure(1, a = 1)) == ws_key(1))
  expect_false(ws_key(structure(1, a = 1)) == ws_key(structure(1, a = 2)))
  d1 <- data.frame(a = 1:3, b = c("x", "y", "z"))
  d2 <- d1
  attr(d2, "row.names") <- 1:3
  stopifnot(!identical(.row_names_info(d1, 0), .row_names_info(d2, 0)))
  expect_identical(ws_key(d1), ws_key(d2))
  d3 <- d1
  rownames(d3) <- c("1", "2", "4")
  expect_false(ws_key(d1) == ws_key(d3))
  expect_identical(ws_key(factor(c("a", "b"))),
                   ws_key(structure(1:2, levels = c("a", "b"), class = "factor")))
  expect_false(ws_key(factor(c("a", "b"))) == ws_key(1:2))
  expect_false(ws_key(factor(c("a", "b"))) ==
                 ws_key(factor(c("a", "b"), levels = c("b", "a"))))
})

test_that("formulas and terms hash by their expression, not environment", {
  f1 <- y ~ s(x) + z
  f2 <- local(y ~ s(x) + z)
  stopifnot(!identical(environment(f1), environment(f2)))
  expect_identical(ws_key(f1), ws_key(f2))
  expect_false(ws_key(y ~ x) == ws_key(y ~ z))
  expect_identical(ws_key(terms(f1)), ws_key(terms(f2)))
  expect_false(ws_key(terms(f1)) == ws_key(f1))
  expect_identical(ws_key(list(model = f1)), ws_key(list(model = f2)))
})

test_that("functions hash by formals and body, not environment, srcref, bytecode", {
  f <- function(x, y = 2) x + y
  g <- local({ secret <- 42; function(x, y = 2) x + y })
  expect_identical(ws_key(f), ws_key(g))
  expect_identical(ws_key(f), ws_key(compiler::cmpfun(f)))
  src <- eval(parse(text = "function(x, y = 2) {\n  x + y # a comment\n}",
                    keep.source = TRUE))
  plain <- eval(parse(text = "function(x, y = 2) {\n  x + y\n}",
                      keep.source = FALSE))
  stopifnot(!is.null(attr(src, "srcref")))
  expect_identical(ws_key(src), ws_key(plain))
  expect_false(ws_key(function(x, y = 3) x + y) == ws_key(f))
  expect_false(ws_key(function(x, z = 2) x + z) == ws_key(f))
  expect_false(ws_key(function(x, y = 2) x - y) == ws_key(f))
  expect_false(ws_key(sum) == ws_key(prod))
  expect_identical(ws_key(quote(f(x, y = 1))), ws_key(call("f", quote(x), y = 1)))
  expect_false(ws_key(quote(f(x, y = 1))) == ws_key(quote(f(x, z = 1))))
  expect_identical(ws_key(binomial()), ws_key(binomial(link = "logit")))
  expect_false(ws_key(binomial()) == ws_key(binomial(link = "probit")))
  expect_false(ws_key(binomial()) == ws_key(poisson()))
})

test_that("environments and pointers are an error naming where they sit", {
  # The class and argument for handlers; the path inside it in the message.
  where <- function(expr, argument, path) {
    e <- expect_error(expr, path, fixed = TRUE, class = "ws_bad_argument")
    expect_identical(e$argument, argument)
  }
  where(ws_key(model = list(a = 1, env = new.env())), "model",
        "`model$env` is an environment")
  where(ws_key(1, list(2, list(3, globalenv()))), "..2",
        "`..2[[2]][[2]]` is an environment")
  where(ws_key(x = structure(1, cache = new.env())), "x",
        "`attr(x, \"cache\")` is an environment")
  where(ws_key(x = list(`a b` = emptyenv())), "x",
        "`x$`a b`` is an environment")
  ptr <- warmstart:::C_ws_key$address
  stopifnot(typeof(ptr) == "externalptr")
  where(ws_key(p = list(ptr)), "p", "`p[[1]]` is an external pointer")
})

test_that("data.table's self-reference is left out", {
  skip_if_not_installed("data.table")
  dt <- data.table::data.table(a = 1:3, b = c(1.5, 2, 3))
  stopifnot(!is.null(attr(dt, ".internal.selfref")))
  dt2 <- data.table::copy(dt)
  expect_identical(ws_key(dt), ws_key(dt2))
  plain <- dt2
  attr(plain, ".internal.selfref") <- NULL
  expect_identical(ws_key(dt), ws_key(plain))
})

test_that("a fitted mgcv gam can be fingerprinted", {
  skip_if_not_installed("mgcv")
  set.seed(1)
  d <- data.frame(x = runif(100), z = runif(100))
  d$y <- sin(2 * pi * d$x) + d$z + rnorm(100, sd = 0.2)
  fit <- mgcv::gam(y ~ s(x) + z, data = d, method = "REML")
  again <- local(mgcv::gam(y ~ s(x) + z, data = d, method = "REML"))
  expect_identical(ws_key(fit), ws_key(again))
  expect_identical(ws_key(fit), ws_key(unserialize(serialize(fit, NULL))))
  d$y[1] <- d$y[1] + 1
  other <- mgcv::gam(y ~ s(x) + z, data = d, method = "REML")
  expect_false(ws_key(fit) == ws_key(other))
})

test_that("keys are pinned: the encoding does not change by accident", {
  # Computed independently (Python hashlib) from the encoding in ?ws_key.
  expect_identical(ws_key("a"),
                   "dcf8e0320ead68692eee74a62a8eb0ad8c54566833a1184ba868468dc49ea5b8")
  expect_identical(ws_key(model = "gam", data = as.raw(1:3), NA_character_),
                   "487f5b337358a6ad71aeae5526da31a960e6b27965703ed8df426314fb2aa5cc")
  expect_identical(ws_key(c(1L, 2L, -3L, NA)),
                   "aafb44ea07528cea854bd3d5bc1cec95001b796f4f2aef806fd9132695c094fb")
  # 1e300 from its bits: parsing it goes through long doubles, which
  # valgrind rounds differently.
  big <- readBin(as.raw(c(156, 117, 0, 136, 60, 228, 55, 126)), "double",
                 endian = "little")
  stopifnot(isTRUE(all.equal(big, 1e300)))
  expect_identical(ws_key(x = c(1.5, -0, NA, NaN, big)),
                   "c4daba2bb7d73a16eef4b3b301cba3e872ccc0207c2e5deee1389374cf6c68ec")
  expect_identical(ws_key(c(TRUE, FALSE, NA)),
                   "c6d305dd16b86dc37a2bb89870249d7cd6308fa328213808c115b0297af2c64d")
  expect_identical(ws_key(list(b = 1, a = "a")),
                   "cf44c2bdd57a86f74c752381c4f63655e1edb8348d73911ce198882b231359ee")
  expect_identical(ws_key(NULL),
                   "251be8a50e4d6c5de52f205e3b6fc6e2243fc87e182edfbbaabd14702079a63f")
  expect_identical(ws_key(data.frame(a = 1:3)),
                   "f1b1ecf51c0aa7c9c6188dddeebbf11f418ee1040efeffbd36cb20397a2707aa")
})

test_that("another R process computes the same keys", {
  code <- '
    library(warmstart)
    vals <- list(
      ws_key("a"),
      ws_key(x = c("b", NA), raw(2)),
      ws_key(f = y ~ s(x, k = 5) + z, data = data.frame(x = c(0.5, NA), z = 1:2)),
      ws_key(fun = function(a, b = 2) a * b, n = 1:1e5, l = list(TRUE, NaN, -0)),
      ws_key(sum, `+`, list(prod))
    )
    cat(unlist(vals))'
  rscript <- file.path(R.home("bin"), "Rscript")
  script <- tempfile(fileext = ".R")
  writeLines(code, script)
  withr::defer(unlink(script))
  out <- system2(rscript, c("--vanilla", shQuote(script)), stdout = TRUE)
  here <- c(
    ws_key("a"),
    ws_key(x = c("b", NA), raw(2)),
    ws_key(f = y ~ s(x, k = 5) + z, data = data.frame(x = c(0.5, NA), z = 1:2)),
    ws_key(fun = function(a, b = 2) a * b, n = 1:1e5, l = list(TRUE, NaN, -0)),
    ws_key(sum, `+`, list(prod))
  )
  expect_identical(out, paste(here, collapse = " "))
})
