# What a save asks of the disk, seen from outside the library: the shim
# (fault-shim.c) records a child process's calls, so these tests check the
# order of the syncs and renames of a durable save, and make the fsync and
# close of each step fail as a full or broken disk makes them fail.

# What a logged path is, relative to a store root.
path_kind <- function(path, root) {
  if (identical(path, root)) return("root")
  if (identical(path, dirname(root))) return("parent")
  if (!startsWith(path, paste0(root, "/"))) return("other")
  rel <- substring(path, nchar(root) + 2)
  parts <- strsplit(rel, "/", fixed = TRUE)[[1]]
  if (!grepl("^[0-9a-f]{32,128}$", parts[1])) return("other")
  if (length(parts) == 1) return("keydir")
  name <- parts[2]
  if (grepl("\\.bin\\.tmp\\.", name)) return("bin_tmp")
  if (grepl("\\.json\\.tmp\\.", name)) return("meta_tmp")
  if (grepl("\\.bin$", name)) return("bin")
  if (grepl("\\.json$", name)) return("meta")
  "other"
}

# The log as steps: "sync <kind>", "rename <kind>-><kind>", "write <kind>",
# "mkdir <kind>" (successful calls only), with the paths kept alongside.
save_steps <- function(log, root) {
  log <- log[log$result >= 0, , drop = FALSE]
  kind <- vapply(log$path, path_kind, "", root = root, USE.NAMES = FALSE)
  to <- ifelse(log$op == "rename",
               vapply(log$extra, path_kind, "", root = root, USE.NAMES = FALSE), "")
  op <- sub("fdatasync", "sync", sub("fsync", "sync", log$op))
  step <- ifelse(op == "rename", paste0("rename ", kind, "->", to),
                 paste(op, kind))
  keep <- op %in% c("sync", "rename", "write", "mkdir") & kind != "other"
  data.frame(step = step[keep], path = log$path[keep], to = log$extra[keep],
             stringsAsFactors = FALSE)
}

# The steps of each of two saves, split at the mkdir of `mark` between them.
two_saves <- function(code_first, code_second, durable) {
  base <- tempfile("durable-")
  dir.create(base)
  withr::defer(unlink(base, recursive = TRUE), envir = parent.frame())
  root <- file.path(normalizePath(base), "store")
  mark <- file.path(normalizePath(base), "between-saves")
  run <- run_shimmed(c(
    sprintf("s <- ws_open(%s, durable = %s)", lit(root), durable),
    sprintf("k <- ws_key('durable')"),
    code_first,
    sprintf("dir.create(%s)", lit(mark)),
    code_second,
    "TRUE"), watch = paste0(normalizePath(base), "*"))
  expect_identical(run$result, TRUE)
  log <- run$log
  at <- which(log$op == "mkdir" & log$path == mark)
  if (length(at) != 1) stop("the child's log has no mark between its saves")
  list(root = root, first = save_steps(log[seq_len(at - 1), ], root),
       second = save_steps(log[-seq_len(at), ], root))
}

entry_sync_order <- c("sync bin_tmp", "rename bin_tmp->bin", "sync meta_tmp",
                      "rename meta_tmp->meta", "sync keydir")

test_that("a durable save syncs each file before its rename, then the key dir and (new key) the root", {
  run <- two_saves("ws_save(s, k, charToRaw('first'), objective = 1)",
                   "ws_save(s, k, charToRaw('second'), objective = 2)",
                   durable = TRUE)
  for (save in c("first", "second")) {
    steps <- run[[save]]
    entry <- steps[steps$step %in% c(entry_sync_order, "write bin_tmp", "write meta_tmp"), ]
    # Data, then its sync, then its rename: payload before meta, and the
    # key dir synced after both renames.
    expect_identical(unique(entry$step),
                     c("write bin_tmp", "sync bin_tmp", "rename bin_tmp->bin",
                       "write meta_tmp", "sync meta_tmp", "rename meta_tmp->meta",
                       "sync keydir"), label = paste(save, "save's steps"))
    # The file synced is the file renamed.
    expect_identical(entry$path[entry$step == "sync bin_tmp"],
                     entry$path[entry$step == "rename bin_tmp->bin"])
    expect_identical(entry$path[entry$step == "sync meta_tmp"],
                     entry$path[entry$step == "rename meta_tmp->meta"])
  }
  # The first save made the key dir: the root, which holds its name, is
  # synced after the mkdir. The second made nothing, and syncs the root all
  # the same: another process may have made the key dir and not yet synced
  # the root.
  first <- run$first$step
  expect_identical(sum(first == "sync root"), 1L)
  expect_gt(match("sync root", first), match("mkdir keydir", first))
  second <- run$second$step
  expect_identical(sum(second == "sync root"), 1L)
  expect_gt(match("sync root", second), match("sync keydir", second))
  expect_false("mkdir keydir" %in% second)
})

test_that("durable = FALSE syncs nothing, and still renames payload before meta", {
  run <- two_saves("ws_save(s, k, charToRaw('first'), objective = 1)",
                   "ws_save(s, k, charToRaw('second'), objective = 2)",
                   durable = FALSE)
  for (steps in list(run$first, run$second)) {
    expect_identical(grep("^sync", steps$step, value = TRUE), character())
    expect_identical(grep("^rename", steps$step, value = TRUE),
                     c("rename bin_tmp->bin", "rename meta_tmp->meta"))
  }
})

# Issue 11 (item 9): expected to fail until the store syncs the parent of a
# root it creates.
test_that("a durable store syncs the parent of a root it creates", {
  run <- two_saves(c("ws_save(s, k, charToRaw('first'))"), "NULL",
                   durable = TRUE)
  first <- run$first$step
  expect_true("sync parent" %in% first)
  expect_gt(match("sync parent", first, nomatch = 0), match("mkdir root", first))
})

# ---- failing steps ----

# A child per fault: it saves "earlier", then tries "later" with the fault
# armed, and reports the error, the files before and after, and what a
# lookup returns.
fault_case <- function(root, fault, new_key = FALSE, env = parent.frame()) {
  shim_start(c(
    sprintf("root <- %s", lit(root)),
    "s <- ws_open(root)",
    "k <- ws_key('faults')",
    "id <- ws_save(s, k, charToRaw('earlier'), objective = 1)",
    sprintf("k2 <- if (%s) ws_key('faults', 2) else k", new_key),
    "before <- files_under(root)",
    "err <- catch(ws_save(s, k2, charToRaw('later'), objective = 0))",
    "after <- files_under(root)",
    "list(id = id, key = k2, before = before, err = err, after = after,",
    "     earlier = rawToChar(ws_lookup(s, k)$payload),",
    "     later = ws_lookup(s, k2)$payload)"),
    faults = fault, env = env)
}

expect_io_error <- function(err, code, root, key) {
  if (!is.list(err)) {
    fail(sprintf("the save succeeded (run id %s) where it had to fail with %s", err, code))
    return(invisible())
  }
  expect_true("ws_io_error" %in% error_class(err), label = paste(code, "error class"))
  expect_identical(err$code, code)
  expect_true(startsWith(err$path %||% "", file.path(root, key)),
              label = sprintf("error path '%s' in the key dir", err$path))
}

test_that("a failing fsync, close, write, rename or open fails the save and leaves no trace", {
  base <- tempfile("fail-")
  dir.create(base)
  withr::defer(unlink(base, recursive = TRUE))
  base <- normalizePath(base)
  # The first save (of "earlier") makes the first matching call: arm the
  # second, the failing save's.
  faults <- c("fsync:*.bin.tmp.*:2:ENOSPC", "fsync:*.bin.tmp.*:2:EIO",
              "close:*.bin.tmp.*:2:EIO", "close:*.bin.tmp.*:2:ENOSPC",
              "write:*.bin.tmp.*:2:ENOSPC", "open:*.bin.tmp.*:2:EACCES",
              "rename:*.bin.tmp.*:2:EIO", "write:*.bin.tmp.*:2:zero",
              sprintf("flock:*/%s:2:EIO", ws_key("faults")),
              "open:*.json.tmp.*:2:EMFILE", "write:*.json.tmp.*:2:ENOSPC",
              "fsync:*.json.tmp.*:2:EIO", "close:*.json.tmp.*:2:ENOSPC",
              "rename:*.json.tmp.*:2:EIO")
  roots <- file.path(base, seq_along(faults))
  # Started together, waited for in turn: two cores share a dozen children.
  here <- environment()
  runs <- Map(function(root, fault) fault_case(root, fault, env = here), roots, faults)
  for (i in seq_along(faults)) {
    r <- shim_wait(runs[[i]])
    code <- sub("^zero$", "EIO", sub(".*:", "", faults[i])) # a write of 0 bytes
    expect_io_error(r$err, code, roots[i], r$key)
    # No temp left, no half entry, nothing of the earlier entry touched.
    expect_identical(r$after, r$before, label = paste(faults[i], "files after"))
    expect_identical(r$earlier, "earlier", label = faults[i])
  }
})

test_that("a failure after the entry is visible reports it and keeps the entry", {
  base <- normalizePath(withr::local_tempdir("visible-"))
  key <- ws_key("faults")
  key2 <- ws_key("faults", 2)
  # The key dir's fsync (the second save's), and the root's fsync, open or
  # close when the second save made a key dir. ws_open() opens and closes
  # the root once (to check who owns it) and each save syncs it once, so the
  # second save's open and close of the root are the third.
  cases <- list(
    list(fault = "fsync:%s/%s:2:EIO", dir = key, new_key = FALSE),
    list(fault = "fsync:%s:2:EIO", dir = "", new_key = TRUE),
    # The root is opened (and closed) twice by ws_open() (made, then its
    # mode set through an O_NOFOLLOW descriptor), once by the first save:
    # the 4th is the second save's sync of the root.
    list(fault = "open:%s:4:EMFILE", dir = "", new_key = TRUE),
    list(fault = "close:%s:4:EIO", dir = "", new_key = TRUE))
  here <- environment()
  runs <- lapply(seq_along(cases), function(i) {
    root <- file.path(base, i)
    f <- cases[[i]]
    target <- if (nzchar(f$dir)) sprintf(f$fault, root, f$dir) else sprintf(f$fault, root)
    list(root = root, fault = target,
         h = fault_case(root, target, new_key = f$new_key, env = here))
  })
  for (run in runs) {
    r <- shim_wait(run$h)
    expect_type(r$err, "list")
    expect_true("ws_io_error" %in% error_class(r$err), label = run$fault)
    expect_identical(error_code(r$err), sub(".*:", "", run$fault))
    # Visible and whole: what the caller asked to store is there.
    expect_identical(rawToChar(r$later), "later", label = run$fault)
    # And nothing that was there before went.
    expect_true(all(r$before %in% r$after), label = paste(run$fault, "earlier files kept"))
    expect_identical(grep("\\.tmp\\.", r$after, value = TRUE), character())
  }
})

test_that("a key dir that cannot be synced (EINVAL, as some filesystems say) is no failure", {
  base <- normalizePath(withr::local_tempdir("einval-"))
  root <- file.path(base, "store")
  dirs <- sprintf("fsync:%s:1+:EINVAL", c(root, file.path(root, ws_key("faults", 2))))
  r <- shim_wait(fault_case(root, dirs, new_key = TRUE))
  expect_type(r$err, "character") # the run id of a save that succeeded
  expect_identical(rawToChar(r$later), "later")
})

test_that("a file system without locks, or a sibling removing the new key dir before its pin, is no failure", {
  base <- normalizePath(withr::local_tempdir("pin-"))
  key2 <- ws_key("faults", 2)
  cases <- c(no_locks = sprintf("flock:*/%s:1+:ENOLCK", key2),
             removed = sprintf("flock:*/%s:1:remove", key2))
  here <- environment()
  runs <- lapply(names(cases), function(n) {
    fault_case(file.path(base, n), cases[[n]], new_key = TRUE, env = here)
  })
  for (r in lapply(runs, shim_wait)) {
    expect_type(r$err, "character")
    expect_identical(rawToChar(r$later), "later")
    expect_identical(r$earlier, "earlier")
  }
})

test_that("a payload written in two parts fails cleanly when the second part fails", {
  root <- file.path(normalizePath(withr::local_tempdir("halves-")), "store")
  # The fault hook splits the payload's write in two (its action, removing
  # a key dir that is not empty, does nothing); the shim fails the second.
  r <- run_shimmed(c(
    sprintf("root <- %s", lit(root)),
    "s <- ws_open(root)",
    "k <- ws_key('halves')",
    "ws_save(s, k, charToRaw('earlier'), objective = 1)",
    "before <- files_under(root)",
    "warmstart:::ws_inject_fault(s, 'mid_bin_write', 'remove_dir')",
    "err <- catch(ws_save(s, k, charToRaw('later, in two parts'), objective = 0))",
    "list(err = err, before = before, after = files_under(root),",
    "     got = rawToChar(ws_lookup(s, k)$payload))"),
    faults = "write:*.bin.tmp.*:3:ENOSPC")$result
  expect_true("ws_io_error" %in% error_class(r$err))
  expect_identical(error_code(r$err), "ENOSPC")
  expect_identical(r$after, r$before)
  expect_identical(r$got, "earlier")
})
