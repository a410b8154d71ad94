# The on-disk format is the Rust store's schema v1, readable both ways, and
# a meta of the wrong shape is a corrupt entry, never data.

test_that("an entry written by the Rust store is read", {
  t <- temp_store()
  key <- key_for("from-rust")
  write_entry(t, key, rust_meta())
  got <- ws_lookup(t$store, key)
  expect_identical(got$payload, charToRaw("abc"))
  expect_identical(got$objective, 1.5)
  expect_identical(got$iteration, 7)
  expect_identical(got$kind, "final")
  expect_identical(got$run_id, "r1f-17a0")
  # No written_nanos: the write time is whole seconds.
  expect_identical(as.numeric(got$written) %% 1, 0)
})

test_that("what this store writes has the Rust field names and types", {
  t <- temp_store()
  key <- key_for("to-rust")
  ws_save(t$store, key, charToRaw("abc"), objective = 0.1, iteration = 2^52,
          kind = "final")
  meta <- readChar(entry_files(key_dir(t, key), "\\.json$"), 10000,
                   useBytes = TRUE)
  expect_match(meta, '"schema_version":1[,}]')
  expect_match(meta, '"written_unix_secs":[0-9]+[,}]')
  expect_match(meta, '"written_nanos":[0-9]+[,}]')
  expect_match(meta, '"objective":0.1[,}]')
  # u64 fields must never be written in exponent form: serde rejects it.
  expect_match(meta, '"iteration":4503599627370496[,}]')
  expect_match(meta, '"kind":"Final"')
  expect_match(meta, sprintf('"checksum_hex":"%s"', sha256_abc))
  expect_match(meta, '"payload_bytes":3[,}]')
  expect_match(meta, '"meta_sha256":"[0-9a-f]{64}"')
  ws_save(t$store, key, raw(0))
  metas <- vapply(entry_files(key_dir(t, key), "\\.json$"), function(f)
    readChar(f, 10000, useBytes = TRUE), "")
  expect_true(any(grepl('"objective":null,"iteration":null,"kind":"Checkpoint"',
                        metas)))
})

test_that("objectives round-trip exactly", {
  t <- temp_store()
  for (o in c(1 / 3, 0.1 + 0.2, -2.5e-300, 1e300, .Machine$double.xmax,
              .Machine$double.xmin, 4.9e-324, 0, 123456789012345678)) {
    key <- key_for(paste("objective", o))
    ws_save(t$store, key, raw(1), objective = o)
    expect_identical(ws_lookup(t$store, key)$objective, o)
  }
})

test_that("a meta that no longer matches its own checksum is corrupt", {
  t <- temp_store()
  key <- key_for("meta-checksum")
  ws_save(t$store, key, charToRaw("worse"), objective = 5)
  ws_save(t$store, key, charToRaw("better"), objective = 1)
  # Damage the worse entry's objective so that it would look best.
  metas <- entry_files(key_dir(t, key), "\\.json$")
  texts <- vapply(metas, function(f) readChar(f, 10000, useBytes = TRUE), "")
  worse <- metas[grepl('"objective":5,', texts)]
  writeChar(sub('"objective":5,', '"objective":0.5,', texts[[worse]]), worse,
            eos = NULL, useBytes = TRUE)
  expect_identical(rawToChar(ws_lookup(t$store, key)$payload), "better")
  expect_false(file.exists(worse))
  # A meta without the field (as the Rust store writes them) is trusted.
  key2 <- key_for("meta-checksum-absent")
  write_entry(t, key2, rust_meta(list(objective = "0.5")))
  expect_identical(ws_lookup(t$store, key2)$objective, 0.5)
  # And a field of the wrong shape is corrupt, as for the others.
  key3 <- key_for("meta-checksum-type")
  write_entry(t, key3, rust_meta(list(meta_sha256 = "12")))
  expect_null(ws_lookup(t$store, key3))
})

test_that("unknown fields are ignored, as serde does", {
  t <- temp_store()
  key <- key_for("unknown-field")
  write_entry(t, key, rust_meta(list(future = '{"a": [1, 2]}', written_nanos = "5")))
  expect_identical(ws_lookup(t$store, key)$payload, charToRaw("abc"))
})

test_that("metas of the wrong shape are removed and never returned", {
  t <- temp_store()
  bad <- list(
    kind_number = list(kind = "1"),
    kind_unknown = list(kind = '"Best"'),
    objective_string = list(objective = '"1.5"'),
    iteration_negative = list(iteration = "-1"),
    iteration_fraction = list(iteration = "1.5"),
    iteration_string = list(iteration = '"7"'),
    schema_string = list(schema_version = '"1"'),
    checksum_short = list(checksum_hex = '"abc"'),
    checksum_number = list(checksum_hex = "12"),
    checksum_upper = list(checksum_hex = sprintf('"%s"', toupper(sha256_abc))),
    bytes_missing = list(payload_bytes = NULL),
    secs_missing = list(written_unix_secs = NULL),
    nanos_null = list(written_nanos = "null"),
    format_unknown = list(payload_format = '"zstd"'),
    format_number = list(payload_format = "1"),
    duplicate = list(kind = '"Final",\n  "kind": "Checkpoint"')
  )
  for (case in names(bad)) {
    key <- key_for(paste("bad-meta", case))
    dir <- write_entry(t, key, rust_meta(bad[[case]]))
    expect_null(ws_lookup(t$store, key), label = case)
    expect_length(entry_files(dir), 0)
  }
  for (text in c("", "[]", "null", "{", '{"schema_version": 1}',
                 strrep("x", 70000))) {
    key <- key_for(paste("bad-json", nchar(text), substr(text, 1, 5)))
    dir <- write_entry(t, key, text)
    expect_null(ws_lookup(t$store, key))
    expect_length(entry_files(dir), 0)
  }
})

test_that("R objects are unserialized only after their checksum verified", {
  t <- temp_store()
  key <- key_for("rds-corrupt")
  ws_save(t$store, key, list(a = 1, b = letters))
  bin <- entry_files(key_dir(t, key), "\\.bin$")
  bytes <- readBin(bin, "raw", file.size(bin))
  bytes[length(bytes) %/% 2] <- as.raw(255)
  bytes[3:20] <- as.raw(255) # what would make unserialize() fail
  writeBin(bytes, bin)
  expect_silent(got <- ws_lookup(t$store, key))
  expect_null(got)
})

test_that("verified bytes this R cannot unserialize are an error, and kept", {
  t <- temp_store()
  key <- key_for("rds-fake")
  ws_save(t$store, key, list("an R value"))
  dir <- key_dir(t, key)
  junk <- charToRaw("not a serialization")
  writeBin(junk, entry_files(dir, "\\.bin$"))
  reseal(entry_files(dir, "\\.json$"), junk)
  warmstart:::ws_value_cache_clear()
  expect_error(ws_lookup(t$store, key), class = "ws_decode_error")
  expect_length(entry_files(dir), 2)
  # Without our digest, a format field is not ours to trust: corrupt.
  key2 <- key_for("rds-fake, no digest")
  write_entry(t, key2, rust_meta(list(payload_format = '"R-serialized"')))
  expect_null(ws_lookup(t$store, key2))
})

test_that("raw payloads are byte for byte; other values come back as saved", {
  t <- temp_store()
  values <- list(raw(0), as.raw(0:255), NULL, 1:10, letters,
                 structure(as.raw(1:3), names = c("a", "b", "c")),
                 list(x = 1, f = stats::as.formula("y ~ x", env = globalenv()),
                      m = matrix(1:4, 2)),
                 data.frame(a = 1:3, b = c("x", "y", "z")))
  for (i in seq_along(values)) {
    key <- key_for(paste("value", i))
    ws_save(t$store, key, values[[i]])
    got <- ws_lookup(t$store, key)
    expect_identical(got$payload, values[[i]])
  }
  bin <- entry_files(key_dir(t, key_for("value 2")), "\\.bin$")
  expect_identical(readBin(bin, "raw", 1000), as.raw(0:255))
})

test_that("entries print with their fields", {
  t <- temp_store()
  key <- key_for("print")
  ws_save(t$store, key, as.raw(1:3), objective = 2.5, iteration = 4,
          kind = "final")
  got <- ws_lookup(t$store, key)
  expect_s3_class(got, "ws_entry")
  expect_s3_class(got$written, "POSIXct")
  expect_lt(abs(as.numeric(Sys.time()) - as.numeric(got$written)), 60)
  expect_output(print(got), "final")
  expect_output(print(got), "objective: 2.5")
  expect_output(print(got), "raw\\[3\\]")
  expect_identical(got$bytes, 3)
})
