# The 19 unit tests of the Rust store (store.rs), ported one by one and
# named after them.

test_that("roundtrip_save_then_lookup", {
  t <- temp_store()
  key <- key_for("roundtrip")
  ws_save(t$store, key, charToRaw("hello-warm"), objective = 1.5,
          iteration = 7, kind = "checkpoint")
  got <- ws_lookup(t$store, key)
  expect_identical(got$payload, charToRaw("hello-warm"))
  expect_identical(got$objective, 1.5)
  expect_identical(got$iteration, 7)
  expect_identical(got$kind, "checkpoint")
})

test_that("lookup_picks_lowest_objective", {
  t <- temp_store()
  key <- key_for("multi")
  ws_save(t$store, key, charToRaw("worse"), objective = 3, iteration = 1)
  ws_save(t$store, key, charToRaw("better"), objective = 1, iteration = 2)
  ws_save(t$store, key, charToRaw("mid"), objective = 2, iteration = 3)
  got <- ws_lookup(t$store, key)
  expect_identical(rawToChar(got$payload), "better")
  expect_identical(got$objective, 1)
})

test_that("lookup_latest_ignores_objective_ordering", {
  t <- temp_store()
  key <- key_for("latest-vs-best")
  ws_save(t$store, key, charToRaw("low-objective"), objective = 1,
          iteration = 1, kind = "final")
  warmstart:::ws_advance_time(t$store, 0.002)
  ws_save(t$store, key, charToRaw("newer-higher-objective"), objective = 10,
          iteration = 2, kind = "checkpoint")
  best <- ws_lookup(t$store, key)
  expect_identical(rawToChar(best$payload), "low-objective")
  latest <- ws_lookup_latest(t$store, key)
  expect_identical(rawToChar(latest$payload), "newer-higher-objective")
  expect_identical(latest$iteration, 2)
})

test_that("tiebreak_final_beats_checkpoint", {
  t <- temp_store()
  key <- key_for("tie")
  ws_save(t$store, key, charToRaw("ckpt"), objective = 1, kind = "checkpoint")
  ws_save(t$store, key, charToRaw("final"), objective = 1, kind = "final")
  got <- ws_lookup(t$store, key)
  expect_identical(rawToChar(got$payload), "final")
  expect_identical(got$kind, "final")
  # Order of writing does not matter: a later checkpoint does not win a tie.
  ws_save(t$store, key, charToRaw("ckpt2"), objective = 1 + 1e-13)
  expect_identical(rawToChar(ws_lookup(t$store, key)$payload), "final")
})

test_that("tiebreak_latest_mtime_when_no_objective", {
  t <- temp_store()
  key <- key_for("latest")
  ws_save(t$store, key, charToRaw("first"))
  warmstart:::ws_advance_time(t$store, 1.1)
  ws_save(t$store, key, charToRaw("second"))
  expect_identical(rawToChar(ws_lookup(t$store, key)$payload), "second")
})

test_that("corrupt_payload_is_cleaned_up", {
  t <- temp_store()
  key <- key_for("corrupt")
  ws_save(t$store, key, charToRaw("original"), objective = 0)
  dir <- key_dir(t, key)
  writeBin(charToRaw("tampered"), entry_files(dir, "\\.bin$"))
  expect_null(ws_lookup(t$store, key))
  expect_length(entry_files(dir), 0)
})

test_that("corrupt_meta_json_is_cleaned_up", {
  t <- temp_store()
  key <- key_for("badjson")
  ws_save(t$store, key, charToRaw("x"))
  dir <- key_dir(t, key)
  writeLines("{not valid json", entry_files(dir, "\\.json$"))
  expect_null(ws_lookup(t$store, key))
  expect_length(entry_files(dir), 0)
})

# The meta is made one without meta_sha256 (as the Rust store writes
# them): with it, the edit would fail the meta's own checksum first and the
# schema check would go untested.
test_that("schema_mismatched_entry_is_cleaned_up", {
  t <- temp_store()
  key <- key_for("schema")
  ws_save(t$store, key, charToRaw("x"))
  dir <- key_dir(t, key)
  set_schema(entry_files(dir, "\\.json$"), 2)
  expect_null(ws_lookup(t$store, key))
  expect_length(entry_files(dir), 0)
  # The same edit with schema_version 1 leaves a valid entry: the version
  # is what removed it.
  key1 <- key_for("schema-1")
  ws_save(t$store, key1, charToRaw("y"))
  set_schema(entry_files(key_dir(t, key1), "\\.json$"), 1)
  expect_identical(rawToChar(ws_lookup(t$store, key1)$payload), "y")
  # And one the Rust store wrote.
  key2 <- key_for("schema-rust")
  write_entry(t, key2, rust_meta(list(schema_version = "2")))
  expect_null(ws_lookup(t$store, key2))
  expect_length(entry_files(key_dir(t, key2)), 0)
})

test_that("schema_mismatched_entry_is_removed_during_save_eviction_path", {
  t <- temp_store(size_budget = 6 * 1024, ttl = 3600)
  # The oldest entry: it survives only if the sweep removes the mismatched
  # one as such, rather than evicting oldest first to fit the budget.
  old_key <- key_for("schema-size-old")
  ws_save(t$store, old_key, as.raw(rep(2, 1024)))
  warmstart:::ws_advance_time(t$store, 0.001)
  stale_key <- key_for("schema-size-stale")
  ws_save(t$store, stale_key, as.raw(rep(0, 4 * 1024)))
  stale_dir <- key_dir(t, stale_key)
  stale_meta <- entry_files(stale_dir, "\\.json$")
  stale_bin <- entry_files(stale_dir, "\\.bin$")
  set_schema(stale_meta, 2)
  warmstart:::ws_advance_time(t$store, 0.001)

  fresh_key <- key_for("schema-size-fresh")
  ws_save(t$store, fresh_key, as.raw(rep(1, 2 * 1024)))

  expect_false(file.exists(stale_meta))
  expect_false(file.exists(stale_bin))
  expect_lte(bytes_on_disk(t$root), 6 * 1024)
  expect_null(ws_lookup(t$store, stale_key))
  expect_false(is.null(ws_lookup(t$store, fresh_key)))
  expect_false(is.null(ws_lookup(t$store, old_key)))
})

test_that("missing_bin_treated_as_missing", {
  t <- temp_store()
  key <- key_for("nobin")
  ws_save(t$store, key, charToRaw("x"))
  dir <- key_dir(t, key)
  file.remove(entry_files(dir, "\\.bin$"))
  expect_null(ws_lookup(t$store, key))
  # The orphaned meta is cleaned up too.
  expect_length(entry_files(dir), 0)
})

test_that("missing_key_returns_none", {
  t <- temp_store()
  expect_null(ws_lookup(t$store, key_for("absent")))
  expect_null(ws_lookup_latest(t$store, key_for("absent")))
})

test_that("lru_eviction_under_size_budget", {
  t <- temp_store(size_budget = 4 * 1024, ttl = 3600)
  keys <- vapply(0:19, function(i) ws_key("i", as.character(i)), "")
  for (i in seq_along(keys)) {
    ws_save(t$store, keys[i], raw(256), objective = i - 1)
  }
  expect_lte(bytes_on_disk(t$root), 8 * 1024)
  expect_null(ws_lookup(t$store, keys[1]))
  expect_false(is.null(ws_lookup(t$store, keys[20])))
})

test_that("ttl_drops_old_entries", {
  t <- temp_store(ttl = 60)
  key <- key_for("ttl")
  ws_save(t$store, key, charToRaw("x"))
  expect_false(is.null(ws_lookup(t$store, key)))
  warmstart:::ws_advance_time(t$store, 65)
  other <- key_for("ttl-other")
  ws_save(t$store, other, charToRaw("y"))
  expect_null(ws_lookup(t$store, key))
  expect_false(is.null(ws_lookup(t$store, other)))
})

test_that("orphan_temp_files_from_dead_processes_are_swept", {
  skip_if_no_fork()
  t <- temp_store()
  dir <- key_dir(t, key_for("tmp"))
  dir.create(dir)
  # The Rust test uses pid 1 as "another process"; pid 1 is alive, and
  # sweeping a live process's temp is the bug this store fixes. A reaped
  # child's pid is a dead writer, provably so only to a process with the
  # same host token (its names carry it; the Rust store's carry none, and
  # those are judged by age alone: see test-temps.R).
  token <- warmstart:::ws_host_token()
  orphan_other <- file.path(dir, sprintf("r0-0.json.tmp.%d.0.0.%s", dead_pid(),
                                         token))
  mine <- file.path(dir, sprintf("r0-0.bin.tmp.%d.0.0.%s", Sys.getpid(), token))
  writeBin(charToRaw("orphan"), orphan_other)
  writeBin(charToRaw("mine"), mine)
  res <- ws_evict(t$store)
  expect_false(file.exists(orphan_other))
  expect_true(file.exists(mine))
  expect_identical(res$temps_removed, 1)
})

test_that("tmp_filenames_without_pid_are_skipped", {
  t <- temp_store()
  dir <- key_dir(t, key_for("malformed"))
  dir.create(dir)
  weird <- file.path(dir, "garbage.tmp.notapid.suffix")
  writeBin(charToRaw("x"), weird)
  expect_no_error(ws_evict(t$store))
  expect_true(file.exists(weird))
})

test_that("save_overwrite_keeps_single_entry", {
  t <- temp_store()
  key <- key_for("overwrite")
  id <- ws_save(t$store, key, charToRaw("v1"), objective = 2, iteration = 1)
  id2 <- ws_save(t$store, key, charToRaw("v2"), objective = 1, iteration = 2,
                 run_id = id)
  expect_identical(id2, id)
  expect_length(entry_files(key_dir(t, key)), 2)
  got <- ws_lookup(t$store, key)
  expect_identical(rawToChar(got$payload), "v2")
  expect_identical(got$objective, 1)
  expect_identical(got$run_id, id)
})

test_that("write_and_promote_recreates_dir_removed_before_write", {
  # gam#868: a sibling's sweep removes the key dir between our mkdir and our
  # first temp. The fault hook does exactly that.
  t <- temp_store()
  key <- key_for("race-recreate")
  warmstart:::ws_inject_fault(t$store, "after_mkdir", "remove_dir", 1)
  expect_no_error(ws_save(t$store, key, charToRaw("payload")))
  expect_identical(rawToChar(ws_lookup(t$store, key)$payload), "payload")
  # Beyond the reference: not only one removal is survived.
  key2 <- key_for("race-thrice")
  warmstart:::ws_inject_fault(t$store, "after_mkdir", "remove_dir", 3)
  expect_no_error(ws_save(t$store, key2, charToRaw("payload2")))
  expect_identical(rawToChar(ws_lookup(t$store, key2)$payload), "payload2")
  # A dir that something removes every time fails the save (bounded, no
  # spinning), and leaves nothing behind.
  key3 <- key_for("race-always")
  warmstart:::ws_inject_fault(t$store, "after_mkdir", "remove_dir", 1000)
  e <- expect_error(ws_save(t$store, key3, charToRaw("payload")),
                    class = "ws_io_error")
  expect_identical(e$code, "ENOENT")
  warmstart:::ws_inject_fault(t$store, "after_mkdir", "remove_dir", 0)
  expect_length(temp_files(t$root), 0)
  expect_null(ws_lookup(t$store, key3))
})

test_that("save_survives_concurrent_eviction_removing_key_dir", {
  # gam#868 end to end, with processes instead of threads: writers hammer one
  # key while a sibling sweeps with a zero budget, which deletes entries and
  # removes the emptied key dir on nearly every pass.
  skip_if_no_fork()
  t <- temp_store(size_budget = 0)
  key <- key_for("concurrent-evict")
  stop_file <- tempfile("stop-")
  evictor <- parallel::mcparallel({
    sweeps <- 0L
    while (!file.exists(stop_file)) {
      ws_evict(t$store)
      sweeps <- sweeps + 1L
    }
    sweeps
  })
  errors <- parallel::mclapply(1:4, function(w) {
    st <- ws_open(t$root, size_budget = 0, ttl = 60)
    failures <- character()
    for (i in 1:200) {
      r <- tryCatch({
        ws_save(st, key, charToRaw(sprintf("w%d-i%d", w, i)), objective = i,
                iteration = i)
        NULL
      }, error = conditionMessage)
      if (!is.null(r)) failures <- c(failures, r)
    }
    failures
  }, mc.cores = test_cores(4))
  file.create(stop_file)
  sweeps <- parallel::mccollect(evictor)[[1]]
  unlink(stop_file)
  expect_identical(unlist(errors), character())
  expect_gt(sweeps, 0)
})

test_that("keys_are_isolated", {
  t <- temp_store()
  a <- key_for("a")
  b <- key_for("b")
  ws_save(t$store, a, charToRaw("AAA"), objective = 1, kind = "final")
  ws_save(t$store, b, charToRaw("BBB"), objective = 1, kind = "final")
  expect_identical(rawToChar(ws_lookup(t$store, a)$payload), "AAA")
  expect_identical(rawToChar(ws_lookup(t$store, b)$payload), "BBB")
})

test_that("entries written in the same nanosecond: the final one is the newer", {
  # Beyond the reference's tests (its rule): a tie on the write stamp goes
  # to the final entry, in both lookups. Written as the Rust store writes
  # them (whole seconds), as two writers of one second would.
  t <- temp_store()
  key <- key_for("same-stamp")
  secs <- format(floor(as.numeric(Sys.time())), scientific = FALSE)
  for (kind in c("Checkpoint", "Final")) {
    write_entry(t, key, rust_meta(list(written_unix_secs = secs, objective = "null",
                                       kind = sprintf('"%s"', kind))),
                run_id = if (kind == "Final") "r1f-2" else "r1f-1")
  }
  expect_identical(ws_lookup_latest(t$store, key)$run_id, "r1f-2")
  expect_identical(ws_lookup(t$store, key)$run_id, "r1f-2")
})
