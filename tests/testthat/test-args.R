# Bad input: an R error that names the argument, and nothing on disk changes.

expect_arg_error <- function(expr, arg, root) {
  before <- snapshot(root)
  e <- expect_error(expr, class = "ws_bad_argument")
  expect_identical(e$argument, arg)
  expect_identical(snapshot(root), before)
}

test_that("ws_open() checks every argument and creates nothing on error", {
  parent <- tempfile("args-")
  dir.create(parent)
  withr::defer(unlink(parent, recursive = TRUE))
  root <- file.path(parent, "store")
  expect_arg_error(ws_open(1), "root", parent)
  expect_arg_error(ws_open(NA_character_), "root", parent)
  expect_arg_error(ws_open(c(root, root)), "root", parent)
  expect_arg_error(ws_open(""), "root", parent)
  expect_arg_error(ws_open(root, size_budget = -1), "size_budget", parent)
  expect_arg_error(ws_open(root, size_budget = "1"), "size_budget", parent)
  expect_arg_error(ws_open(root, size_budget = NA), "size_budget", parent)
  expect_arg_error(ws_open(root, size_budget = c(1, 2)), "size_budget", parent)
  expect_arg_error(ws_open(root, ttl = -1), "ttl", parent)
  expect_arg_error(ws_open(root, ttl = NA_real_), "ttl", parent)
  expect_arg_error(ws_open(root, durable = NA), "durable", parent)
  expect_arg_error(ws_open(root, durable = "yes"), "durable", parent)
  expect_arg_error(ws_open(root, memory_cache = 1), "memory_cache", parent)
  expect_false(dir.exists(root))
  file <- file.path(parent, "a-file")
  writeLines("x", file)
  expect_arg_error(ws_open(file), "root", parent)
  expect_identical(readLines(file), "x")
})

test_that("ws_open() accepts Inf budget and creates the root with parents", {
  root <- file.path(tempfile("deep-"), "a", "b")
  withr::defer(unlink(dirname(dirname(root)), recursive = TRUE))
  st <- ws_open(root, size_budget = Inf, ttl = 0)
  expect_true(dir.exists(root))
  expect_s3_class(st, "ws_store")
  expect_output(print(st), "unlimited")
  expect_output(print(st), "never expires")
})

test_that("ws_save() checks every argument and writes nothing on error", {
  t <- temp_store()
  key <- key_for("args")
  ws_save(t$store, key, charToRaw("existing"))
  r <- t$root
  s <- t$store
  expect_arg_error(ws_save(list(), key, raw(1)), "store", r)
  expect_arg_error(ws_save(NULL, key, raw(1)), "store", r)
  expect_arg_error(ws_save(r, key, raw(1)), "store", r)
  expect_arg_error(ws_save(s, NA_character_, raw(1)), "key", r)
  expect_arg_error(ws_save(s, 1, raw(1)), "key", r)
  expect_arg_error(ws_save(s, c(key, key), raw(1)), "key", r)
  expect_arg_error(ws_save(s, toupper(key), raw(1)), "key", r)
  expect_arg_error(ws_save(s, "../../outside", raw(1)), "key", r)
  expect_arg_error(ws_save(s, strrep("a", 31), raw(1)), "key", r)
  expect_arg_error(ws_save(s, strrep("a", 129), raw(1)), "key", r)
  expect_arg_error(ws_save(s, paste0(substr(key, 1, 60), "/../"), raw(1)),
                   "key", r)
  expect_arg_error(ws_save(s, key), "payload", r)
  expect_arg_error(ws_save(s, key, raw(1), objective = "1"), "objective", r)
  expect_arg_error(ws_save(s, key, raw(1), objective = NA), "objective", r)
  expect_arg_error(ws_save(s, key, raw(1), objective = c(1, 2)), "objective", r)
  expect_arg_error(ws_save(s, key, raw(1), objective = list(1)), "objective", r)
  expect_arg_error(ws_save(s, key, raw(1), iteration = -1), "iteration", r)
  expect_arg_error(ws_save(s, key, raw(1), iteration = 1.5), "iteration", r)
  expect_arg_error(ws_save(s, key, raw(1), iteration = NA), "iteration", r)
  expect_arg_error(ws_save(s, key, raw(1), iteration = NA_integer_),
                   "iteration", r)
  expect_arg_error(ws_save(s, key, raw(1), iteration = "1"), "iteration", r)
  expect_arg_error(ws_save(s, key, raw(1), iteration = c(1, 2)), "iteration", r)
  expect_arg_error(ws_save(s, key, raw(1), iteration = Inf), "iteration", r)
  expect_arg_error(ws_save(s, key, raw(1), iteration = 2^60), "iteration", r)
  expect_arg_error(ws_save(s, key, raw(1), kind = "best"), "kind", r)
  expect_arg_error(ws_save(s, key, raw(1), kind = NA_character_), "kind", r)
  expect_arg_error(ws_save(s, key, raw(1), kind = c("final", "checkpoint")),
                   "kind", r)
  expect_arg_error(ws_save(s, key, raw(1), kind = 1), "kind", r)
  # Any name the Rust store can write is a run id; these are not.
  for (bad in c("", "../r1-2", "a/b", "r1.json", ".", "a\nb", "a\tb",
                strrep("a", 129))) {
    expect_arg_error(ws_save(s, key, raw(1), run_id = bad), "run_id", r)
  }
  expect_arg_error(ws_save(s, key, raw(1), run_id = NA_character_), "run_id", r)
  expect_arg_error(ws_save(s, key, raw(1), run_id = 1), "run_id", r)
  expect_identical(rawToChar(ws_lookup(s, key)$payload), "existing")
})

test_that("non-finite objectives are stored as absent", {
  t <- temp_store()
  for (o in list(NA_real_, NaN, Inf, -Inf)) {
    key <- key_for(paste("nonfinite", format(o)))
    ws_save(t$store, key, raw(1), objective = o)
    expect_identical(ws_lookup(t$store, key)$objective, NA_real_)
  }
  key <- key_for("integer objective")
  ws_save(t$store, key, raw(1), objective = 3L, iteration = 2L)
  got <- ws_lookup(t$store, key)
  expect_identical(got$objective, 3)
  expect_identical(got$iteration, 2)
})

test_that("lookups and the sweep check their arguments", {
  t <- temp_store()
  r <- t$root
  expect_arg_error(ws_lookup(list(), key_for("x")), "store", r)
  expect_arg_error(ws_lookup(t$store, "zz"), "key", r)
  expect_arg_error(ws_lookup(t$store, NA_character_), "key", r)
  expect_arg_error(ws_lookup_latest(t$store, c("a", "b")), "key", r)
  expect_arg_error(ws_lookup_latest("store", key_for("x")), "store", r)
  expect_arg_error(ws_evict(NULL), "store", r)
})

test_that("a store restored from a serialized copy gives a clear error", {
  t <- temp_store()
  restored <- unserialize(serialize(t$store, NULL))
  for (call in list(quote(ws_lookup(restored, key_for("x"))),
                    quote(ws_save(restored, key_for("x"), raw(1))))) {
    e <- expect_error(eval(call), class = "ws_bad_argument")
    expect_identical(e$argument, "store")
    # Not the message of a store that is not a store at all.
    expect_match(conditionMessage(e), "no longer open")
  }
  expect_output(print(restored), "closed")
})
