# Fitting the R ecosystem: listing, info, removal, printing, the cachem
# adapter (and memoise through it), and the default root.

test_that("ws_list() lists every entry with its fields, oldest first", {
  t <- temp_store()
  expect_identical(nrow(ws_list(t$store)), 0L)
  a <- key_for("list-a")
  b <- key_for("list-b")
  id1 <- ws_save(t$store, a, list(x = 1), objective = 2.5, iteration = 3,
                 kind = "final")
  warmstart:::ws_advance_time(t$store, 0.001)
  id2 <- ws_save(t$store, a, charToRaw("raw bytes"))
  warmstart:::ws_advance_time(t$store, 0.001)
  id3 <- ws_save(t$store, b, 1:10, objective = 1)
  l <- ws_list(t$store)
  expect_named(l, c("key", "run_id", "kind", "objective", "iteration",
                    "written", "bytes", "producer", "accessed"))
  expect_identical(l$producer, rep(paste("warmstart", packageVersion("warmstart")), 3))
  # Under the 0.3.122 semantics lookups record no access.
  ws_lookup(t$store, a)
  expect_true(all(is.na(ws_list(t$store)$accessed)))
  expect_identical(l$key, c(a, a, b))
  expect_identical(l$run_id, c(id1, id2, id3))
  expect_identical(l$kind, c("final", "checkpoint", "checkpoint"))
  expect_identical(l$objective, c(2.5, NA, 1))
  expect_identical(l$iteration, c(3, NA, NA))
  expect_s3_class(l$written, "POSIXct")
  expect_true(all(diff(as.numeric(l$written)) > 0))
  expect_identical(l$bytes[2], 9)
  expect_identical(l$bytes[1], ws_lookup(t$store, a)$bytes)
})

test_that("ws_list() does not list what a lookup would not return", {
  t <- temp_store(ttl = 60)
  key <- key_for("list-cleanup")
  ws_save(t$store, key, charToRaw("x"))
  writeLines("{not json", entry_files(key_dir(t, key), "\\.json$"))
  old <- key_for("list-expired")
  ws_save(t$store, old, charToRaw("y"))
  warmstart:::ws_advance_time(t$store, 61)
  expect_identical(nrow(ws_list(t$store)), 0L)
  expect_length(entry_files(key_dir(t, key)), 0)
})

test_that("ws_info() counts entries, keys and the bytes the budget counts", {
  t <- temp_store(size_budget = 10 * 1024^2, ttl = 3600)
  for (i in 1:3) ws_save(t$store, key_for("info-1"), raw(100 * i))
  ws_save(t$store, key_for("info-2"), raw(50))
  info <- ws_info(t$store)
  expect_identical(info$entries, 4L)
  expect_identical(info$keys, 2L)
  expect_identical(info$bytes, bytes_on_disk(t$root))
  expect_identical(info$size_budget, 10 * 1024^2)
  expect_identical(info$ttl, 3600)
  expect_identical(info$root, normalizePath(t$root))
  expect_output(print(info), "4 entries under 2 keys")
})

test_that("ws_remove() removes one key and nothing else", {
  skip_if_no_fork()
  t <- temp_store()
  gone <- key_for("remove-me")
  kept <- key_for("keep-me")
  ws_save(t$store, gone, charToRaw("a"))
  ws_save(t$store, gone, charToRaw("b"))
  ws_save(t$store, kept, charToRaw("c"))
  expect_identical(charToRaw("b"), ws_lookup_latest(t$store, gone)$payload)
  expect_identical(ws_remove(t$store, gone), 2)
  expect_null(ws_lookup(t$store, gone))
  expect_false(dir.exists(key_dir(t, gone)))
  expect_identical(rawToChar(ws_lookup(t$store, kept)$payload), "c")
  # A live writer's temp stays, and so does the dir it is in.
  sibling <- live_pid()
  ws_save(t$store, gone, charToRaw("d"))
  temp <- file.path(key_dir(t, gone),
                    sprintf("r%x-1.bin.tmp.%d.1.0", sibling, sibling))
  writeBin(charToRaw("in flight"), temp)
  expect_identical(ws_remove(t$store, gone), 1)
  expect_true(file.exists(temp))
  expect_identical(ws_remove(t$store, gone), 0)
  e <- expect_error(ws_remove(t$store, "nothex"), class = "ws_bad_argument")
  expect_identical(e$argument, "key")
  e <- expect_error(ws_remove(list(), gone), class = "ws_bad_argument")
  expect_identical(e$argument, "store")
})

test_that("a store prints its root, budget, TTL and contents", {
  t <- temp_store(size_budget = 2048, ttl = 7200)
  ws_save(t$store, key_for("print-1"), raw(10), kind = "final")
  out <- capture.output(print(t$store))
  expect_match(out[1], normalizePath(t$root), fixed = TRUE)
  expect_match(out[2], "1 entry under 1 key")
  expect_match(out[2], "of 2.0 KiB")
  expect_match(out[3], "2 hours")
  s <- capture.output(print(summary(t$store)))
  expect_true(any(grepl("0 checkpoint, 1 final", s)))
  expect_true(any(grepl("memory cache:", s)))
})

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

test_that("a chosen root wins; only the implicit default yields to checks", {
  home <- tempfile("home-")
  withr::defer(unlink(home, recursive = TRUE))
  dir_arg <- file.path(home, "from-argument")
  dir_opt <- file.path(home, "from-option")
  dir_env <- file.path(home, "from-env")
  root_of <- function(...) ws_info(ws_open(...))$root
  checking <- list(c(TESTTHAT = "true", `_R_CHECK_PACKAGE_NAME_` = NA),
                   c(TESTTHAT = NA, `_R_CHECK_PACKAGE_NAME_` = "pkg"))
  not_checking <- c(TESTTHAT = NA, `_R_CHECK_PACKAGE_NAME_` = NA)
  for (mode in c(checking, list(not_checking))) {
    withr::local_envvar(mode)
    # The argument, then the option, then the variable: in a check too.
    withr::with_options(list(warmstart.dir = dir_opt), {
      withr::with_envvar(c(WARMSTART_DIR = dir_env), {
        expect_identical(root_of(dir_arg), normalizePath(dir_arg))
        expect_identical(root_of(), normalizePath(dir_opt))
      })
    })
    withr::with_envvar(c(WARMSTART_DIR = dir_env), {
      expect_identical(root_of(), normalizePath(dir_env))
    })
  }
  # Nothing chosen (an empty variable is not a choice): during a check a
  # directory under tempdir(), never the user's cache directory.
  user_cache <- file.path(home, "cache")
  for (mode in checking) {
    withr::with_envvar(c(mode, WARMSTART_DIR = "", R_USER_CACHE_DIR = user_cache), {
      expect_identical(warmstart:::default_root(),
                       file.path(tempdir(), "warmstart"))
    })
  }
  expect_false(file.exists(user_cache))
  withr::with_envvar(c(not_checking, WARMSTART_DIR = NA,
                       R_USER_CACHE_DIR = user_cache), {
    expect_identical(warmstart:::default_root(),
                     tools::R_user_dir("warmstart", "cache"))
    expect_identical(warmstart:::default_root(),
                     file.path(user_cache, "R", "warmstart"))
  })
  withr::with_options(list(warmstart.dir = 3), {
    e <- expect_error(ws_open(), class = "ws_bad_argument")
    expect_identical(e$argument, "warmstart.dir")
  })
})
