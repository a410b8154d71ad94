test_that("keys are 64 lowercase hex characters", {
  expect_match(ws_key("a"), "^[0-9a-f]{64}$")
  expect_match(ws_key(), "^[0-9a-f]{64}$")
})

test_that("framing is unambiguous", {
  expect_false(ws_key("ab", "c") == ws_key("a", "bc"))
  expect_false(ws_key(c("ab", "c")) == ws_key(c("a", "bc")))
  expect_false(ws_key(c("a", "b")) == ws_key("a", "b"))
  expect_false(ws_key("a", "b") == ws_key("b", "a"))
  expect_false(ws_key("") == ws_key())
  expect_false(ws_key(character()) == ws_key())
})

test_that("type, names and NA are part of the key", {
  expect_false(ws_key("a") == ws_key(charToRaw("a")))
  expect_false(ws_key(a = "x") == ws_key(b = "x"))
  expect_false(ws_key(a = "x") == ws_key("x"))
  expect_false(ws_key(NA_character_) == ws_key("NA"))
  expect_identical(ws_key(a = "x", "y"), ws_key(a = "x", "y"))
})

test_that("strings are hashed as UTF-8 whatever their declared encoding", {
  utf8 <- "caf\u00e9"
  latin1 <- iconv(utf8, "UTF-8", "latin1")
  Encoding(latin1) <- "latin1"
  expect_false(identical(charToRaw(utf8), charToRaw(latin1)))
  expect_identical(ws_key(latin1), ws_key(utf8))
})

test_that("keys are pinned: the encoding does not change by accident", {
  # Computed independently (Python hashlib) from the encoding in ?ws_key.
  expect_identical(ws_key("a"),
                   "dcf8e0320ead68692eee74a62a8eb0ad8c54566833a1184ba868468dc49ea5b8")
  expect_identical(ws_key(model = "gam", data = as.raw(1:3), NA_character_),
                   "487f5b337358a6ad71aeae5526da31a960e6b27965703ed8df426314fb2aa5cc")
})

test_that("another R process computes the same keys", {
  rscript <- file.path(R.home("bin"), "Rscript")
  out <- system2(rscript, c("-e", shQuote(
    'cat(warmstart::ws_key("a"), warmstart::ws_key(x = c("b", NA), raw(2)))')),
    stdout = TRUE)
  expect_identical(out, paste(ws_key("a"), ws_key(x = c("b", NA), raw(2))))
})

test_that("unsupported values are an error naming the argument", {
  expect_error(ws_key(1), "`...` element 1")
  expect_error(ws_key("a", list()), "`...` element 2")
  expect_error(ws_key(c(a = "x")), "attributes")
})
