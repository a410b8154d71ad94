# I/O failures and crashes at exact points of the write sequence, injected
# instead of hoped for; and a real read-only mount and full disk.

points <- c("after_mkdir", "mid_bin_write", "before_bin_rename",
            "before_meta_rename")

test_that("a full disk at any step fails the save, leaves no temps, keeps entries", {
  t <- temp_store()
  key <- key_for("enospc")
  id <- ws_save(t$store, key, charToRaw("earlier"), objective = 1)
  for (p in points) {
    warmstart:::ws_inject_fault(t$store, p, "enospc")
    expect_error(ws_save(t$store, key, charToRaw("later"), objective = 0),
                 "No space left on device")
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
    expect_error(ws_save(t$store, key, charToRaw("v2"), run_id = id),
                 "No space left")
    expect_identical(rawToChar(ws_lookup(t$store, key)$payload), "v1")
  }
  # After the payload is promoted the old entry cannot be kept, but it is
  # never returned wrong: the lookup finds nothing rather than v1's meta
  # with v2's bytes.
  warmstart:::ws_inject_fault(t$store, "before_meta_rename", "enospc")
  expect_error(ws_save(t$store, key, charToRaw("v2"), run_id = id))
  expect_null(ws_lookup(t$store, key))
  expect_identical(temp_files(t$root), character())
})

test_that("a failure after the entry is visible says so", {
  t <- temp_store()
  key <- key_for("late-failure")
  warmstart:::ws_inject_fault(t$store, "after_meta_rename", "enospc")
  expect_error(ws_save(t$store, key, charToRaw("x")), "was written but")
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

mount_or_skip <- function(args) {
  skip_on_cran()
  skip_on_os(c("windows", "mac", "solaris"))
  if (Sys.which("mount") == "" || system2("id", "-u", stdout = TRUE) != "0") {
    skip("mount needs root")
  }
  status <- suppressWarnings(system2("mount", args, stdout = FALSE,
                                     stderr = FALSE))
  if (status != 0) skip("mount is not permitted here")
}

test_that("on a read-only store lookups work and saves fail clearly", {
  t <- temp_store()
  key <- key_for("read-only")
  ws_save(t$store, key, charToRaw("kept"), objective = 1)
  bad <- key_for("read-only-corrupt")
  ws_save(t$store, bad, charToRaw("good"))
  writeBin(charToRaw("evil"), entry_files(key_dir(t, bad), "\\.bin$"))
  mount_or_skip(c("--bind", t$root, t$root))
  withr::defer(system2("umount", t$root), priority = "first")
  stopifnot(system2("mount", c("-o", "remount,ro,bind", t$root)) == 0)
  ro <- ws_open(t$root)
  expect_identical(rawToChar(ws_lookup(ro, key)$payload), "kept")
  expect_identical(rawToChar(ws_lookup_latest(ro, key)$payload), "kept")
  # A corrupt entry cannot be cleaned up here, and is still never returned.
  expect_null(ws_lookup(ro, bad))
  expect_error(ws_save(ro, key, charToRaw("new")), "Read-only file system")
  expect_error(ws_save(ro, key_for("read-only-new"), charToRaw("new")),
               "Read-only file system")
  expect_no_error(ws_evict(ro))
  expect_identical(rawToChar(ws_lookup(ro, key)$payload), "kept")
})

test_that("on a full disk a save fails, leaves no temps, keeps the earlier entry", {
  root <- tempfile("tmpfs-")
  dir.create(root)
  withr::defer(unlink(root, recursive = TRUE))
  # mode=0700: a fresh tmpfs is world-writable (1777), which a store refuses.
  mount_or_skip(c("-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", root))
  withr::defer(system2("umount", root), priority = "first")
  st <- ws_open(root)
  key <- key_for("full-disk")
  ws_save(st, key, charToRaw("small"), objective = 1)
  expect_error(ws_save(st, key, as.raw(rep(1, 2 * 1024^2)), objective = 0),
               "No space left on device")
  expect_identical(temp_files(root), character())
  expect_identical(rawToChar(ws_lookup(st, key)$payload), "small")
})
