# A payload or meta that cannot be read right now (EACCES, EIO, a short
# read) is no proof of damage: the entry is kept, and its bytes are never
# returned unless read whole and verified. The shim (fault-shim.c) makes
# the reads of one entry's files fail in a child process.

# A store with a better entry ("good", objective 1) and a worse one
# ("fallback", objective 2) under one key.
read_store <- function(env = parent.frame()) {
  t <- temp_store(env = env)
  t$root <- normalizePath(t$root)
  t$key <- key_for("read-errors")
  t$payloads <- list()
  t$fallback <- ws_save(t$store, t$key, charToRaw("fallback entry"), objective = 2)
  t$good <- ws_save(t$store, t$key, charToRaw("good entry"), objective = 1)
  t$payloads[[t$fallback]] <- "fallback entry"
  t$payloads[[t$good]] <- "good entry"
  t$dir <- file.path(t$root, t$key)
  t$files <- function() sort(list.files(t$dir, all.files = TRUE, no.. = TRUE))
  t
}

# Run `call` (a lookup or a sweep, on store `s`) in a child with `faults`
# armed; the child reports the result as a plain list.
read_case <- function(t, call, faults, env = parent.frame()) {
  shim_start(c(
    sprintf("s <- ws_open(%s)", lit(t$root)),
    sprintf("k <- %s", lit(t$key)),
    sprintf("r <- catch(%s)", call),
    "if (inherits(r, 'ws_entry')) list(run_id = r$run_id, payload = rawToChar(r$payload))",
    "else if (inherits(r, 'list') && !is.null(r$error)) r else list(value = r)"),
    faults = faults, env = env)
}

# What every case must hold: the entry whose read failed is still on
# disk, and nothing returned is other than what was saved under its run id.
expect_kept_and_never_wrong <- function(t, r, before, label) {
  expect_identical(t$files(), before, label = paste(label, ": files after"))
  if (!is.null(r$run_id)) {
    expect_identical(r$payload, t$payloads[[r$run_id]], label = paste(label, ": payload"))
  }
  if (!is.null(r$error)) {
    expect_true("ws_io_error" %in% r$error, label = paste(label, ": error class"))
  }
  # Once the disk reads again, the better entry is found.
  expect_identical(ws_lookup(t$store, t$key)$run_id, t$good,
                   label = paste(label, ": later lookup"))
}

test_that("a payload that cannot be opened, stat'ed or read is kept, and an error or another entry comes back", {
  t <- read_store()
  bin <- sprintf("*/%s.bin", t$good)
  cases <- c(open_eacces = sprintf("open:%s:1+:EACCES", bin),
             fstat_eio = sprintf("fstat:%s:1+:EIO", bin),
             read_enomem = sprintf("read:%s:1+:ENOMEM", bin))
  before <- t$files()
  here <- environment()
  runs <- lapply(cases, function(f) read_case(t, "ws_lookup(s, k)", f, env = here))
  for (name in names(cases)) {
    r <- shim_wait(runs[[name]])
    expect_kept_and_never_wrong(t, r, before, name)
    # The good entry was unreadable, so it is not what came back.
    expect_false(identical(r$run_id, t$good), label = name)
    if (!is.null(r$error)) {
      expect_identical(r$code, sub(".*:", "", cases[[name]]), label = name)
      expect_identical(r$path, file.path(t$dir, paste0(t$good, ".bin")), label = name)
    }
  }
})

test_that("an interrupted open or read (EINTR) is retried", {
  t <- read_store()
  bin <- sprintf("*/%s.bin", t$good)
  cases <- c(open_eintr = sprintf("open:%s:1:EINTR", bin),
             read_eintr = sprintf("read:%s:1:EINTR", bin))
  before <- t$files()
  here <- environment()
  runs <- lapply(cases, function(f) read_case(t, "ws_lookup(s, k)", f, env = here))
  for (name in names(cases)) {
    r <- shim_wait(runs[[name]])
    expect_kept_and_never_wrong(t, r, before, name)
    expect_identical(r$run_id, t$good, label = name)
  }
})

test_that("a payload gone between the scan and the read is neither returned nor deleted", {
  t <- read_store()
  before <- t$files()
  r <- shim_wait(read_case(t, "ws_lookup(s, k)",
                           sprintf("open:*/%s.bin:1:ENOENT", t$good)))
  expect_kept_and_never_wrong(t, r, before, "open_enoent")
})

# Expected to fail today (found writing these tests; not in issue 11's
# list): a read that finds the payload replaced since the scan (an overwrite
# that committed meanwhile) skips the entry for the rest of the lookup, so
# a worse entry comes back while the better one is whole.
test_that("an entry replaced between the scan and the read is chosen again, not skipped", {
  t <- read_store()
  before <- t$files()
  r <- shim_wait(read_case(t, "ws_lookup(s, k)",
                           sprintf("open:*/%s.bin:1:touch", t$good)))
  expect_kept_and_never_wrong(t, r, before, "replaced")
  expect_identical(r$run_id, t$good)
})

# Issue 11 (item 6): expected to fail until a read that fails or ends
# early stops deleting the entry.
test_that("a payload read that fails with EIO or comes back short does not delete the entry", {
  t <- read_store()
  bin <- sprintf("*/%s.bin", t$good)
  cases <- c(read_eio = sprintf("read:%s:1+:EIO", bin),
             read_short = sprintf("read:%s:1:short", bin),
             read_eof = sprintf("read:%s:1:eof", bin))
  before <- t$files()
  here <- environment()
  runs <- lapply(cases, function(f) read_case(t, "ws_lookup(s, k)", f, env = here))
  for (name in names(cases)) {
    r <- shim_wait(runs[[name]])
    expect_kept_and_never_wrong(t, r, before, name)
  }
})

test_that("a meta that cannot be read or stat'ed is skipped, not deleted", {
  t <- read_store()
  cases <- c(meta_read_eio = sprintf("read:*/%s.json:1+:EIO", t$good),
             meta_open_eacces = sprintf("open:*/%s.json:1+:EACCES", t$good),
             bin_stat_eacces = sprintf("stat:*/%s.bin:1+:EACCES", t$good))
  before <- t$files()
  here <- environment()
  runs <- lapply(cases, function(f) read_case(t, "ws_lookup(s, k)", f, env = here))
  for (name in names(cases)) {
    r <- shim_wait(runs[[name]])
    expect_kept_and_never_wrong(t, r, before, name)
    expect_identical(r$run_id, t$fallback, label = name)
  }
})

test_that("the verifying sweep keeps a payload it cannot read", {
  t <- read_store()
  before <- t$files()
  here <- environment()
  cases <- c(verify_eio = sprintf("read:*/%s.bin:1+:EIO", t$good),
             verify_eacces = sprintf("open:*/%s.bin:1+:EACCES", t$good))
  runs <- lapply(cases, function(f) {
    read_case(t, "ws_evict(s, verify = TRUE)$corrupt", f, env = here)
  })
  for (name in names(cases)) {
    r <- shim_wait(runs[[name]])
    expect_identical(r$value, 0, label = name)
    expect_kept_and_never_wrong(t, r, before, name)
  }
})

# Issue 11 (item 6), for the verifying sweep: expected to fail until a
# short read stops counting as a mismatch.
test_that("the verifying sweep keeps a payload whose read comes back short", {
  t <- read_store()
  before <- t$files()
  r <- shim_wait(read_case(t, "ws_evict(s, verify = TRUE)$corrupt",
                           sprintf("read:*/%s.bin:1:short", t$good)))
  expect_identical(r$value, 0)
  expect_kept_and_never_wrong(t, r, before, "verify_short")
})

test_that("a corrupt payload whose meta changed while it was checked is left for the next lookup", {
  # The meta replaced between the scan and the in-flight check: its writer
  # just finished, so the bytes may be right for the new meta.
  t <- read_store()
  bin <- file.path(t$dir, paste0(t$good, ".bin"))
  writeBin(charToRaw("GOOD ENTRY"), bin) # same size, other bytes
  before <- t$files()
  r <- shim_wait(read_case(t, "ws_lookup(s, k)",
                           sprintf("stat:*/%s.json:2:touch", t$good)))
  expect_identical(r$run_id, t$fallback)
  expect_identical(t$files(), before)
  # Looked at again (nothing changing now), it is removed as corrupt.
  expect_identical(ws_lookup(t$store, t$key)$run_id, t$fallback)
  expect_false(file.exists(bin))
})

test_that("a key dir that vanishes during the scan reads as empty, with no error", {
  t <- read_store()
  before <- t$files()
  # The second stat of the key dir (after the scan's cleanup, in today's
  # core) says it is gone: the lookup finds nothing, or (a core that stats
  # it at other moments) the entry it would have found; never an error.
  r <- shim_wait(read_case(t, "ws_lookup(s, k)", sprintf("stat:%s:2:ENOENT", t$dir)))
  if (is.null(r$run_id)) {
    expect_identical(r, list(value = NULL))
  } else {
    expect_identical(r$run_id, t$good)
  }
  expect_kept_and_never_wrong(t, r, before, "dir_vanishes")
})

test_that("a lookup whose every read finds the payload changed gives up: NULL, nothing deleted", {
  t <- read_store()
  # More entries than a lookup sets aside (4): it must stop by its count of
  # tries, not by running out of entries.
  for (i in 1:4) ws_save(t$store, t$key, charToRaw(paste("more", i)), objective = 2 + i)
  before <- t$files()
  r <- shim_wait(read_case(t, "ws_lookup(s, k)", "open:*.bin:1+:touch"))
  expect_identical(r, list(value = NULL))
  expect_identical(t$files(), before)
})
