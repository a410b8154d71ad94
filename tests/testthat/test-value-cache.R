# The value cache: a hot lookup returns the cached R value itself; caches
# are validated by device, inode, size and nanosecond times (2), and never
# serve a stale or expired entry.

test_that("a hot lookup returns the cached object without copying it", {
  t <- temp_store()
  key <- key_for("hot")
  ws_save(t$store, key, as.raw(1:200))
  settle()
  first <- ws_lookup(t$store, key)
  second <- ws_lookup(t$store, key)
  expect_true(warmstart:::ws_same_object(first$payload, second$payload))
  # R objects too: the unserialized value is what is cached.
  key2 <- key_for("hot-object")
  ws_save(t$store, key2, list(a = 1:10, b = "x"))
  settle()
  o1 <- ws_lookup(t$store, key2)$payload
  o2 <- ws_lookup(t$store, key2)$payload
  expect_true(warmstart:::ws_same_object(o1, o2))
  expect_identical(o1, list(a = 1:10, b = "x"))
})

test_that("changing a returned payload does not change the cached one", {
  t <- temp_store()
  key <- key_for("immutable")
  ws_save(t$store, key, as.raw(1:10))
  settle()
  p <- ws_lookup(t$store, key)$payload
  p[1] <- as.raw(99)
  expect_identical(ws_lookup(t$store, key)$payload, as.raw(1:10))
  obj_key <- key_for("immutable-list")
  ws_save(t$store, obj_key, list(a = 1, b = list(c = 2)))
  settle()
  o <- ws_lookup(t$store, obj_key)$payload
  o$b$c <- 3
  expect_identical(ws_lookup(t$store, obj_key)$payload$b$c, 2)
})

test_that("a lookup never serves a replaced entry whose mtimes look unchanged", {
  # What a coarse-timestamp filesystem does: new files with the same size
  # and the same mtime as the cached ones. Only the inode (and ctime) tell.
  t <- temp_store()
  key <- key_for("coarse")
  id <- ws_save(t$store, key, charToRaw("aaaa"), objective = 1)
  settle()
  expect_identical(rawToChar(ws_lookup(t$store, key)$payload), "aaaa")
  expect_identical(rawToChar(ws_lookup(t$store, key)$payload), "aaaa")

  # A valid entry with the same run id, payload size and meta size: the
  # cached meta with the checksum of other bytes of the same length (taken
  # from a store that saved them).
  other <- temp_store()
  dir <- key_dir(t, key)
  files <- file.path(dir, paste0(id, c(".bin", ".json")))
  ws_save(other$store, key, charToRaw("bbbb"), objective = 1)
  other_meta <- entry_files(key_dir(other, key), "\\.json$")
  read_text <- function(f) readChar(f, file.size(f), useBytes = TRUE)
  checksum <- function(text) sub('.*"checksum_hex":"([0-9a-f]{64})".*', "\\1", text)
  meta <- read_text(files[2])
  crafted_meta <- sub(checksum(meta), checksum(read_text(other_meta)), meta,
                      fixed = TRUE)
  # Its own meta checksum no longer matches: swap it for an unknown field
  # of the same length (a meta without one is read as the Rust store's).
  crafted_meta <- sub('"meta_sha256":"[0-9a-f]{64}"',
                      sprintf('"zz":"%s"', strrep("p", 73)), crafted_meta)
  # And so must our format field, which only a meta with our digest has.
  crafted_meta <- sub('"payload_format":', '"qqqqqqqqqqqqqq":', crafted_meta,
                      fixed = TRUE)
  expect_identical(nchar(crafted_meta), nchar(meta))
  expect_false(identical(crafted_meta, meta))
  staged_dir <- tempfile("staged-")
  dir.create(staged_dir)
  withr::defer(unlink(staged_dir, recursive = TRUE))
  crafted <- file.path(staged_dir, basename(files))
  writeBin(charToRaw("bbbb"), crafted[1])
  writeChar(crafted_meta, crafted[2], eos = NULL, useBytes = TRUE)
  # `touch -r` copies timestamps to the nanosecond; Sys.setFileTime() does not.
  if (Sys.which("touch") == "") skip_no_tool("touch(1)")
  marks <- tempfile(c("bin", "json", "dir"))
  file.create(marks)
  withr::defer(unlink(marks))
  copy_times <- function(from, to) {
    stopifnot(system2("touch", c("-r", shQuote(from), shQuote(to))) == 0)
  }
  copy_times(files[1], marks[1])
  copy_times(files[2], marks[2])
  copy_times(dir, marks[3])
  before <- file.info(files)
  for (i in 1:2) {
    staged <- paste0(files[i], ".staged")
    file.copy(crafted[i], staged)
    file.rename(staged, files[i])
    copy_times(marks[i], files[i])
  }
  copy_times(marks[3], dir)
  after <- file.info(files)
  expect_identical(after$mtime, before$mtime)
  expect_identical(after$size, before$size)
  settle()
  expect_identical(rawToChar(ws_lookup(t$store, key)$payload), "bbbb")
})

test_that("a better entry saved by another process is seen at once", {
  skip_if_no_fork()
  t <- temp_store()
  key <- key_for("cross-process")
  ws_save(t$store, key, charToRaw("mine"), objective = 2)
  settle()
  expect_identical(rawToChar(ws_lookup(t$store, key)$payload), "mine")
  expect_identical(rawToChar(ws_lookup(t$store, key)$payload), "mine")
  job <- parallel::mcparallel({
    ws_save(ws_open(t$root), key, charToRaw("theirs"), objective = 1)
    TRUE
  })
  expect_true(parallel::mccollect(job)[[1]])
  expect_identical(rawToChar(ws_lookup(t$store, key)$payload), "theirs")
})

test_that("a hot lookup returns the entry it built, which callers cannot change", {
  t <- temp_store()
  key <- key_for("hot-entry")
  ws_save(t$store, key, as.raw(1:10), objective = 3)
  settle()
  first <- ws_lookup(t$store, key)
  second <- ws_lookup(t$store, key)
  expect_true(warmstart:::ws_same_object(first, second))
  # Every way a caller changes what it got copies it first.
  first$objective <- 99
  first$payload[1] <- as.raw(99)
  second[["kind"]] <- "changed"
  class(second) <- NULL
  attr(second, "extra") <- TRUE
  third <- ws_lookup(t$store, key)
  expect_s3_class(third, "ws_entry")
  expect_identical(third$objective, 3)
  expect_identical(third$payload, as.raw(1:10))
  expect_identical(third$kind, "checkpoint")
  expect_null(attr(third, "extra"))
  # A value that needs decoding at each hit (it holds an environment) is
  # never served as a prebuilt entry.
  # (Its parent is the empty env: new.env()'s would be this test's frame,
  # whose enclosures serialize to more than the 1 MiB budget with some
  # testthat versions, and the entry was swept before the lookups, both
  # NULL and so "the same".)
  env_key <- key_for("hot-entry-env")
  ws_save(t$store, env_key, list(e = new.env(parent = emptyenv())))
  settle()
  a <- ws_lookup(t$store, env_key)
  b <- ws_lookup(t$store, env_key)
  expect_true(is.environment(a$payload$e))
  expect_true(is.environment(b$payload$e))
  expect_false(warmstart:::ws_same_object(a, b))
  expect_false(identical(a$payload$e, b$payload$e))
})

test_that("a hot row chosen under one handle's semantics is not served to another's", {
  t <- temp_store()
  key <- key_for("hot-semantics")
  # Under the 0.3.122 rule the lower objective wins; under "access" a Final
  # beats any checkpoint.
  ws_save(t$store, key, charToRaw("final"), objective = 5, kind = "final")
  ws_save(t$store, key, charToRaw("checkpoint"), objective = 1,
          kind = "checkpoint")
  settle()
  expect_identical(rawToChar(ws_lookup(t$store, key)$payload), "checkpoint")
  expect_identical(rawToChar(ws_lookup(t$store, key)$payload), "checkpoint")
  access <- ws_open(t$root, semantics = "access")
  got <- .Call(warmstart:::C_ws_lookup, access, key, FALSE, FALSE, FALSE)
  expect_identical(rawToChar(got$payload), "final")
})

test_that("a save through another handle invalidates this handle's hot entry", {
  t <- temp_store()
  other <- ws_open(t$root)
  key <- key_for("two-handles")
  ws_save(t$store, key, charToRaw("old"))
  settle()
  expect_identical(rawToChar(ws_lookup_latest(t$store, key)$payload), "old")
  ws_save(other, key, charToRaw("new"))
  expect_identical(rawToChar(ws_lookup_latest(t$store, key)$payload), "new")
})

test_that("the hot path re-checks the TTL", {
  t <- temp_store(ttl = 60)
  key <- key_for("hot-ttl")
  ws_save(t$store, key, charToRaw("x"))
  settle()
  e1 <- ws_lookup(t$store, key)
  e2 <- ws_lookup(t$store, key)
  expect_true(warmstart:::ws_same_object(e1$payload, e2$payload))
  warmstart:::ws_advance_time(t$store, 61)
  expect_null(ws_lookup(t$store, key))
  expect_length(entry_files(key_dir(t, key)), 0)
})

test_that("an expired winner gives way to a later valid entry", {
  t <- temp_store(ttl = 60)
  key <- key_for("expired-winner")
  ws_save(t$store, key, charToRaw("old-best"), objective = 1)
  warmstart:::ws_advance_time(t$store, 40)
  ws_save(t$store, key, charToRaw("newer-worse"), objective = 5)
  settle()
  expect_identical(rawToChar(ws_lookup(t$store, key)$payload), "old-best")
  warmstart:::ws_advance_time(t$store, 30)
  expect_identical(rawToChar(ws_lookup(t$store, key)$payload), "newer-worse")
})

test_that("memory_cache = FALSE reads from disk every time", {
  warmstart:::ws_value_cache_clear()
  t <- temp_store(memory_cache = FALSE)
  key <- key_for("no-cache")
  ws_save(t$store, key, as.raw(1:100))
  settle()
  a <- ws_lookup(t$store, key)$payload
  b <- ws_lookup(t$store, key)$payload
  expect_identical(a, b)
  expect_false(warmstart:::ws_same_object(a, b))
  expect_identical(warmstart:::ws_value_cache_usage()$entries, 0)
})

test_that("the process-wide cache holds at most 128 entries", {
  warmstart:::ws_value_cache_clear()
  t <- temp_store()
  keys <- vapply(1:140, function(i) key_for(paste0("bound", i)), "")
  for (k in keys) ws_save(t$store, k, as.raw(1:10))
  settle()
  for (k in keys) ws_lookup(t$store, k)
  usage <- warmstart:::ws_value_cache_usage()
  expect_identical(usage$entries, 128)
  expect_identical(usage$bytes, 128 * 10)
})

test_that("stores on different roots never share cached entries", {
  a <- temp_store()
  b <- temp_store()
  key <- key_for("same-key")
  ws_save(a$store, key, charToRaw("in-a"))
  ws_save(b$store, key, charToRaw("in-b"))
  settle()
  for (i in 1:2) {
    expect_identical(rawToChar(ws_lookup(a$store, key)$payload), "in-a")
    expect_identical(rawToChar(ws_lookup(b$store, key)$payload), "in-b")
  }
})

test_that("the cache's bounds come from options: 0 entries caches nothing, a lower bound evicts", {
  warmstart:::ws_value_cache_clear()
  withr::defer({
    .Call(warmstart:::C_ws_value_cache_limits, 128, 256 * 1024^2) # the defaults
    warmstart:::ws_value_cache_clear()
  })
  t <- temp_store()
  keys <- vapply(1:5, function(i) key_for(paste0("limits", i)), "")
  for (k in keys) ws_save(t$store, k, as.raw(1:10))
  settle()
  for (k in keys) ws_lookup(t$store, k)
  expect_identical(warmstart:::ws_value_cache_usage()$entries, 5)
  # Lowering the bound drops the least recently used rows at once.
  withr::with_options(list(warmstart.cache_max_entries = 2), ws_open(t$root))
  expect_identical(warmstart:::ws_value_cache_usage()$entries, 2)
  expect_identical(rawToChar(ws_lookup(t$store, keys[1])$payload),
                   rawToChar(as.raw(1:10)))
  # With no room, lookups still work and nothing is kept.
  withr::with_options(list(warmstart.cache_max_entries = 0), ws_open(t$root))
  expect_identical(warmstart:::ws_value_cache_usage()$entries, 0)
  a <- ws_lookup(t$store, keys[5])$payload
  b <- ws_lookup(t$store, keys[5])$payload
  expect_identical(a, as.raw(1:10))
  expect_false(warmstart:::ws_same_object(a, b))
  expect_identical(warmstart:::ws_value_cache_usage()$entries, 0)
  # A value larger than the byte bound is not kept either.
  withr::with_options(list(warmstart.cache_max_bytes = 5), ws_open(t$root))
  ws_lookup(t$store, keys[4])
  expect_identical(warmstart:::ws_value_cache_usage()$entries, 0)
})
