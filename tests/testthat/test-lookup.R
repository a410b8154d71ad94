# A lookup that passes over an entry scans the key dir again (store.c).

test_that("a lookup goes on to the next entry after one it passes over", {
  # The scan of a key dir again within one lookup (after a corrupt entry,
  # or one this handle may not return) once started where the first left
  # off, at the end of the directory, and found nothing.
  t <- temp_store()
  key <- key_for("next entry")
  ws_save(t$store, key, charToRaw("good"), objective = 2)
  run <- ws_save(t$store, key, charToRaw("best"), objective = 1)
  writeBin(charToRaw("evil"), file.path(key_dir(t, key), paste0(run, ".bin")))
  expect_identical(ws_lookup(t$store, key)$payload, charToRaw("good"))
})

test_that("any number of damaged entries above a whole one: the whole one is returned", {
  # Every damaged entry is removed (or passed over) in turn; a lookup once
  # gave up after eight passes and returned nothing.
  t <- temp_store(size_budget = Inf, memory_cache = FALSE)
  key <- key_for("many damaged")
  ws_save(t$store, key, charToRaw("whole"), objective = 100)
  runs <- vapply(1:12, function(i) {
    ws_save(t$store, key, charToRaw(sprintf("better %02d", i)), objective = i)
  }, "")
  for (run in runs) {
    writeBin(charToRaw("damaged!!"), file.path(key_dir(t, key), paste0(run, ".bin")))
  }
  expect_identical(rawToChar(ws_lookup(t$store, key)$payload), "whole")
  expect_identical(rawToChar(ws_lookup_latest(t$store, key)$payload), "whole")
})
