# I/O failures and crashes at exact points of the write sequence, injected
# instead of hoped for; and a real read-only and a real full file system
# (tmpfs in a user namespace).

points <- c("after_mkdir", "mid_bin_write", "before_bin_rename",
            "before_meta_rename")

test_that("a full disk at any step fails the save, leaves no temps, keeps entries", {
  t <- temp_store()
  key <- key_for("enospc")
  id <- ws_save(t$store, key, charToRaw("earlier"), objective = 1)
  for (p in points) {
    warmstart:::ws_inject_fault(t$store, p, "enospc")
    e <- expect_error(ws_save(t$store, key, charToRaw("later"), objective = 0),
                      class = "ws_io_error")
    expect_identical(e$code, "ENOSPC")
    expect_identical(temp_files(t$root), character())
    expect_identical(basename(entry_files(key_dir(t, key))),
                     paste0(id, c(".bin", ".json")))
    expect_identical(rawToChar(ws_lookup(t$store, key)$payload), "earlier")
  }
})

test_that("a failed overwrite before its payload is promoted keeps the entry", {
  t <- temp_store()
  key <- key_for("enospc-overwrite")
  id <- ws_save(t$store, key, charToRaw("v1"), objective = 1)
  for (p in c("mid_bin_write", "before_bin_rename")) {
    warmstart:::ws_inject_fault(t$store, p, "enospc")
    e <- expect_error(ws_save(t$store, key, charToRaw("v2"), run_id = id),
                      class = "ws_io_error")
    expect_identical(e$code, "ENOSPC")
    expect_identical(rawToChar(ws_lookup(t$store, key)$payload), "v1")
  }
  # After the payload is promoted the old entry cannot be kept, but it is
  # never returned wrong: the lookup finds nothing rather than v1's meta
  # with v2's bytes.
  warmstart:::ws_inject_fault(t$store, "before_meta_rename", "enospc")
  e <- expect_error(ws_save(t$store, key, charToRaw("v2"), run_id = id),
                    class = "ws_io_error")
  expect_identical(e$code, "ENOSPC")
  expect_null(ws_lookup(t$store, key))
  expect_identical(temp_files(t$root), character())
})

test_that("a failure after the entry is visible says so", {
  t <- temp_store()
  key <- key_for("late-failure")
  warmstart:::ws_inject_fault(t$store, "after_meta_rename", "enospc")
  e <- expect_error(ws_save(t$store, key, charToRaw("x")), class = "ws_io_error")
  expect_identical(e$code, "ENOSPC")
  expect_identical(e$path, normalizePath(key_dir(t, key), winslash = "/"))
  expect_identical(rawToChar(ws_lookup(t$store, key)$payload), "x")
})

test_that("a writer killed at any step leaves nothing a lookup returns wrong", {
  skip_if_no_fork()
  t <- temp_store()
  key <- key_for("crash")
  ws_save(t$store, key, charToRaw("before-crash"), objective = 5)
  for (p in c(points, "after_meta_rename")) {
    job <- parallel::mcparallel({
      st <- ws_open(t$root)
      warmstart:::ws_inject_fault(st, p, "exit")
      ws_save(st, key, charToRaw(paste("crashed at", p)), objective = 1)
      "not reached"
    }, silent = TRUE)
    # The child died at the fault point: it never delivers a result.
    expect_warning(res <- parallel::mccollect(job), "did not deliver")
    wait_gone(job$pid)
    expect_null(res[[1]])
    got <- ws_lookup(t$store, key)
    if (p == "after_meta_rename") {
      # Both renames happened before the crash: the new entry is whole.
      expect_identical(rawToChar(got$payload), paste("crashed at", p))
    } else {
      expect_identical(rawToChar(got$payload), "before-crash")
    }
    ws_evict(t$store)
    expect_identical(temp_files(t$root), character())
    files <- basename(entry_files(key_dir(t, key)))
    expect_setequal(sub("\\.bin$", "", grep("\\.bin$", files, value = TRUE)),
                    sub("\\.json$", "", grep("\\.json$", files, value = TRUE)))
  }
})

test_that("on a read-only file system lookups work and saves fail with EROFS", {
  root <- tempfile("ro-")
  dir.create(root)
  withr::defer(unlink(root, recursive = TRUE))
  setup <- c(
    sprintf("root <- %s", lit(root)),
    "s <- ws_open(root)",
    "ws_save(s, ws_key('kept'), charToRaw('kept'), objective = 1)",
    "ws_save(s, ws_key('bad'), charToRaw('good'))",
    "bin <- list.files(file.path(root, ws_key('bad')), '[.]bin$', full.names = TRUE)",
    "writeBin(charToRaw('evil'), bin)",
    "files_under(root)")
  read_only <- c(
    sprintf("root <- %s", lit(root)),
    "ro <- ws_open(root)",
    "k <- ws_key('kept')",
    "list(best = rawToChar(ws_lookup(ro, k)$payload),",
    "     latest = rawToChar(ws_lookup_latest(ro, k)$payload),",
    "     bad = ws_lookup(ro, ws_key('bad')),",
    "     save = catch(ws_save(ro, k, charToRaw('new'))),",
    "     save_new_key = catch(ws_save(ro, ws_key('new'), charToRaw('new'))),",
    "     open_new_root = catch(ws_open(file.path(root, 'sub'))),",
    "     evict = catch(ws_evict(ro)$entries),",
    "     verify = catch(ws_evict(ro, verify = TRUE)$entries),",
    "     again = rawToChar(ws_lookup(ro, k)$payload),",
    "     files = files_under(root))")
  r <- in_mount_namespace(c(
    # mode=0700: a fresh tmpfs is world-writable (1777), which a store refuses.
    sprintf("mount -t tmpfs -o size=4m,mode=0700 tmpfs %s", shQuote(root)),
    "rscript setup",
    sprintf("mount -o remount,ro %s", shQuote(root)),
    "rscript read_only"), list(setup = setup, read_only = read_only))
  ro <- r$read_only
  expect_identical(ro$best, "kept")
  expect_identical(ro$latest, "kept")
  # A corrupt entry cannot be cleaned up here, and is still never returned.
  expect_null(ro$bad)
  for (what in c("save", "save_new_key", "open_new_root")) {
    expect_true("ws_io_error" %in% error_class(ro[[what]]), label = what)
    expect_identical(error_code(ro[[what]]), "EROFS", label = what)
  }
  # Sweeps that can remove nothing do not fail, and count what they keep.
  expect_identical(ro$evict, 2)
  expect_type(ro$verify, "double")
  expect_identical(ro$again, "kept")
  expect_identical(ro$files, r$setup)
})

test_that("on a full file system a save fails with ENOSPC, leaves no temps, keeps every earlier entry", {
  root <- tempfile("full-")
  dir.create(root)
  withr::defer(unlink(root, recursive = TRUE))
  # Saves of 100 KiB under new keys until one fails; then one that fills
  # exactly what is left (its meta no longer fits); then, on a file system
  # out of inodes, a save that cannot make its key dir or its temps.
  fill <- function(what) c(
    sprintf("root <- %s", lit(what)),
    "s <- ws_open(root)",
    "saved <- list(); err <- NULL",
    "for (i in 1:200) {",
    "  k <- ws_key('fill', i)",
    "  p <- as.raw(rep(i %% 256, 100 * 1024))",
    "  r <- catch(ws_save(s, k, p, objective = i))",
    "  if (is.list(r)) { err <- r; break }",
    "  saved[[k]] <- p",
    "}",
    "avail <- as.numeric(system2('df', c('-B1', '--output=avail', root), stdout = TRUE)[2])",
    "exact <- if (avail > 0) catch(ws_save(s, ws_key('exact'), raw(avail))) else NULL",
    "# What is left but a page for the meta: the disk is then full.",
    "avail <- as.numeric(system2('df', c('-B1', '--output=avail', root), stdout = TRUE)[2])",
    "if (avail > 4096) {",
    "  r <- catch(ws_save(s, ws_key('last'), as.raw(rep(7, avail - 4096))))",
    "  if (!is.list(r)) saved[[ws_key('last')]] <- as.raw(rep(7, avail - 4096))",
    "}",
    "same_key <- catch(ws_save(s, names(saved)[1], raw(10)))",
    "list(err = err, exact = exact, same_key = same_key, n = length(saved),",
    "     intact = all(vapply(names(saved), function(k)",
    "       identical(ws_lookup(s, k)$payload, saved[[k]]), TRUE)),",
    "     files = files_under(root))")
  inodes <- tempfile("inodes-")
  dir.create(inodes)
  withr::defer(unlink(inodes, recursive = TRUE))
  r <- in_mount_namespace(c(
    sprintf("mount -t tmpfs -o size=1m,mode=0700 tmpfs %s", shQuote(root)),
    "rscript bytes",
    sprintf("mount -t tmpfs -o size=1m,nr_inodes=12,mode=0700 tmpfs %s", shQuote(inodes)),
    "rscript inodes"), list(bytes = fill(root), inodes = fill(inodes)))
  for (what in names(r)) {
    x <- r[[what]]
    expect_true("ws_io_error" %in% error_class(x$err), label = what)
    expect_identical(error_code(x$err), "ENOSPC", label = what)
    # Into a key dir that exists: no inode for a temp, no block for data.
    expect_identical(error_code(x$same_key), "ENOSPC", label = paste(what, "same key"))
    expect_gt(x$n, 0)
    expect_true(x$intact, label = paste(what, "earlier entries"))
    expect_identical(grep("\\.tmp\\.", x$files, value = TRUE), character(),
                     label = paste(what, "temps"))
    # Every payload left has its meta and every meta its payload.
    bins <- sub("\\.bin$", "", grep("^[0-9a-f]+/.*\\.bin$", x$files, value = TRUE))
    metas <- sub("\\.json$", "", grep("^[0-9a-f]+/.*\\.json$", x$files, value = TRUE))
    expect_setequal(bins, metas)
  }
  if (is.list(r$bytes$exact)) expect_identical(error_code(r$bytes$exact), "ENOSPC")
  record_figure("full disk: entries saved before ENOSPC (1 MiB tmpfs, 12 inodes)",
                c(r$bytes$n, r$inodes$n))
})
