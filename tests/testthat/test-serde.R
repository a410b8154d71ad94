# The meta parser agrees with the Rust store's (serde_json): an entry it
# accepts is never deleted here, and one it rejects is never trusted. The
# `rust` column was recorded from the Rust store 0.3.122 itself (refstore);
# where refstore is built, each case is checked against it again.

sha_hello <- "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

serde_cases <- function(now) {
  base <- sprintf(paste0('{"schema_version": 1, "written_unix_secs": %s, ',
                         '"written_nanos": 5, "objective": 1.5, "iteration": 3, ',
                         '"kind": "Final", "checksum_hex": "%s", "payload_bytes": 5}'),
                  now, sha_hello)
  sub1 <- function(from, to) sub(from, to, base, fixed = TRUE)
  # Literal text throughout: sub()'s replacement would eat backslashes.
  add <- function(member) paste0(substr(base, 1, nchar(base) - 1), ", ", member, "}")
  drop <- function(field) sub(sprintf(', "%s": [^,]*', field), "", base)
  arr <- function(...) sprintf("[%s]", paste(c(...), collapse = ", "))
  rows <- list(
    list("plain", base, TRUE),
    list("trailing garbage", paste0(base, "x"), FALSE),
    list("trailing white space", paste0(base, " \n"), TRUE),
    list("trailing form feed", paste0(base, "\f"), FALSE),
    list("leading byte order mark", paste0("\ufeff", base), FALSE),
    list("iteration 5.0", sub1('"iteration": 3', '"iteration": 5.0'), FALSE),
    list("iteration 1e0", sub1('"iteration": 3', '"iteration": 1e0'), FALSE),
    list("iteration -0", sub1('"iteration": 3', '"iteration": -0'), FALSE),
    list("iteration 2^64 - 1", sub1('"iteration": 3', '"iteration": 18446744073709551615'), TRUE),
    list("iteration 2^64", sub1('"iteration": 3', '"iteration": 18446744073709551616'), FALSE),
    list("iteration 2^53 + 1", sub1('"iteration": 3', '"iteration": 9007199254740993'), TRUE),
    list("iteration null", sub1('"iteration": 3', '"iteration": null'), TRUE),
    list("iteration absent", drop("iteration"), TRUE),
    list("nanos 2e9 (a u32)", sub1('"written_nanos": 5', '"written_nanos": 2000000000'), TRUE),
    list("nanos null", sub1('"written_nanos": 5', '"written_nanos": null'), FALSE),
    list("nanos absent", drop("written_nanos"), TRUE),
    list("nanos -1", sub1('"written_nanos": 5', '"written_nanos": -1'), FALSE),
    list("objective absent", drop("objective"), TRUE),
    list("objective 2 (an integer)", sub1('"objective": 1.5', '"objective": 2'), TRUE),
    list("objective 1e400", sub1('"objective": 1.5', '"objective": 1e400'), FALSE),
    list("objective 1e-400", sub1('"objective": 1.5', '"objective": 1e-400'), TRUE),
    list("objective -0", sub1('"objective": 1.5', '"objective": -0'), TRUE),
    list("objective 01", sub1('"objective": 1.5', '"objective": 01'), FALSE),
    list("objective +1", sub1('"objective": 1.5', '"objective": +1'), FALSE),
    list("objective .5", sub1('"objective": 1.5', '"objective": .5'), FALSE),
    list("objective 1.", sub1('"objective": 1.5', '"objective": 1.'), FALSE),
    list("objective a string", sub1('"objective": 1.5', '"objective": "1.5"'), FALSE),
    list("objective 400 digits", sub1('"objective": 1.5',
                                      paste0('"objective": 1', strrep("0", 400))), FALSE),
    list("kind as a map", sub1('"kind": "Final"', '"kind": {"Final": null}'), TRUE),
    list("kind map with white space", sub1('"kind": "Final"', '"kind": { "Final" : null }'), TRUE),
    list("kind map of {}", sub1('"kind": "Final"', '"kind": {"Final": {}}'), FALSE),
    list("kind map of 1", sub1('"kind": "Final"', '"kind": {"Final": 1}'), FALSE),
    list("kind map, two keys", sub1('"kind": "Final"', '"kind": {"Final": null, "x": 1}'), FALSE),
    list("kind map, escaped key", sub1('"kind": "Final"', '"kind": {"Fin\\u0061l": null}'), TRUE),
    list("kind escaped", sub1('"kind": "Final"', '"kind": "Fin\\u0061l"'), TRUE),
    list("kind with \\u0000", sub1('"kind": "Final"', '"kind": "Final\\u0000"'), FALSE),
    list("kind with a lone surrogate", sub1('"kind": "Final"', '"kind": "Final\\ud800"'), FALSE),
    list("a key escaped", sub1('"kind": "Final"', '"kin\\u0064": "Final"'), TRUE),
    list("duplicate known field", add('"kind": "Final"'), FALSE),
    list("duplicate unknown field", add('"zz": 1, "zz": 2'), TRUE),
    list("unknown nested value", add('"zz": {"a": [1, {"b": null}]}'), TRUE),
    list("unknown, 1000 levels deep", add(paste0('"zz": ', strrep("[", 1000), strrep("]", 1000))), TRUE),
    list("control character in an unknown string", add('"zz": "a\001b"'), FALSE),
    list("tab in an unknown string", add('"zz": "a\tb"'), FALSE),
    list("bad escape in an unknown string", add('"zz": "\\x"'), FALSE),
    list("short \\u in an unknown string", add('"zz": "\\u12"'), FALSE),
    list("lone surrogate in an unknown string", add('"zz": "\\ud800"'), TRUE),
    list("lone surrogate in an unknown key", add('"z\\ud800": 1'), FALSE),
    list("vertical tab as white space", sub1(', "kind"', ',\v"kind"'), FALSE),
    list("CR LF TAB as white space", gsub(", ", ",\r\n\t", base, fixed = TRUE), TRUE),
    list("leading zero in an unknown number", add('"zz": 00'), FALSE),
    list("trailing comma", paste0(substr(base, 1, nchar(base) - 1), ", }"), FALSE),
    list("number as a key", add("1: 2"), FALSE),
    list("schema -1", sub1('"schema_version": 1', '"schema_version": -1'), FALSE),
    list("schema 2^32", sub1('"schema_version": 1', '"schema_version": 4294967296'), FALSE),
    list("schema 1.0", sub1('"schema_version": 1', '"schema_version": 1.0'), FALSE),
    list("schema true", sub1('"schema_version": 1', '"schema_version": true'), FALSE),
    list("checksum in upper case", sub1(sha_hello, toupper(sha_hello)), FALSE),
    list("payload_bytes not the size", sub1('"payload_bytes": 5', '"payload_bytes": 99'), TRUE),
    list("seconds 1.0e9 style", sub1(sprintf('"written_unix_secs": %s', now),
                                     sprintf('"written_unix_secs": %s.0', now)), FALSE),
    list("sequence form", arr(1, now, 5, 1.5, 3, '"Final"', sprintf('"%s"', sha_hello), 5), TRUE),
    list("sequence form, nulls", arr(1, now, 5, "null", "null", '"Final"',
                                     sprintf('"%s"', sha_hello), 5), TRUE),
    list("sequence form, kind map", arr(1, now, 5, 1.5, 3, '{"Final": null}',
                                        sprintf('"%s"', sha_hello), 5), TRUE),
    list("sequence form, 7 elements", arr(1, now, 5, 1.5, 3, '"Final"',
                                          sprintf('"%s"', sha_hello)), FALSE),
    list("sequence form, 9 elements", arr(1, now, 5, 1.5, 3, '"Final"',
                                          sprintf('"%s"', sha_hello), 5, 9), FALSE),
    list("objective with 600 digits", sub1('"objective": 1.5',
                                          paste0('"objective": 1.', strrep("0", 600))), TRUE),
    list("unknown key with \\u0000", add('"z\\u0000z": 1'), TRUE),
    list("100 members", add(paste(sprintf('"zz%d": %d', 1:92, 1:92), collapse = ", ")), TRUE),
    list("a meta of 100 KB", add(sprintf('"zz": "%s"', strrep("x", 1e5))), TRUE),
    list("null", "null", FALSE),
    list("empty", "", FALSE)
  )
  data.frame(case = vapply(rows, `[[`, "", 1), text = vapply(rows, `[[`, "", 2),
             rust = vapply(rows, `[[`, TRUE, 3), stringsAsFactors = FALSE)
}

# Invalid UTF-8 is written as bytes: R strings cannot hold it.
serde_byte_cases <- function(now, base) {
  open_end <- function(more) paste0(substr(base, 1, nchar(base) - 1), more)
  list(
    list(case = "invalid UTF-8 in an unknown string",
         bytes = c(charToRaw(open_end(', "zz": "a')), as.raw(0xff), charToRaw('"}')),
         rust = TRUE),
    list(case = "overlong UTF-8 in an unknown string",
         bytes = c(charToRaw(open_end(', "zz": "')), as.raw(c(0xc0, 0xaf)),
                   charToRaw('"}')), rust = TRUE),
    list(case = "invalid UTF-8 in an unknown key",
         bytes = c(charToRaw(open_end(', "z')), as.raw(0xff), charToRaw('": 1}')),
         rust = FALSE)
  )
}

write_case <- function(root, key, bytes) {
  dir <- file.path(root, key)
  dir.create(dir, recursive = TRUE, showWarnings = FALSE)
  writeBin(charToRaw("hello"), file.path(dir, "r1-1.bin"))
  writeBin(bytes, file.path(dir, "r1-1.json"))
  dir
}

test_that("metas are accepted and refused exactly where the Rust store does", {
  now <- format(floor(as.numeric(Sys.time())), scientific = FALSE)
  cases <- serde_cases(now)
  bytes <- c(lapply(cases$text, function(x) charToRaw(enc2utf8(x))),
             lapply(serde_byte_cases(now, cases$text[1]), `[[`, "bytes"))
  names <- c(cases$case, vapply(serde_byte_cases(now, cases$text[1]), `[[`, "", "case"))
  rust <- c(cases$rust, vapply(serde_byte_cases(now, cases$text[1]), `[[`, TRUE, "rust"))
  t <- temp_store()
  for (i in seq_along(bytes)) {
    key <- key_for(paste("serde", i))
    dir <- write_case(t$root, key, bytes[[i]])
    got <- ws_lookup(t$store, key)
    expect_identical(!is.null(got), rust[i], label = names[i])
    if (rust[i]) {
      expect_identical(got$payload, charToRaw("hello"), label = names[i])
    } else {
      expect_length(entry_files(dir), 0L)
    }
  }
  # The recorded answers are the Rust store's own.
  skip_without_refstore()
  r <- temp_store()
  for (i in seq_along(bytes)) {
    key <- key_for(paste("serde", i))
    write_case(r$root, key, bytes[[i]])
    expect_identical(!is.null(rust_lookup(r$root, key)), rust[i],
                     label = paste("refstore:", names[i]))
  }
})

test_that("our own fields are ours to judge: where we knowingly differ from serde", {
  now <- format(floor(as.numeric(Sys.time())), scientific = FALSE)
  base <- serde_cases(now)$text[1]
  add <- function(member) paste0(substr(base, 1, nchar(base) - 1), ", ", member, "}")
  t <- temp_store()
  # Our format field without our digest: a meta of ours, damaged (the
  # Rust store writes no such field, and ignores it).
  k1 <- key_for("serde ours 1")
  d1 <- write_case(t$root, k1, charToRaw(add('"payload_format": 5')))
  expect_null(ws_lookup(t$store, k1))
  expect_length(entry_files(d1), 0L)
  # A format we cannot decode in a meta of ours (a newer warmstart's):
  # kept, and not handed out.
  k3 <- key_for("serde ours 3")
  ws_save(t$store, k3, charToRaw("hello"))
  reseal(entry_files(key_dir(t, k3), "\\.json$"),
         edit = function(m) sub('"payload_format":"raw"', '"payload_format":"zstd"', m))
  warmstart:::ws_value_cache_clear()
  expect_null(ws_lookup(t$store, k3))
  expect_length(entry_files(key_dir(t, k3)), 2L)
  # A digest that is not ours to verify: corrupt (the Rust store ignores
  # it and returns the entry).
  k2 <- key_for("serde ours 2")
  d2 <- write_case(t$root, k2, charToRaw(add('"meta_sha256": 5')))
  expect_null(ws_lookup(t$store, k2))
  expect_length(entry_files(d2), 0L)
  skip_without_refstore()
  r <- temp_store()
  write_case(r$root, k1, charToRaw(add('"payload_format": 5')))
  write_case(r$root, k2, charToRaw(add('"meta_sha256": 5')))
  expect_false(is.null(rust_lookup(r$root, k1)))
  expect_false(is.null(rust_lookup(r$root, k2)))
})

test_that("values the Rust store reads exactly are read exactly", {
  now <- format(floor(as.numeric(Sys.time())), scientific = FALSE)
  cases <- serde_cases(now)
  t <- temp_store()
  one <- function(name) {
    key <- key_for(paste("serde value", name))
    write_case(t$root, key, charToRaw(cases$text[cases$case == name]))
    ws_list(t$store)[ws_list(t$store)$key == key, ]
  }
  expect_identical(one("iteration 2^64 - 1")$iteration, 2^64)
  expect_identical(one("objective -0")$objective, 0)
  expect_identical(one("objective 1e-400")$objective, 0)
  expect_identical(one("kind as a map")$kind, "final")
  # 2e9 nanoseconds: two seconds after the whole second.
  n <- one("nanos 2e9 (a u32)")
  expect_equal(as.numeric(n$written) - as.numeric(now), 2)
})
