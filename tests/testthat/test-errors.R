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

test_that("ws_open() fails with the errno of what stopped it, and creates nothing", {
  skip_on_os("windows") # file.symlink
  base <- withr::local_tempdir("open-")
  # A link to nowhere: its target is not created.
  dangling <- file.path(base, "dangling")
  file.symlink(file.path(base, "nowhere"), dangling)
  e <- expect_error(ws_open(dangling), class = "ws_io_error")
  expect_identical(e$code, "ENOENT")
  expect_identical(e$path, dangling)
  expect_false(file.exists(file.path(base, "nowhere")))
  # A loop of links.
  loop <- file.path(base, "loop")
  file.symlink(loop, loop)
  e <- expect_error(ws_open(loop), class = "ws_io_error")
  expect_identical(e$code, "ELOOP")
  expect_setequal(list.files(base, all.files = TRUE, no.. = TRUE),
                  c("dangling", "loop"))
})

test_that("a file where the root should be is ENOTDIR, and stays as it was", {
  base <- withr::local_tempdir("open-file-")
  # Put there after ws_open()'s own check (the C core checks again).
  file <- file.path(base, "a-file")
  writeLines("x", file)
  e <- expect_error(.Call(warmstart:::C_ws_open, file, 1024, 60, TRUE, TRUE,
                          "0.3.122", "warmstart", 0L, NULL),
                    class = "ws_io_error")
  expect_identical(e$code, "ENOTDIR")
  expect_identical(readLines(file), "x")
  expect_setequal(list.files(base, all.files = TRUE, no.. = TRUE), "a-file")
})

test_that("ws_open() reports a root, or a parent of it, it may not create", {
  base <- normalizePath(withr::local_tempdir("open-eacces-"))
  writeLines("x", file.path(base, "a-file"))
  cases <- list(
    # The root itself.
    list(root = file.path(base, "store"), fault = "mkdir:%s/store:1+:EACCES",
         code = "EACCES"),
    # A parent in the chain it creates.
    list(root = file.path(base, "a", "b", "c"), fault = "mkdir:%s/a:1+:EACCES",
         code = "EACCES"),
    # A parent that turns out to be a file, once the root's own mkdir said
    # a parent is missing (as when a sibling made that file meanwhile).
    list(root = file.path(base, "a-file", "x"), fault = "mkdir:%s/a-file/x:1:ENOENT",
         code = "ENOTDIR"))
  for (case in cases) {
    r <- run_shimmed(sprintf("catch(ws_open(%s))", lit(case$root)),
                     faults = sprintf(case$fault, base))$result
    expect_true("ws_io_error" %in% error_class(r), label = case$root)
    expect_identical(error_code(r), case$code)
    expect_identical(r$path, case$root)
  }
  expect_setequal(list.files(base, all.files = TRUE, no.. = TRUE), "a-file")
})

test_that("paths too long for the system are ENAMETOOLONG, never a shortened path", {
  base <- normalizePath(withr::local_tempdir("long-"))
  e <- expect_error(ws_open(file.path(base, strrep("a", 5000))), class = "ws_io_error")
  expect_identical(e$code, "ENAMETOOLONG")
  # A root whose key dirs' paths would pass PATH_MAX (4096).
  deep <- function(base, length, leaf) {
    path <- base
    while (nchar(path) < length - 201) path <- file.path(path, strrep("d", 200))
    file.path(path, strrep(leaf, length - nchar(path) - 1))
  }
  root <- deep(base, 4060, "e")
  st <- ws_open(root)
  key <- key_for("long")
  for (call in list(quote(ws_save(st, key, raw(1))), quote(ws_lookup(st, key)),
                    quote(ws_lookup_latest(st, key)), quote(ws_remove(st, key)))) {
    e <- expect_error(eval(call), class = "ws_io_error")
    expect_identical(e$code, "ENAMETOOLONG")
  }
  expect_identical(nrow(ws_list(st)), 0L)
  expect_identical(list.files(root, all.files = TRUE, no.. = TRUE, recursive = TRUE),
                   character())
  # A root whose key dirs fit but whose entries' full paths do not: a
  # store that opens files relative to the key dir may save there; one
  # that builds full paths must fail. Either way, nothing shortened.
  root2 <- deep(base, 3990, "f")
  st2 <- ws_open(root2)
  saved <- tryCatch(ws_save(st2, key, as.raw(1:3)), ws_io_error = function(e) e)
  if (inherits(saved, "ws_io_error")) {
    expect_identical(saved$code, "ENAMETOOLONG")
    expect_null(ws_lookup(st2, key))
    expect_identical(list.files(root2, all.files = TRUE, no.. = TRUE, recursive = TRUE),
                     character())
  } else {
    expect_identical(ws_lookup(st2, key)$payload, as.raw(1:3))
    expect_identical(sort(list.files(file.path(root2, key))),
                     paste0(saved, c(".bin", ".json")))
  }
})

test_that("a sweep or listing of a root that cannot be read is a ws_io_error; lookups go on", {
  t <- temp_store()
  key <- key_for("unreadable-root")
  ws_save(t$store, key, charToRaw("x"))
  root <- ws_info(t$store)$root
  r <- run_shimmed(c(
    sprintf("s <- ws_open(%s)", lit(root)),
    "list(evict = catch(ws_evict(s)), verify = catch(ws_evict(s, verify = TRUE)),",
    "     list = catch(ws_list(s)),",
    sprintf("     lookup = rawToChar(ws_lookup(s, %s)$payload))", lit(key))),
    faults = sprintf("opendir:%s:1+:EACCES", root))$result
  for (what in c("evict", "verify", "list")) {
    expect_true("ws_io_error" %in% error_class(r[[what]]), label = what)
    expect_identical(error_code(r[[what]]), "EACCES", label = what)
    expect_identical(r[[what]]$path, root, label = what)
  }
  expect_identical(r$lookup, "x")
  # A root removed under an open store: the same, with ENOENT.
  unlink(t$root, recursive = TRUE)
  e <- expect_error(ws_evict(t$store), class = "ws_io_error")
  expect_identical(e$code, "ENOENT")
  expect_identical(e$path, root)
})
