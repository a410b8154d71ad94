# An overwrite (ws_save(run_id = ...)) stopped between its two renames: the
# new payload stands beside the old meta. Until the writer goes on, that
# entry is neither returned (its bytes do not match its meta) nor deleted
# (its writer is alive), by lookups and by the verifying sweep alike.

overwrite_stopped_between_renames <- function(new_payload) {
  t <- temp_store(env = parent.frame())
  t$root <- normalizePath(t$root)
  key <- key_for("in-flight")
  dir <- file.path(t$root, key)
  older <- ws_save(t$store, key, charToRaw("older, worse entry"), objective = 5)
  id <- ws_save(t$store, key, charToRaw("version one"), objective = 2)
  # The child stops itself (SIGSTOP) just before the rename of its meta.
  h <- shim_start(c(
    sprintf("s <- ws_open(%s)", lit(t$root)),
    sprintf("ws_save(s, %s, charToRaw(%s), objective = 1, run_id = %s)",
            lit(key), lit(new_payload), lit(id))),
    faults = sprintf("rename:*/%s.json.tmp.*:1:stop", id), env = parent.frame())
  pid <- shim_pid(h)
  wait_stopped(pid)
  list(t = t, key = key, dir = dir, id = id, older = older, h = h, pid = pid)
}

# Names, sizes and times of the key dir's files.
dir_state <- function(dir) {
  f <- sort(list.files(dir, all.files = TRUE, no.. = TRUE))
  info <- file.info(file.path(dir, f))
  paste(f, info$size, format(info$mtime, "%OS6"))
}

check_stopped_overwrite <- function(new_payload) {
  w <- overwrite_stopped_between_renames(new_payload)
  files <- list.files(w$dir, all.files = TRUE, no.. = TRUE)
  bin <- file.path(w$dir, paste0(w$id, ".bin"))
  # Where the writer stopped: payload renamed, meta temp complete beside it.
  if (!identical(rawToChar(readBin(bin, "raw", 100)), new_payload) ||
      !any(startsWith(files, paste0(w$id, ".json.tmp.")))) {
    stop("the writer did not stop between its renames: ", paste(files, collapse = " "))
  }
  before <- dir_state(w$dir)
  for (i in 1:3) {
    for (latest in c(FALSE, TRUE)) {
      got <- if (latest) ws_lookup_latest(w$t$store, w$key) else ws_lookup(w$t$store, w$key)
      # Neither the old meta with the new bytes nor a deletion: the only
      # whole entry is the older one.
      expect_identical(got$run_id, w$older)
      expect_identical(rawToChar(got$payload), "older, worse entry")
    }
    ws_evict(w$t$store)
    res <- ws_evict(w$t$store, verify = TRUE)
    expect_identical(res$corrupt, 0)
    expect_identical(dir_state(w$dir), before)
  }
  # The writer goes on and completes its overwrite.
  tools::pskill(w$pid, tools::SIGCONT)
  expect_identical(shim_wait(w$h), w$id)
  got <- ws_lookup(w$t$store, w$key)
  expect_identical(got$run_id, w$id)
  expect_identical(rawToChar(got$payload), new_payload)
  expect_identical(got$objective, 1)
  expect_identical(temp_files(w$t$root), character())
}

test_that("an overwrite stopped between its renames (payload of another size) is kept and not returned", {
  check_stopped_overwrite("version two is longer")
})

test_that("an overwrite stopped between its renames (payload of the same size) is kept and not returned", {
  check_stopped_overwrite("version two")
})
