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

this_host <- function() warmstart:::ws_host_token()

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

test_that("temps of dead writers with our host token are swept; others by age", {
  skip_if_no_fork()
  t <- temp_store()
  dir <- key_dir(t, key_for("dead"))
  dir.create(dir)
  pid <- dead_pid()
  rid <- sprintf("r%x-1", pid)
  ours <- write_temp(dir, rid, "bin", pid, host = this_host())
  # The Rust store's temps carry no token: the pid may be another pid
  # namespace's, so only the age tells.
  rust_young <- write_temp(dir, rid, "json", pid)
  rust_old <- write_temp(dir, "r1-2", "json", pid, age = 2 * 3600)
  res <- ws_evict(t$store)
  expect_false(file.exists(ours))
  expect_true(file.exists(rust_young))
  expect_false(file.exists(rust_old))
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

test_that("a payload without its meta is judged by its writer's meta temp, not its run id", {
  skip_if_no_fork()
  t <- temp_store()
  key <- key_for("orphan-bin")
  dir <- key_dir(t, key)
  dir.create(dir)
  sibling <- live_pid()
  dead <- dead_pid()
  payload <- function(run_id, age = 0) {
    f <- file.path(dir, paste0(run_id, ".bin"))
    writeBin(charToRaw("payload"), f)
    if (age > 0) Sys.setFileTime(f, Sys.time() - age)
    f
  }
  # A writer that died between its renames left its meta temp behind.
  died <- payload("r1-10")
  died_temp <- write_temp(dir, "r1-10", "json", dead, host = this_host())
  # A live writer between its renames (its meta temp is there).
  live <- payload("r1-11")
  write_temp(dir, "r1-11", "json", sibling, host = this_host())
  # No temp: a writer that writes its meta temp after the rename (the
  # Rust store) cannot be told from a dead one until an hour has passed.
  young <- payload("r1-12")
  old <- payload("r1-13", age = 2 * 3600)
  # The run id names no writer: ws_save(run_id =) picks it, and a pid
  # means nothing on another host. A dead pid in it, a live writer beside
  # it (a container's: another token) keeps it; a live pid in it does not
  # keep an hour-old payload without a writer.
  named_dead <- payload(sprintf("r%x-14", dead))
  write_temp(dir, sprintf("r%x-14", dead), "json", dead, host = "0123456789abcdef")
  named_live <- payload(sprintf("r%x-15", Sys.getpid()), age = 2 * 3600)
  res <- ws_evict(t$store)
  expect_false(file.exists(died))
  expect_false(file.exists(died_temp))
  expect_true(file.exists(live))
  expect_true(file.exists(young))
  expect_false(file.exists(old))
  expect_true(file.exists(named_dead))
  expect_false(file.exists(named_live))
  expect_identical(res$removed, 3)
  expect_identical(res$temps_removed, 1)
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
