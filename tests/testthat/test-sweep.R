# The sweep schedule: budget and TTL hold while a save's share of the
# sweeps stays the same in a store of 100 keys or thousands.

sweeps <- function(store) warmstart:::ws_sweep_state(store)$sweeps

test_that("the budget holds after every save, and evictions leave headroom", {
  budget <- 20 * 1024
  t <- temp_store(size_budget = budget, ttl = 3600)
  for (i in 1:150) {
    ws_save(t$store, key_for(paste("budget", i)), raw(1000))
    expect_lte(bytes_on_disk(t$root), budget)
  }
  # An eviction goes to 90% of the budget, so the next saves do not each
  # walk the store again: the headroom (2 KiB) holds one more entry of
  # ~1.4 KiB (payload and meta) before the next sweep, which a sweep per
  # save (about 135 here) would not leave.
  n <- sweeps(t$store)
  expect_lt(n, 150 / 2)
  expect_gte(n, 5)
  # Oldest first: what is left is the newest saves, the last one included.
  l <- ws_list(t$store)
  expect_identical(l$key, vapply(seq(150 - nrow(l) + 1, 150), function(i)
    key_for(paste("budget", i)), ""))
})

test_that("sweeps come once per W/8 saves (W: what the last walked), not every 32nd", {
  t <- temp_store(size_budget = Inf, ttl = 3600)
  s <- ws_open(t$root, size_budget = Inf, ttl = 3600, durable = FALSE)
  for (i in 1:800) ws_save(s, key_for(paste("many", i)), raw(10))
  ws_evict(s)
  st <- warmstart:::ws_sweep_state(s)
  expect_identical(st$walked_at_last_sweep, 1600) # 800 key dirs, 800 entries
  before <- st$sweeps
  for (i in 1:199) ws_save(s, key_for(paste("more", i)), raw(10))
  expect_identical(sweeps(s), before)     # the reference would have swept 6x
  ws_save(s, key_for("the 200th"), raw(10))
  expect_identical(sweeps(s), before + 1) # 1600 / 8 = 200 saves
})

test_that("expired entries are never returned and the sweep removes them", {
  t <- temp_store(size_budget = Inf, ttl = 60)
  old <- key_for("ttl-old")
  ws_save(t$store, old, charToRaw("old"))
  warmstart:::ws_advance_time(t$store, 61)
  expect_null(ws_lookup(t$store, old))
  expect_null(ws_lookup_latest(t$store, old))
  old2 <- key_for("ttl-old-2")
  ws_save(t$store, old2, charToRaw("old"))
  warmstart:::ws_advance_time(t$store, 61)
  res <- ws_evict(t$store)
  expect_identical(res$entries, 0)
  expect_false(dir.exists(key_dir(t, old2)))
})

run_child <- function(code) {
  script <- tempfile(fileext = ".R")
  writeLines(code, script)
  on.exit(unlink(script))
  rscript <- file.path(R.home("bin"), "Rscript")
  system2(rscript, c("--vanilla", shQuote(script)), stdout = TRUE)
}

first_save_in_new_process <- function(root) {
  out <- run_child(c(
    "library(warmstart)",
    sprintf("s <- ws_open(%s, size_budget = Inf, ttl = 3600)", lit(root)),
    "ws_save(s, ws_key('child'), raw(10))",
    "st <- warmstart:::ws_sweep_state(s)",
    "cat(st$sweeps, st$adopted_marker)"))
  strsplit(out, " ")[[1]]
}

test_that("a fresh sweep marker spares a new process its first sweep", {
  t <- temp_store(size_budget = Inf, ttl = 3600)
  for (i in 1:5) ws_save(t$store, key_for(paste("marker", i)), raw(10))
  ws_evict(t$store)
  marker <- file.path(t$root, ".warmstart", "sweep")
  expect_true(file.exists(marker))
  # What the sweep walked: 5 key dirs and their 5 entries.
  expect_match(readLines(marker), "^warmstart-sweep 1 [0-9]+ [0-9]+ 10$")
  # Fresh: the new process adopts it and does not walk the store.
  expect_identical(first_save_in_new_process(t$root), c("0", "TRUE"))
  # Stale (written more than 10 minutes ago): it sweeps on its first save.
  fields <- strsplit(readLines(marker), " ")[[1]]
  fields[3] <- format(as.numeric(fields[3]) - 11 * 60 * 1e9, scientific = FALSE)
  writeLines(paste(fields, collapse = " "), marker)
  expect_identical(first_save_in_new_process(t$root), c("1", "FALSE"))
  # Garbage: the same.
  writeLines("not a marker", marker)
  expect_identical(first_save_in_new_process(t$root), c("1", "FALSE"))
  # From the future (a clock set back, or another host's): the same.
  ws_evict(t$store)
  fields <- strsplit(readLines(marker), " ")[[1]]
  fields[3] <- format(as.numeric(fields[3]) + 11 * 60 * 1e9, scientific = FALSE)
  writeLines(paste(fields, collapse = " "), marker)
  expect_identical(first_save_in_new_process(t$root), c("1", "FALSE"))
  # Of another version: the same.
  fields[2] <- "2"
  fields[3] <- format(as.numeric(fields[3]) - 11 * 60 * 1e9, scientific = FALSE)
  writeLines(paste(fields, collapse = " "), marker)
  expect_identical(first_save_in_new_process(t$root), c("1", "FALSE"))
})

test_that("a marker that cannot be written fails no sweep and leaves no temp", {
  t <- temp_store()
  root <- ws_info(t$store)$root
  ws_save(t$store, key_for("marker-faults"), raw(10))
  unlink(file.path(root, ".warmstart"), recursive = TRUE)
  faults <- c(sprintf("mkdir:%s/.warmstart:1+:EACCES", root),
              "open:*/.warmstart/sweep.tmp.*:1+:ENOSPC",
              "write:*/.warmstart/sweep.tmp.*:1+:ENOSPC",
              "close:*/.warmstart/sweep.tmp.*:1+:EIO",
              "rename:*/.warmstart/sweep.tmp.*:1+:EIO")
  for (f in faults) {
    r <- run_shimmed(c(
      sprintf("s <- ws_open(%s)", lit(root)),
      "res <- catch(ws_evict(s)$entries)",
      sprintf("list(res = res, files = files_under(%s))", lit(file.path(root, ".warmstart")))),
      faults = f)$result
    expect_identical(r$res, 1, label = f)
    # No marker where it could not be made whole, and no temp of it.
    expect_identical(grep("tmp", r$files, value = TRUE), character(), label = f)
    expect_false("sweep" %in% r$files, label = f)
  }
})

test_that("a marker some process died writing is swept", {
  skip_if_no_fork()
  t <- temp_store()
  dir.create(file.path(t$root, ".warmstart"))
  token <- warmstart:::ws_host_token()
  stray <- file.path(t$root, ".warmstart",
                     sprintf("sweep.tmp.%d.%s", dead_pid(), token))
  writeLines("half", stray)
  # A live process's (this one's would be reused by the sweep's own marker).
  live <- file.path(t$root, ".warmstart",
                   sprintf("sweep.tmp.%d.%s", live_pid(), token))
  writeLines("theirs", live)
  res <- ws_evict(t$store)
  expect_false(file.exists(stray))
  expect_true(file.exists(live))
  expect_identical(res$temps_removed, 1)
})

test_that("an entry that expires while its key dir's listing is cached is removed, not returned", {
  # Without the value cache, so that the listing is what serves the lookup.
  t <- temp_store(ttl = 60, memory_cache = FALSE)
  key <- key_for("listing-ttl")
  ws_save(t$store, key, charToRaw("old"), objective = 1)
  warmstart:::ws_advance_time(t$store, 30)
  ws_save(t$store, key, charToRaw("young"), objective = 2)
  settle()
  # Builds the listing, with stamps old enough to be trusted next time.
  expect_identical(rawToChar(ws_lookup(t$store, key)$payload), "old")
  warmstart:::ws_advance_time(t$store, 31) # old is 61 s old, young 31 s
  expect_identical(rawToChar(ws_lookup(t$store, key)$payload), "young")
  expect_length(entry_files(key_dir(t, key)), 2)
  # The same for a sweep walking a remembered listing.
  settle()
  expect_identical(ws_evict(t$store)$entries, 1)
  warmstart:::ws_advance_time(t$store, 30)
  res <- ws_evict(t$store)
  expect_identical(c(res$entries, res$removed), c(0, 1))
  expect_false(dir.exists(key_dir(t, key)))
})

test_that("a scheduled sweep is skipped while no key dir changed, and runs once one is added", {
  t <- temp_store(size_budget = Inf, ttl = 3600)
  key <- key_for("skip-a")
  ws_save(t$store, key, raw(10))
  settle() # the root's stamp must be old enough to prove "unchanged"
  ws_evict(t$store)
  n <- sweeps(t$store)
  # The 32nd save is due a sweep; nothing under the root was added or
  # removed, so it does not walk, and the schedule starts again.
  for (i in 1:32) ws_save(t$store, key, raw(10))
  st <- warmstart:::ws_sweep_state(t$store)
  expect_identical(st$sweeps, n)
  expect_identical(st$saves_since_sweep, 0)
  # A new key dir moves the root's stamp: the next due sweep walks.
  ws_save(t$store, key_for("skip-b"), raw(10))
  for (i in 1:31) ws_save(t$store, key, raw(10))
  expect_identical(sweeps(t$store), n + 1)
})
