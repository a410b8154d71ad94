# Interop with the Rust store itself (refstore, store.rs 0.3.122 unchanged):
# each side reads what the other wrote, both ways, and cleans up for it.

test_that("entries the Rust store writes are read here, best and latest", {
  skip_without_refstore()
  t <- temp_store()
  key <- key_for("interop rust writes")
  rust_save(t$root, key, charToRaw("ckpt-low"), 1, 10, "checkpoint")
  Sys.sleep(0.01)
  rust_save(t$root, key, charToRaw("final-low"), 1, 11, "final")
  Sys.sleep(0.01)
  rust_save(t$root, key, charToRaw("no-objective"), NULL, NULL, "checkpoint")
  Sys.sleep(0.01)
  rust_save(t$root, key, charToRaw("newest-worst"), 7.25, 2^60, "checkpoint")
  best <- ws_lookup(t$store, key)
  # Lowest objective; at a tie a final beats a checkpoint.
  expect_identical(best$payload, charToRaw("final-low"))
  expect_identical(best$kind, "final")
  expect_identical(best$iteration, 11)
  latest <- ws_lookup_latest(t$store, key)
  expect_identical(latest$payload, charToRaw("newest-worst"))
  expect_identical(latest$objective, 7.25)
  expect_identical(latest$iteration, 2^60) # above 2^53: read exactly, shown as a double
  l <- ws_list(t$store)
  expect_identical(nrow(l), 4L)
  expect_identical(sum(is.na(l$objective)), 1L)
  expect_identical(sum(is.na(l$iteration)), 1L)
  # And the two stores agree on both choices.
  expect_identical(rust_lookup(t$root, key)$payload, best$payload)
  expect_identical(rust_lookup(t$root, key, latest = TRUE)$payload, latest$payload)
})

test_that("entries written here are read by the Rust store, extra fields ignored", {
  skip_without_refstore()
  t <- temp_store()
  key <- key_for("interop we write")
  ws_save(t$store, key, charToRaw("worse"), objective = 2.5, iteration = 1)
  ws_save(t$store, key, charToRaw("best"), objective = 0.1 + 0.2, iteration = 2,
          kind = "final")
  Sys.sleep(0.01)
  ws_save(t$store, key, list(an = "R value"), objective = NULL)
  best <- rust_lookup(t$root, key)
  expect_identical(best$payload, charToRaw("best"))
  expect_identical(best$objective, 0.1 + 0.2)
  expect_identical(best$kind, "final")
  expect_identical(best$iteration, 2)
  latest <- rust_lookup(t$root, key, latest = TRUE)
  # The Rust store sees the R value as the bytes of its serialization.
  expect_identical(unserialize(latest$payload), list(an = "R value"))
  expect_true(is.na(latest$objective))
  # A cachem label and our digest are unknown fields to serde: ignored.
  cache <- ws_cachem(t$store)
  cache$set("label", "value")
  k <- ws_key(what = "ws_cachem", key = "label")
  expect_identical(unserialize(rust_lookup(t$root, k)$payload), "value")
})

test_that("an overwrite by run id of a Rust entry is seen by both", {
  skip_without_refstore()
  t <- temp_store()
  key <- key_for("interop overwrite")
  rid <- rust_save(t$root, key, charToRaw("v1"), 3, 1, "checkpoint")
  expect_true(grepl("^r[0-9a-f]+-[0-9a-f]+$", rid))
  ws_save(t$store, key, charToRaw("v2"), objective = 1, iteration = 2,
          kind = "final", run_id = rid)
  expect_length(entry_files(key_dir(t, key)), 2L)
  got <- rust_lookup(t$root, key)
  expect_identical(got$payload, charToRaw("v2"))
  expect_identical(got$objective, 1)
  expect_identical(ws_lookup(t$store, key)$run_id, rid)
})

test_that("each store removes the other's corrupt entries and never returns them", {
  skip_without_refstore()
  t <- temp_store()
  damage <- function(key) {
    bin <- entry_files(key_dir(t, key), "\\.bin$")
    writeBin(rev(readBin(bin, "raw", 100)), bin)
  }
  # Rust wrote it, damaged: our lookup removes it; Rust then finds nothing.
  a <- key_for("interop damaged rust")
  rust_save(t$root, a, charToRaw("abcdef"), 1, 1, "final")
  damage(a)
  expect_null(ws_lookup(t$store, a))
  expect_length(entry_files(key_dir(t, a)), 0L)
  expect_null(rust_lookup(t$root, a))
  # We wrote it, damaged: the Rust lookup removes it; we find nothing.
  b <- key_for("interop damaged ours")
  ws_save(t$store, b, charToRaw("abcdef"), objective = 1)
  damage(b)
  expect_null(rust_lookup(t$root, b))
  expect_length(entry_files(key_dir(t, b)), 0L)
  expect_null(ws_lookup(t$store, b))
  # A schema the Rust store does not know (a meta without our digest, as
  # a newer Rust writer would leave it): both remove it.
  c <- key_for("interop schema 2")
  rust_save(t$root, c, charToRaw("x"), 1, 1, "final")
  meta <- entry_files(key_dir(t, c), "\\.json$")
  # (serde_json writes no final newline.)
  writeLines(sub('"schema_version": 1', '"schema_version": 2', readLines(meta, warn = FALSE)), meta)
  expect_null(ws_lookup(t$store, c))
  expect_length(entry_files(key_dir(t, c)), 0L)
})

test_that("the two sweeps leave each other's live files alone and take the dead ones", {
  skip_without_refstore()
  skip_if_no_fork()
  t <- temp_store()
  key <- key_for("interop sweeps")
  ws_save(t$store, key, charToRaw("ours"), objective = 1)
  rust_save(t$root, key, charToRaw("theirs"), 2, 1, "final")
  dir <- key_dir(t, key)
  # A Rust writer's temp (no host token) from a pid that is dead here: the
  # Rust store's own rule sweeps every other pid's temp; ours keeps an
  # unknown host's temp until it is an hour old.
  young <- file.path(dir, sprintf("r1-1.bin.tmp.%d.1.0", dead_pid()))
  writeBin(charToRaw("in flight"), young)
  ws_evict(t$store)
  expect_true(file.exists(young))
  expect_identical(nrow(ws_list(t$store)), 2L)
  # The Rust store's lookup runs its scan: it removes that temp (its rule),
  # and both entries are still whole for both stores.
  expect_identical(rust_lookup(t$root, key)$payload, charToRaw("ours"))
  expect_false(file.exists(young))
  expect_identical(rust_lookup(t$root, key, latest = TRUE)$payload, charToRaw("theirs"))
  expect_identical(ws_lookup_latest(t$store, key)$payload, charToRaw("theirs"))
  # Expired for us (TTL 60 s, clock moved on): our sweep removes both
  # stores' entries alike.
  warmstart:::ws_advance_time(t$store, 3600)
  res <- ws_evict(t$store)
  expect_identical(res$entries, 0)
  expect_null(rust_lookup(t$root, key))
})

test_that("the gam crate's run ids and our later fields cross both ways", {
  skip_without_refstore()
  t <- temp_store(semantics = "access")
  key <- key_for("interop ckpt run ids")
  # The Rust store names an entry by whatever run id its caller gives; the
  # gam crate's sessions give "ckpt-r<pid>-<nanos>". refstore saves under
  # fresh ids only, so its files are renamed to one.
  rid <- rust_save(t$root, key, charToRaw("rust ckpt"), 2, 5, "checkpoint")
  dir <- key_dir(t, key)
  for (ext in c(".bin", ".json")) {
    file.rename(file.path(dir, paste0(rid, ext)),
                file.path(dir, paste0("ckpt-r1a2-17f0c3d2e4a5b6c7", ext)))
  }
  got <- ws_lookup(t$store, key)
  expect_identical(got$run_id, "ckpt-r1a2-17f0c3d2e4a5b6c7")
  expect_identical(got$payload, charToRaw("rust ckpt"))
  # Our lookup recorded the access (and our digest) in the Rust meta: the
  # Rust store still reads it, its fields ignored.
  meta <- entry_files(dir, "\\.json$")
  expect_match(readChar(meta, 10000, useBytes = TRUE), '"accessed":true')
  expect_identical(rust_lookup(t$root, key)$payload, charToRaw("rust ckpt"))
  # We write under such a run id, with producer and access fields; the
  # Rust store reads what we wrote, raw bytes byte for byte.
  ws_save(t$store, key, as.raw(0:255), objective = 1, iteration = 6,
          kind = "final", run_id = "ckpt-r1a2-17f0c3d2e4a5b6c8")
  expect_identical(ws_lookup(t$store, key)$run_id, "ckpt-r1a2-17f0c3d2e4a5b6c8")
  best <- rust_lookup(t$root, key)
  expect_identical(best$payload, as.raw(0:255))
  expect_identical(best$objective, 1)
  expect_identical(best$kind, "final")
  # An R value whose meta a later gam store rewrote without our fields:
  # the Rust store returns its bytes, we the value.
  k2 <- key_for("interop value after a gam lookup")
  id <- ws_save(t$store, k2, list(fit = 1:3), objective = 1)
  d2 <- key_dir(t, k2)
  text <- readChar(file.path(d2, paste0(id, ".json")), 10000, useBytes = TRUE)
  stripped <- sub(',"payload_format":"R-serialized"', "",
                  sub(',"meta_sha256":"[0-9a-f]{64}"', "", text))
  writeChar(stripped, file.path(d2, paste0(id, ".json")), eos = NULL)
  expect_identical(unserialize(rust_lookup(t$root, k2)$payload), list(fit = 1:3))
  expect_identical(ws_lookup(t$store, k2)$payload, list(fit = 1:3))
})
