# Required beyond the reference (1): temp files of live writers are never
# swept; dead writers' temps and half entries are.

write_temp <- function(dir, run_id, ext, pid, host = NULL, age = 0) {
  name <- sprintf("%s.%s.tmp.%d.123.0", run_id, ext, pid)
  if (!is.null(host)) name <- paste0(name, ".", host)
  path <- file.path(dir, name)
  writeBin(charToRaw("partial"), path)
  if (age > 0) Sys.setFileTime(path, Sys.time() - age)
  path
}

this_host <- function() gsub("[^A-Za-z0-9._-]", "_", Sys.info()[["nodename"]])

test_that("a live sibling's in-flight temps survive a sweep", {
  skip_if_no_fork()
  t <- temp_store()
  dir <- key_dir(t, key_for("live"))
  dir.create(dir)
  sibling <- live_pid()
  rid <- sprintf("r%x-1", sibling)
  with_host <- write_temp(dir, rid, "bin", sibling, host = this_host())
  without_host <- write_temp(dir, rid, "json", sibling)
  res <- ws_evict(t$store)
  expect_true(file.exists(with_host))
  expect_true(file.exists(without_host))
  expect_identical(res$temps_removed, 0)
})

test_that("temps of dead writers on this host are swept, with or without host", {
  skip_if_no_fork()
  t <- temp_store()
  dir <- key_dir(t, key_for("dead"))
  dir.create(dir)
  pid <- dead_pid()
  rid <- sprintf("r%x-1", pid)
  a <- write_temp(dir, rid, "bin", pid, host = this_host())
  b <- write_temp(dir, rid, "json", pid)
  res <- ws_evict(t$store)
  expect_false(file.exists(a))
  expect_false(file.exists(b))
  expect_identical(res$temps_removed, 2)
})

test_that("another host's temps are kept until they are an hour old", {
  skip_if_no_fork()
  t <- temp_store()
  dir <- key_dir(t, key_for("other-host"))
  dir.create(dir)
  pid <- dead_pid() # dead here, but the pid means nothing on another host
  young <- write_temp(dir, "r1-1", "bin", pid, host = "some.other.host")
  old <- write_temp(dir, "r1-2", "bin", pid, host = "some.other.host",
                    age = 2 * 3600)
  ws_evict(t$store)
  expect_true(file.exists(young))
  expect_false(file.exists(old))
})

test_that("a hung writer's temp is swept after an hour even if it is alive", {
  t <- temp_store()
  dir <- key_dir(t, key_for("hung"))
  dir.create(dir)
  # pid 1 is alive; the age decides.
  young <- write_temp(dir, "r1-1", "bin", 1L)
  old <- write_temp(dir, "r1-2", "bin", 1L, age = 3700)
  ws_evict(t$store)
  expect_true(file.exists(young))
  expect_false(file.exists(old))
})

test_that("a payload without its meta follows the same rule (pid in run id)", {
  skip_if_no_fork()
  t <- temp_store()
  key <- key_for("orphan-bin")
  dir <- key_dir(t, key)
  dir.create(dir)
  dead <- file.path(dir, sprintf("r%x-10.bin", dead_pid()))
  live <- file.path(dir, sprintf("r%x-11.bin", Sys.getpid()))
  live_old <- file.path(dir, sprintf("r%x-12.bin", Sys.getpid()))
  for (f in c(dead, live, live_old)) writeBin(charToRaw("payload"), f)
  Sys.setFileTime(live_old, Sys.time() - 2 * 3600)
  res <- ws_evict(t$store)
  expect_false(file.exists(dead))
  expect_true(file.exists(live)) # a live writer between its two renames
  expect_false(file.exists(live_old))
  expect_identical(res$removed, 2)
  expect_null(ws_lookup(t$store, key))
})

test_that("files that are not the store's are left alone", {
  t <- temp_store()
  writeLines("mine", file.path(t$root, "notes.txt"))
  dir.create(file.path(t$root, "not-a-key"))
  writeLines("x", file.path(t$root, "not-a-key", "a.json"))
  key <- key_for("foreign")
  ws_save(t$store, key, charToRaw("x"))
  writeLines("y", file.path(key_dir(t, key), "README"))
  ws_evict(t$store)
  expect_true(file.exists(file.path(t$root, "notes.txt")))
  expect_true(file.exists(file.path(t$root, "not-a-key", "a.json")))
  expect_true(file.exists(file.path(key_dir(t, key), "README")))
})

test_that("a link named like a key is not followed by the sweep", {
  skip_on_os("windows")
  skip_if_no_fork()
  t <- temp_store(size_budget = 0)
  outside <- tempfile("outside-")
  dir.create(outside)
  withr::defer(unlink(outside, recursive = TRUE))
  pid <- dead_pid()
  victim <- file.path(outside, sprintf("r%x-1.bin.tmp.%d.1.0", pid, pid))
  writeBin(charToRaw("not the store's"), victim)
  orphan <- file.path(outside, sprintf("r%x-2.bin", pid))
  writeBin(charToRaw("not the store's either"), orphan)
  file.symlink(outside, file.path(t$root, key_for("link")))
  ws_evict(t$store)
  ws_evict(t$store, verify = TRUE)
  expect_true(file.exists(victim))
  expect_true(file.exists(orphan))
  expect_identical(nrow(ws_list(t$store)), 0L)
})

test_that("a key dir another process removes while a removal locks it: no error, and it is gone", {
  root <- file.path(normalizePath(withr::local_tempdir("rmdir-race-")), "store")
  key <- key_for("rmdir-race")
  # The key dir's first lock is the save's pin; the second is the one
  # ws_remove() takes to remove the emptied dir: just before it, another
  # process removes the dir.
  r <- run_shimmed(c(
    sprintf("s <- ws_open(%s)", lit(root)),
    sprintf("ws_save(s, %s, raw(3))", lit(key)),
    sprintf("list(removed = catch(ws_remove(s, %s)), list = nrow(ws_list(s)))", lit(key))),
    faults = sprintf("flock:*/%s:2:remove", key))$result
  expect_identical(r$removed, 1)
  expect_identical(r$list, 0L)
  expect_false(dir.exists(file.path(root, key)))
})
