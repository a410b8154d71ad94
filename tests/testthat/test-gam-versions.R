# The gam crate's stores after 0.3.122, as they write on disk (crafted here
# from their field lists; refstore, in test-interop.R, is 0.3.122 itself):
#   "0.3.122":  the 8 fields of schema v1;
#   "accessed": + accessed, accessed_unix_secs, accessed_nanos (a lookup
#               rewrites the meta with them; 0.3.122's ranking);
#   "producer": + producer (second field; a Final of another build is read
#               as a Checkpoint, any Final ranks over any Checkpoint).
# All pretty-printed by serde_json, with no field of ours.

gam_layouts <- list(
  "0.3.122" = c("schema_version", "written_unix_secs", "written_nanos",
                "objective", "iteration", "kind", "checksum_hex",
                "payload_bytes"),
  accessed = c("schema_version", "written_unix_secs", "written_nanos",
               "objective", "iteration", "kind", "checksum_hex",
               "payload_bytes", "accessed", "accessed_unix_secs",
               "accessed_nanos"),
  producer = c("schema_version", "producer", "written_unix_secs",
               "written_nanos", "objective", "iteration", "kind",
               "checksum_hex", "payload_bytes", "accessed",
               "accessed_unix_secs", "accessed_nanos")
)

# A gam build's producer identity: 64 hex digits.
gam_producer <- strrep("5e", 32)

# Lowercase hex SHA-256 of a raw vector (the package's own, src/core).
sha256_hex <- function(bytes) warmstart:::ws_sha256(bytes)

now_secs <- function() floor(as.numeric(Sys.time()))
int_text <- function(x) format(x, scientific = FALSE)

# A meta as the given gam layout writes it (serde_json::to_vec_pretty).
gam_meta <- function(layout, payload, written = now_secs(), nanos = 0,
                     objective = NULL, iteration = NULL, kind = "Checkpoint",
                     producer = gam_producer, accessed = FALSE,
                     accessed_at = 0, accessed_nanos = 0, extra = list()) {
  values <- list(
    schema_version = "1",
    producer = sprintf('"%s"', producer),
    written_unix_secs = int_text(written),
    written_nanos = int_text(nanos),
    objective = if (is.null(objective)) "null" else sprintf("%.17g", objective),
    iteration = if (is.null(iteration)) "null" else int_text(iteration),
    kind = sprintf('"%s"', kind),
    checksum_hex = sprintf('"%s"', sha256_hex(payload)),
    payload_bytes = int_text(length(payload)),
    accessed = if (accessed) "true" else "false",
    accessed_unix_secs = int_text(accessed_at),
    accessed_nanos = int_text(accessed_nanos)
  )[gam_layouts[[layout]]]
  values <- c(values, extra)
  paste0("{\n", paste0('  "', names(values), '": ', unlist(values),
                       collapse = ",\n"), "\n}")
}

# A meta with our digest as its last member (what every warmstart writes;
# a meta with our format field but without it is one of ours, damaged).
sealed <- function(meta) {
  body <- sub("\\s*}\\s*$", "", meta)
  paste0(body, sprintf(',"meta_sha256":"%s"}',
                       warmstart:::ws_sha256(paste0(body, "}"))))
}

write_gam_entry <- function(root, key, run_id, payload, meta) {
  dir <- file.path(root, key)
  dir.create(dir, showWarnings = FALSE, recursive = TRUE)
  writeBin(payload, file.path(dir, paste0(run_id, ".bin")))
  writeChar(meta, file.path(dir, paste0(run_id, ".json")), eos = NULL)
  dir
}

read_meta_text <- function(dir, run_id) {
  f <- file.path(dir, paste0(run_id, ".json"))
  readChar(f, file.size(f), useBytes = TRUE)
}

# What a later gam store's lookup leaves of one of our metas: only its own
# fields, the kind as that build reads it (a Final of another producer
# becomes a Checkpoint), marked accessed, pretty-printed.
gam_rewrite <- function(dir, run_id) {
  text <- read_meta_text(dir, run_id)
  field <- function(name) {
    sub(sprintf('.*"%s":("[^"]*"|[^,}]*).*', name), "\\1", text)
  }
  values <- list(
    schema_version = field("schema_version"), producer = field("producer"),
    written_unix_secs = field("written_unix_secs"),
    written_nanos = field("written_nanos"), objective = field("objective"),
    iteration = field("iteration"), kind = '"Checkpoint"',
    checksum_hex = field("checksum_hex"), payload_bytes = field("payload_bytes"),
    accessed = "true", accessed_unix_secs = int_text(now_secs()),
    accessed_nanos = "7"
  )
  writeChar(paste0("{\n", paste0('  "', names(values), '": ', unlist(values),
                                 collapse = ",\n"), "\n}"),
            file.path(dir, paste0(run_id, ".json")), eos = NULL)
}

ckpt_id <- "ckpt-r1a2-17f0c3d2e4a5b6c7"

test_that("the gam crate's checkpoint run ids are entries like any other", {
  t <- temp_store(size_budget = Inf, ttl = 60)
  key <- key_for("gam run ids")
  dir <- write_gam_entry(t$root, key, ckpt_id, charToRaw("ckpt"),
                         gam_meta("producer", charToRaw("ckpt"), objective = 2))
  write_gam_entry(t$root, key, "r1a2-17f0c3d2e4a5b6c8", charToRaw("final"),
                  gam_meta("0.3.122", charToRaw("final"), objective = 3,
                           kind = "Final"))
  expect_identical(ws_lookup(t$store, key)$run_id, ckpt_id)
  expect_identical(rawToChar(ws_lookup(t$store, key)$payload), "ckpt")
  l <- ws_list(t$store)
  expect_setequal(l$run_id, c(ckpt_id, "r1a2-17f0c3d2e4a5b6c8"))
  # Counted at their size on disk, as the budget counts them.
  expect_identical(ws_info(t$store)$bytes, bytes_on_disk(t$root))
  expect_gt(ws_info(t$store)$bytes, 0)
  # An overwrite by run id, as the gam crate's sessions make.
  ws_save(t$store, key, charToRaw("ckpt v2"), objective = 1, run_id = ckpt_id)
  expect_identical(rawToChar(ws_lookup(t$store, key)$payload), "ckpt v2")
  expect_length(entry_files(dir), 4L)
  # A payload left without its meta, an hour old: swept; a fresh one: kept.
  orphan <- file.path(dir, "ckpt-r1a2-17f0c3d2e4a5b6c9.bin")
  young <- file.path(dir, "ckpt-r1a2-17f0c3d2e4a5b6ca.bin")
  writeBin(charToRaw("orphan"), orphan)
  writeBin(charToRaw("young"), young)
  Sys.setFileTime(orphan, Sys.time() - 7200)
  ws_evict(t$store)
  expect_false(file.exists(orphan))
  expect_true(file.exists(young))
  # Over budget, they go like ours; expired, too.
  small <- ws_open(t$root, size_budget = 1, ttl = 60)
  ws_evict(small)
  expect_identical(nrow(ws_list(t$store)), 0L)
  write_gam_entry(t$root, key, ckpt_id, charToRaw("ckpt"),
                  gam_meta("producer", charToRaw("ckpt")))
  warmstart:::ws_advance_time(t$store, 61)
  expect_identical(ws_evict(t$store)$entries, 0)
  expect_false(file.exists(file.path(dir, paste0(ckpt_id, ".json"))))
})

test_that("each gam layout is read, with its newer fields, under both semantics", {
  for (layout in names(gam_layouts)) {
    for (semantics in c("0.3.122", "access")) {
      t <- temp_store(semantics = semantics)
      key <- key_for(paste("layout", layout))
      p <- charToRaw(paste("payload of", layout))
      write_gam_entry(t$root, key, ckpt_id, p,
                      gam_meta(layout, p, objective = 0.25, iteration = 2^60,
                               accessed = TRUE, accessed_at = now_secs() - 5))
      got <- ws_lookup(t$store, key)
      label <- paste(layout, semantics)
      expect_identical(got$payload, p, label = label)
      expect_identical(got$objective, 0.25, label = label)
      expect_identical(got$iteration, 2^60, label = label)
      expect_identical(got$producer,
                       if (layout == "producer") gam_producer else NA_character_,
                       label = label)
      if (layout == "0.3.122") {
        expect_true(is.na(got$accessed), label = label)
      } else {
        expect_equal(as.numeric(got$accessed), now_secs() - 5, label = label)
      }
    }
  }
})

test_that("a newer field of the wrong type makes a corrupt meta, as serde does", {
  t <- temp_store()
  p <- charToRaw("x")
  bad <- list(accessed = list(accessed = "1"),
              accessed_null = list(accessed = "null"),
              accessed_secs = list(accessed_unix_secs = "-1"),
              accessed_nanos = list(accessed_nanos = "4294967296"),
              producer = list(producer = "5"))
  for (case in names(bad)) {
    key <- key_for(paste("newer field", case))
    meta <- gam_meta("producer", p)
    for (f in names(bad[[case]])) {
      meta <- sub(sprintf('"%s": [^,\n]*', f),
                  sprintf('"%s": %s', f, bad[[case]][[f]]), meta)
    }
    dir <- write_gam_entry(t$root, key, ckpt_id, p, meta)
    expect_null(ws_lookup(t$store, key), label = case)
    expect_length(entry_files(dir), 0L)
  }
})

test_that("under the access semantics any Final ranks first, and only ours certify", {
  key <- key_for("ranking")
  now <- now_secs()
  setup <- function(t) {
    # A checkpoint of ours with the lowest objective, a Final of ours, a
    # newer Final of ours with a worse objective, and a gam Final.
    ws_save(t$store, key, charToRaw("our checkpoint"), objective = 0.5)
    ws_save(t$store, key, charToRaw("our final"), objective = 2, kind = "final")
    warmstart:::ws_advance_time(t$store, 0.01)
    ws_save(t$store, key, charToRaw("our newer final"), objective = 3,
            kind = "final")
    p <- charToRaw("gam final")
    write_gam_entry(t$root, key, ckpt_id, p,
                    gam_meta("producer", p, written = now + 5, objective = 0.1,
                             kind = "Final"))
  }
  old <- temp_store()
  setup(old)
  got <- ws_lookup(old$store, key)
  expect_identical(rawToChar(got$payload), "gam final")
  expect_identical(got$kind, "final")
  new <- temp_store(semantics = "access")
  setup(new)
  got <- ws_lookup(new$store, key)
  # Finals first, the newest of them; the gam crate's is read as a
  # checkpoint (another build wrote it), although it is newer and lower.
  expect_identical(rawToChar(got$payload), "our newer final")
  l <- ws_list(new$store)
  expect_identical(l$kind[l$run_id == ckpt_id], "checkpoint")
  # With no Final of ours, checkpoints rank by objective as before.
  ws_remove(new$store, key)
  setup2 <- function(t) {
    p <- charToRaw("gam final")
    write_gam_entry(t$root, key, ckpt_id, p,
                    gam_meta("producer", p, objective = 0.9, kind = "Final"))
    ws_save(t$store, key, charToRaw("low"), objective = 0.5)
  }
  setup2(new)
  expect_identical(rawToChar(ws_lookup(new$store, key)$payload), "low")
  # A Final of warmstart before producers (payload_format, no producer) is
  # ours; a 0.3.122 Rust Final is not.
  ws_remove(new$store, key)
  p <- charToRaw("old warmstart final")
  write_gam_entry(new$root, key, "r1-1", p,
                  sealed(sub('"payload_bytes": ([0-9]+)',
                             '"payload_bytes": \\1,\n  "payload_format": "raw"',
                             gam_meta("0.3.122", p, objective = 9, kind = "Final"))))
  q <- charToRaw("rust 0.3.122 final")
  write_gam_entry(new$root, key, "r1-2", q,
                  gam_meta("0.3.122", q, written = now + 5, objective = 9,
                           kind = "Final"))
  expect_identical(rawToChar(ws_lookup(new$store, key)$payload),
                   "old warmstart final")
  expect_identical(rawToChar(ws_lookup(ws_open(new$root), key)$payload),
                   "rust 0.3.122 final")
})

test_that("under the access semantics the TTL counts from the last access", {
  for (semantics in c("0.3.122", "access")) {
    t <- temp_store(ttl = 3600, semantics = semantics)
    key <- key_for("ttl from access")
    p <- charToRaw("read recently")
    dir <- write_gam_entry(t$root, key, ckpt_id, p,
                           gam_meta("accessed", p, written = now_secs() - 7200,
                                    accessed = TRUE,
                                    accessed_at = now_secs() - 600))
    got <- ws_lookup(t$store, key)
    if (semantics == "access") {
      expect_identical(got$payload, p)
    } else {
      expect_null(got)
      expect_length(entry_files(dir), 0L)
    }
  }
})

test_that("over budget, the access semantics evict never-read entries first", {
  payload <- as.raw(rep(1, 20000))
  for (semantics in c("0.3.122", "access")) {
    root <- tempfile("evict-order-")
    withr::defer(unlink(root, recursive = TRUE))
    dir.create(root)
    now <- now_secs()
    # Oldest write, read since; then two never read, newer.
    write_gam_entry(root, key_for("evict read"), ckpt_id, payload,
                    gam_meta("accessed", payload, written = now - 300,
                             accessed = TRUE, accessed_at = now - 10))
    write_gam_entry(root, key_for("evict unread 1"), ckpt_id, payload,
                    gam_meta("accessed", payload, written = now - 200))
    write_gam_entry(root, key_for("evict unread 2"), ckpt_id, payload,
                    gam_meta("accessed", payload, written = now - 100))
    # A budget that one eviction (of an entry, ~20 KB) brings the store
    # under, to its low-water mark (90%).
    st <- ws_open(root, size_budget = bytes_on_disk(root) * 2.5 / 3,
                  ttl = 3600, semantics = semantics)
    ws_evict(st)
    left <- ws_list(st)$key
    if (semantics == "access") {
      expect_setequal(left, c(key_for("evict read"), key_for("evict unread 2")))
    } else {
      expect_setequal(left, c(key_for("evict unread 1"), key_for("evict unread 2")))
    }
  }
})

test_that("a lookup under the access semantics records the access, keeping every field", {
  t <- temp_store(semantics = "access")
  key <- key_for("record access")
  p <- charToRaw("gam entry")
  dir <- write_gam_entry(t$root, key, ckpt_id, p,
                         gam_meta("producer", p, objective = 1, kind = "Final",
                                  extra = list(future = '{"a": [1, 2.50]}')))
  before <- read_meta_text(dir, ckpt_id)
  t0 <- as.numeric(Sys.time())
  got <- ws_lookup(t$store, key)
  expect_true(is.na(got$accessed)) # the access before this one: none
  after <- read_meta_text(dir, ckpt_id)
  expect_match(after, '"accessed":true')
  expect_match(after, '"future": ?\\{"a": \\[1, 2.50\\]\\}')
  expect_match(after, sprintf('"producer": ?"%s"', gam_producer))
  expect_match(after, '"kind": ?"Final"') # as written, unlike the Rust store
  expect_match(after, '"meta_sha256":"[0-9a-f]{64}"\\}$')
  written <- function(x) sub('.*"written_unix_secs": ?([0-9]+).*', "\\1", x)
  expect_identical(written(after), written(before))
  l <- ws_list(t$store)
  expect_gte(as.numeric(l$accessed), t0 - 1)
  # A second lookup moves the stamp on, and sees the first.
  again <- ws_lookup(t$store, key)
  expect_equal(as.numeric(again$accessed), as.numeric(l$accessed))
  expect_gt(as.numeric(ws_list(t$store)$accessed), as.numeric(l$accessed))
  # The digest covers the rewritten text: damage it and the entry is gone.
  damaged <- sub('"objective": ?1', '"objective":0', read_meta_text(dir, ckpt_id))
  writeChar(damaged, file.path(dir, paste0(ckpt_id, ".json")), eos = NULL)
  expect_null(ws_lookup(t$store, key))
  # Under the 0.3.122 semantics nothing is rewritten.
  old <- temp_store()
  dir <- write_gam_entry(old$root, key, ckpt_id, p, gam_meta("producer", p))
  before <- read_meta_text(dir, ckpt_id)
  ws_lookup(old$store, key)
  ws_lookup_latest(old$store, key)
  expect_identical(read_meta_text(dir, ckpt_id), before)
})

test_that("an access is not recorded where the meta would grow past what is read", {
  t <- temp_store(semantics = "access")
  p <- charToRaw("x")
  # Just under the 16 MiB a meta may take: the access stamp would pass it,
  # and the entry would then be left alone by every reader.
  short <- gam_meta("producer", p, extra = list(zz = '""'))
  filler <- strrep("a", 16 * 1024^2 - 10 - nchar(short))
  cases <- list(bytes = gam_meta("producer", p,
                                 extra = list(zz = sprintf('"%s"', filler))))
  expect_identical(nchar(cases$bytes), as.integer(16 * 1024^2 - 10))
  for (case in names(cases)) {
    key <- key_for(paste("no room for an access", case))
    dir <- write_gam_entry(t$root, key, ckpt_id, p, cases[[case]])
    before <- read_meta_text(dir, ckpt_id)
    expect_identical(ws_lookup(t$store, key)$payload, p, label = case)
    expect_identical(read_meta_text(dir, ckpt_id), before, label = case)
    expect_identical(ws_lookup(t$store, key)$payload, p, label = case)
  }
})

test_that("on a read-only store a lookup records no access and still works", {
  skip_on_cran()
  skip_on_os(c("windows", "mac", "solaris"))
  if (Sys.which("mount") == "" || system2("id", "-u", stdout = TRUE) != "0") {
    skip_no_privilege("mount needs root")
  }
  t <- temp_store(semantics = "access")
  key <- key_for("read-only access")
  ws_save(t$store, key, list(kept = TRUE), objective = 1)
  dir <- key_dir(t, key)
  before <- snapshot(t$root)
  if (suppressWarnings(system2("mount", c("--bind", t$root, t$root),
                               stdout = FALSE, stderr = FALSE)) != 0) {
    skip("mount is not permitted here")
  }
  withr::defer(system2("umount", t$root), priority = "first")
  stopifnot(system2("mount", c("-o", "remount,ro,bind", t$root)) == 0)
  ro <- ws_open(t$root, semantics = "access")
  expect_identical(ws_lookup(ro, key)$payload, list(kept = TRUE))
  expect_identical(ws_lookup_latest(ro, key)$payload, list(kept = TRUE))
  expect_identical(snapshot(t$root), before)
})

test_that("an R value survives a gam lookup that drops our fields", {
  for (semantics in c("0.3.122", "access")) {
    t <- temp_store(semantics = semantics)
    values <- list(list(a = 1, b = letters), NULL,
                   # A raw vector that begins like a serialization is stored
                   # as an R value, so it comes back as itself.
                   serialize(1:3, NULL, version = 3L, xdr = FALSE),
                   as.raw(0:255), raw(0))
    for (i in seq_along(values)) {
      key <- key_for(paste("survives", i))
      id <- ws_save(t$store, key, values[[i]], objective = 1, kind = "final")
      dir <- key_dir(t, key)
      gam_rewrite(dir, id)
      text <- read_meta_text(dir, id)
      expect_false(grepl("payload_format|meta_sha256", text))
      got <- ws_lookup(t$store, key)
      expect_identical(got$payload, values[[i]], label = paste(semantics, i))
      expect_identical(got$producer, paste("warmstart", packageVersion("warmstart")))
      # The gam store wrote it back as a Checkpoint; ours still reads it so.
      expect_identical(got$kind, "checkpoint")
    }
  }
})

test_that("bytes with an R header that do not decode are returned raw, not deleted", {
  t <- temp_store()
  key <- key_for("header only")
  p <- serialize(list(1, 2), NULL, version = 3L, xdr = FALSE)
  p <- p[seq_len(length(p) - 8L)] # the header, then a truncated body
  dir <- write_gam_entry(t$root, key, ckpt_id, p, gam_meta("producer", p))
  expect_silent(got <- ws_lookup(t$store, key))
  expect_identical(got$payload, p)
  expect_length(entry_files(dir), 2L)
  # A meta that states "raw" (an older warmstart's) is taken at its word.
  whole <- serialize(1:3, NULL, version = 3L, xdr = FALSE)
  key2 <- key_for("stated raw")
  write_gam_entry(t$root, key2, "r1-1", whole,
                  sealed(sub('"payload_bytes": ([0-9]+)',
                             '"payload_bytes": \\1,\n  "payload_format": "raw"',
                             gam_meta("0.3.122", whole))))
  expect_identical(ws_lookup(t$store, key2)$payload, whole)
  expect_true(warmstart:::ws_is_r_serialization(p))
  expect_false(warmstart:::ws_is_r_serialization(charToRaw("B\nnot really")))
})

test_that("a gam lookup's temps are judged like any writer's", {
  t <- temp_store()
  key <- key_for("gam touch temps")
  p <- charToRaw("x")
  dir <- write_gam_entry(t$root, key, ckpt_id, p, gam_meta("producer", p))
  young <- file.path(dir, paste0(ckpt_id, ".json.touch.tmp.", dead_pid_portable(), ".17"))
  old <- file.path(dir, paste0(ckpt_id, ".json.touch.tmp.", dead_pid_portable(), ".18"))
  writeLines("{", young)
  writeLines("{", old)
  Sys.setFileTime(old, Sys.time() - 7200)
  ws_evict(t$store)
  expect_true(file.exists(young))
  expect_false(file.exists(old))
  expect_identical(ws_lookup(t$store, key)$payload, p)
})
