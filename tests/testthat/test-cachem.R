# The cachem adapter, ws_cachem() (R/cachem.R), and memoise through it.

test_that("ws_cachem() has the cachem interface", {
  t <- temp_store()
  cache <- ws_cachem(t$store)
  expect_s3_class(cache, "cachem")
  for (f in c("get", "set", "exists", "remove", "reset", "keys", "size",
              "prune", "info")) {
    expect_true(is.function(cache[[f]]), label = f)
  }
  expect_s3_class(cache$get("absent"), "key_missing")
  expect_false(cache$exists("absent"))
  expect_identical(cache$size(), 0L)
  cache$set("a-key_1", list(x = 1:3))
  cache$set("raw", as.raw(1:5))
  expect_identical(cache$get("a-key_1"), list(x = 1:3))
  expect_identical(cache$get("raw"), as.raw(1:5))
  expect_true(cache$exists("raw"))
  expect_setequal(cache$keys(), c("a-key_1", "raw"))
  expect_identical(cache$size(), 2L)
  # set() replaces: one entry per key remains.
  cache$set("raw", "replaced")
  expect_identical(cache$get("raw"), "replaced")
  expect_identical(nrow(ws_list(t$store)), 2L)
  cache$remove("raw")
  expect_false(cache$exists("raw"))
  expect_identical(cache$keys(), "a-key_1")
  # reset() removes the cache's entries only.
  other <- key_for("not-a-cachem-entry")
  ws_save(t$store, other, charToRaw("mine"))
  cache$reset()
  expect_identical(cache$keys(), character())
  expect_identical(rawToChar(ws_lookup(t$store, other)$payload), "mine")
  expect_identical(ws_cachem(t$store, missing = NA)$get("nope"), NA)
  expect_identical(cache$get("nope", missing = "default"), "default")
  for (bad in list(quote(cache$get(1)), quote(cache$set(NA_character_, 1)),
                   quote(cache$set(strrep("k", 2000), 1)))) {
    e <- expect_error(eval(bad), class = "ws_bad_argument")
    expect_identical(e$argument, "key")
  }
  expect_output(print(cache), "<ws_cachem> 0 keys")
})

test_that("two caches on one root see each other's values", {
  t <- temp_store()
  a <- ws_cachem(t$store)
  b <- ws_cachem(ws_open(t$root))
  a$set("shared", 1)
  expect_identical(b$get("shared"), 1)
  b$set("shared", 2)
  expect_identical(a$get("shared"), 2)
})

test_that("memoise works on a ws_cachem() cache", {
  skip_if_not_installed("memoise")
  t <- temp_store()
  calls <- 0
  f <- function(x) {
    calls <<- calls + 1
    x * 2
  }
  mf <- memoise::memoise(f, cache = ws_cachem(t$store))
  expect_identical(mf(21), 42)
  expect_identical(mf(21), 42)
  expect_identical(calls, 1)
  expect_true(memoise::has_cache(mf)(21))
  # A second memoised function on the same store: a new process, in effect.
  mf2 <- memoise::memoise(f, cache = ws_cachem(ws_open(t$root)))
  expect_identical(mf2(21), 42)
  expect_identical(calls, 1)
  expect_true(memoise::forget(mf))
  expect_false(memoise::has_cache(mf)(21))
  expect_identical(mf(21), 42)
  expect_identical(calls, 2)
})
