# Errors are classed conditions with fields, checked here by class and
# field, never by message text (strerror() changes with the locale).

test_that("bad input is a ws_bad_argument naming the argument", {
  t <- temp_store()
  e <- expect_error(ws_lookup(t$store, "xyz"), class = "ws_bad_argument")
  expect_identical(e$argument, "key")
  expect_s3_class(e, "ws_error")
  e <- expect_error(ws_save(t$store, key_for("a"), as.raw(1), kind = "done"),
                    class = "ws_bad_argument")
  expect_identical(e$argument, "kind")
  e <- expect_error(ws_lookup("not a store", key_for("a")),
                    class = "ws_bad_argument")
  expect_identical(e$argument, "store")
  e <- expect_error(ws_key(new.env()), class = "ws_bad_argument")
  expect_identical(e$argument, "..1")
})

test_that("file system failures are ws_io_error with errno, code and path", {
  blocker <- tempfile()
  writeLines("a file", blocker)
  on.exit(unlink(blocker))
  root <- file.path(blocker, "store")
  e <- expect_error(ws_open(root), class = "ws_io_error")
  expect_identical(e$code, "ENOTDIR")
  expect_true(is.integer(e$errno) && e$errno > 0L)
  expect_identical(e$path, root)
  expect_identical(deparse(conditionCall(e)[[1L]]), "ws_open")
})
