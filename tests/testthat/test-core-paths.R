# Paths of the C core that an ordinary run seldom takes, each reached on
# purpose and its outcome checked: metas written by warmstart 0.1.0 (their
# fixed-layout digest), claims whose file is a FIFO, cannot be locked or is
# removed under them, a large payload (hashed on a second thread) whose
# read fails, system calls on the root, key dir and new files failing (by
# the shim, fault-shim.c), files others can write, names and JSON beyond
# ASCII, serialization streams the promise guard's reader refuses.

# ---- 0.1.0's metas -------------------------------------------------------

# n bytes of v, little-endian (v < 2^53).
le_bytes <- function(v, n) as.raw((v %/% 256^(0:(n - 1))) %% 256)

# The digest warmstart 0.1.0 wrote into meta_sha256 (src/core/meta.c,
# legacy_digest()): SHA-256 of the fields in a fixed little-endian layout.
legacy_digest <- function(written, nanos, objective, iteration, final,
                          checksum, bytes, rds) {
  warmstart:::ws_sha256(c(
    le_bytes(1, 4), le_bytes(written, 8), le_bytes(nanos, 4),
    le_bytes(1, 1), writeBin(objective, raw(), size = 8, endian = "little"),
    le_bytes(1, 1), le_bytes(iteration, 8), le_bytes(as.integer(final), 1),
    charToRaw(checksum), le_bytes(bytes, 8), le_bytes(as.integer(rds), 1)))
}

# A meta as 0.1.0 wrote it: the Rust fields, payload_format, and the digest
# of its fields (no producer, no access fields), taken over `digest_of` as
# the objective (another value than `objective`: a meta edited since).
legacy_meta <- function(payload, written, nanos, objective, iteration,
                        digest_of = objective) {
  checksum <- warmstart:::ws_sha256(payload)
  digest <- legacy_digest(written, nanos, digest_of, iteration, TRUE, checksum,
                          length(payload), FALSE)
  sprintf(paste0('{"schema_version":1,"written_unix_secs":%.0f,"written_nanos":%d,',
                 '"objective":%.17g,"iteration":%d,"kind":"Final",',
                 '"checksum_hex":"%s","payload_bytes":%d,"payload_format":"raw",',
                 '"meta_sha256":"%s"}'),
          written, nanos, objective, iteration, checksum, length(payload), digest)
}

test_that("a meta written by 0.1.0 (its fixed-layout digest) is read, and one changed since is not", {
  t <- temp_store(ttl = 0)
  key <- key_for("0.1.0 legacy digest")
  dir <- file.path(t$root, key)
  dir.create(dir)
  payload <- charToRaw("written by warmstart 0.1.0")
  written <- as.numeric(Sys.time()) %/% 1 - 10
  writeBin(payload, file.path(dir, "old.bin"))
  writeChar(legacy_meta(payload, written, 12345L, 0.25, 7L),
            file.path(dir, "old.json"), eos = NULL)
  e <- ws_lookup(t$store, key)
  expect_identical(e$run_id, "old")
  expect_identical(e$payload, payload)
  expect_identical(e$objective, 0.25)
  expect_identical(e$iteration, 7)
  expect_identical(e$kind, "final")

  # The same entry with a better objective than its digest was taken over
  # (someone edited the meta): it does not match its own checksum.
  key2 <- key_for("0.1.0 legacy digest, edited")
  dir2 <- file.path(t$root, key2)
  dir.create(dir2)
  writeBin(payload, file.path(dir2, "edited.bin"))
  writeChar(legacy_meta(payload, written, 12345L, 0.125, 7L, digest_of = 0.25),
            file.path(dir2, "edited.json"), eos = NULL)
  expect_null(ws_lookup(t$store, key2))
  # A byte of the digest itself wrong: the same.
  key3 <- key_for("0.1.0 legacy digest, wrong digest")
  dir3 <- file.path(t$root, key3)
  dir.create(dir3)
  writeBin(payload, file.path(dir3, "bad.bin"))
  good <- legacy_meta(payload, written, 12345L, 0.25, 7L)
  bad <- sub('"meta_sha256":"(.)', '"meta_sha256":"\\1\\1', good)
  bad <- sub('(:"[0-9a-f]{64})[0-9a-f]"}$', "\\1\"}", bad)
  expect_false(identical(bad, good))
  writeChar(bad, file.path(dir3, "bad.json"), eos = NULL)
  expect_null(ws_lookup(t$store, key3))
})

# ---- claims --------------------------------------------------------------

claim_of <- function(store, key) .Call(warmstart:::C_ws_claim, store, key)

test_that("a FIFO planted where a claim goes is no claim: an I/O error, the FIFO left, the value computed", {
  skip_on_os("windows")
  if (!nzchar(Sys.which("mkfifo"))) skip_no_tool("mkfifo")
  t <- temp_store()
  key <- key_for("claim is a fifo")
  claims <- file.path(t$root, ".warmstart", "claims")
  dir.create(claims, recursive = TRUE, showWarnings = FALSE)
  fifo <- file.path(claims, key)
  expect_identical(system2("mkfifo", shQuote(fifo)), 0L)
  expect_error(claim_of(t$store, key), class = "ws_io_error")
  # Left as it was: a FIFO, not replaced, not removed.
  expect_identical(system2("test", c("-p", shQuote(fifo))), 0L)
  # ws_compute() takes an unclaimable key as "compute it here".
  expect_identical(ws_compute(t$store, key, "computed"), "computed")
  expect_identical(ws_lookup(t$store, key)$payload, "computed")
  expect_identical(system2("test", c("-p", shQuote(fifo))), 0L)
})

# A claim taken in a child with the shim's faults armed; the child reports
# "claimed", "held" (NULL: someone else holds it) or the error it got, and
# which claim files were left.
claim_case <- function(t, key, faults, env = parent.frame()) {
  shim_start(c(
    sprintf("s <- ws_open(%s)", lit(t$root)),
    sprintf("r <- catch(.Call(warmstart:::C_ws_claim, s, %s))", lit(key)),
    "got <- if (is.null(r)) 'held' else if (is.list(r)) r else 'claimed'",
    sprintf("left <- list.files(%s)", lit(file.path(t$root, ".warmstart", "claims"))),
    "list(got = got, left = left)"),
    faults = faults, env = env)
}

test_that("a claim that cannot be locked (EIO) is an I/O error; where locks are unsupported everyone gets one", {
  t <- temp_store()
  t$root <- normalizePath(t$root)
  key <- key_for("claim lock faults")
  t2 <- temp_store()
  t2$root <- normalizePath(t2$root)
  here <- environment()
  runs <- list(
    eio = claim_case(t, key, "flock:*/claims/*:1+:EIO", env = here),
    enolck = claim_case(t, key, "flock:*/claims/*:1+:ENOLCK", env = here),
    # The claims directory cannot be made (EACCES): an I/O error too. (A
    # store of its own: in the first one the others may have made it.)
    mkdir = claim_case(t2, key, "mkdir:*/claims:1+:EACCES", env = here))
  eio <- shim_wait(runs$eio)
  expect_true("ws_io_error" %in% eio$got$error)
  expect_identical(eio$got$code, "EIO")
  enolck <- shim_wait(runs$enolck)
  expect_identical(enolck$got, "claimed")
  mkdir <- shim_wait(runs$mkdir)
  expect_true("ws_io_error" %in% mkdir$got$error)
  expect_identical(mkdir$got$code, "EACCES")
})

test_that("a claim whose file is removed before it is locked is taken again on a new file; one that never holds still reads as held", {
  t <- temp_store()
  t$root <- normalizePath(t$root)
  key <- key_for("claim file removed")
  here <- environment()
  # Once: as when the holder let go (and removed the file) between our
  # open and our lock. Every time: it keeps changing hands.
  # (Keys of their own: the children run at once, and a child's claim
  # lasts until it exits.)
  key2 <- key_for("claim file removed, always")
  key3 <- key_for("claim held by a live handle")
  once <- claim_case(t, key, "flock:*/claims/*:1:remove", env = here)
  always <- claim_case(t, key2, "flock:*/claims/*:1+:remove", env = here)
  r1 <- shim_wait(once)
  expect_identical(r1$got, "claimed")
  expect_true(key %in% r1$left)
  r2 <- shim_wait(always)
  expect_identical(r2$got, "held")
  expect_false(key2 %in% r2$left)
  # A live holder elsewhere: NULL here too, and its file stays.
  key <- key3
  h <- claim_of(t$store, key)
  expect_false(is.null(h))
  s2 <- ws_open(t$root)
  expect_null(claim_of(s2, key))
  expect_true(file.exists(file.path(t$root, ".warmstart", "claims", key)))
  .Call(warmstart:::C_ws_release, h)
  expect_false(file.exists(file.path(t$root, ".warmstart", "claims", key)))
})

# ---- large payloads: read on one thread, hashed on another ----------------

test_that("a large payload whose read fails midway is an I/O error, and the entry is kept", {
  t <- temp_store(size_budget = 64 * 1024^2)
  t$root <- normalizePath(t$root)
  key <- key_for("large payload read error")
  # 9 MiB: above the size from which a second thread hashes.
  payload <- as.raw(rep_len(0:255, 9 * 1024^2))
  id <- ws_save(t$store, key, payload, objective = 1)
  dir <- file.path(t$root, key)
  before <- sort(list.files(dir))
  here <- environment()
  run <- function(fault) shim_start(c(
    sprintf("s <- ws_open(%s)", lit(t$root)),
    sprintf("r <- catch(ws_lookup(s, %s))", lit(key)),
    "if (inherits(r, 'ws_entry')) list(run_id = r$run_id, n = length(r$payload)) else r"),
    faults = fault, env = here)
  runs <- list(eio = run(sprintf("read:*/%s.bin:3:EIO", id)),
               short = run(sprintf("read:*/%s.bin:2:short", id)))
  eio <- shim_wait(runs$eio)
  expect_true("ws_io_error" %in% eio$error)
  expect_identical(eio$code, "EIO")
  short <- shim_wait(runs$short)
  # A short read is no payload of the stated size: never returned, an
  # I/O error instead (the file is not proven damaged).
  expect_true("ws_io_error" %in% short$error)
  expect_identical(short$code, "EIO")
  expect_identical(sort(list.files(dir)), before)
  e <- ws_lookup(t$store, key)
  expect_identical(e$run_id, id)
  expect_identical(e$payload, payload)
})

# ---- the store root ------------------------------------------------------

test_that("a root that cannot be opened or stat'ed once resolved is an I/O error naming it, and nothing is made", {
  t <- temp_store()
  root <- normalizePath(t$root)
  before <- sort(list.files(root, recursive = TRUE, all.files = TRUE))
  here <- environment()
  run <- function(fault) shim_start(c(
    sprintf("r <- catch(ws_open(%s))", lit(root)),
    "if (is.list(r)) r else 'opened'"),
    faults = fault, env = here)
  runs <- list(open = run(sprintf("open:%s:1+:EACCES", root)),
               fstat = run(sprintf("fstat:%s:1+:EIO", root)))
  for (name in names(runs)) {
    r <- shim_wait(runs[[name]])
    expect_true("ws_io_error" %in% r$error, label = name)
    expect_identical(r$code, c(open = "EACCES", fstat = "EIO")[[name]], label = name)
    expect_identical(r$path, root, label = name)
  }
  expect_identical(sort(list.files(root, recursive = TRUE, all.files = TRUE)), before)
})

# ---- modes of what a store makes ------------------------------------------

test_that("a claim file has the store's mode while held: 0600 (user), 0660 (group, whatever the umask), 0644 less the umask (any)", {
  skip_on_os("windows")
  old <- Sys.umask("077")
  withr::defer(Sys.umask(old))
  key <- key_for("claim modes")
  mode_of <- function(trust, ...) {
    root <- tempfile("ws-claim-mode-")
    withr::defer(unlink(root, recursive = TRUE))
    s <- ws_open(root, trust = trust, ...)
    h <- claim_of(s, key)
    path <- file.path(root, ".warmstart", "claims", key)
    m <- file.info(path)$mode
    .Call(warmstart:::C_ws_release, h)
    expect_false(file.exists(path))
    m
  }
  expect_identical(mode_of("user"), as.octmode("600"))
  expect_identical(mode_of("group"), as.octmode("660"))
  # trust = "any" leaves modes to the umask (here 077: 0644 -> 0600).
  expect_identical(mode_of("any", secret = "s3cret-for-claim-modes"), as.octmode("600"))
  Sys.umask("022")
  expect_identical(mode_of("any", secret = "s3cret-for-claim-modes"), as.octmode("644"))
})

test_that("in a trust = 'any' store, entry files are 0644 less the umask", {
  skip_on_os("windows")
  old <- Sys.umask("027")
  withr::defer(Sys.umask(old))
  root <- tempfile("ws-any-mode-")
  withr::defer(unlink(root, recursive = TRUE))
  s <- ws_open(root, trust = "any", secret = "s3cret-for-file-modes")
  key <- key_for("any modes")
  id <- ws_save(s, key, charToRaw("x"))
  modes <- file.info(file.path(root, key, paste0(id, c(".bin", ".json"))))$mode
  expect_identical(modes, as.octmode(c("640", "640")))
})

# ---- R serialization streams: what the promise guard's reader refuses ----

test_that("the stream reader reads long lengths and weak references as R does, and refuses malformed items", {
  chk <- warmstart:::ws_rstream_check
  h <- stream_header()
  # R's own answer for a stream: "ok" when unserialize() reads it.
  r_reads <- function(bytes) tryCatch({
    unserialize(bytes)
    "ok"
  }, error = function(e) "malformed")
  ok_cases <- list(
    # A raw vector with a long length (-1, then its high and low words).
    long_raw = c(h, stream_int(24L, -1L, 0L, 3L), as.raw(1:3)),
    # A weak reference (no data of its own).
    weakref = c(h, stream_int(23L)))
  for (name in names(ok_cases)) {
    expect_identical(chk(ok_cases[[name]]), "ok", label = name)
    expect_identical(r_reads(ok_cases[[name]]), "ok", label = name)
  }
  expect_identical(unserialize(ok_cases$long_raw), as.raw(1:3))
  bc <- c(h, stream_int(21L, 1L), stream_item(12L), stream_int(1L))
  # The same byte code whose constant refers to the one cell there is.
  expect_identical(chk(c(bc, stream_int(243L, 0L))), "ok")
  bad_cases <- list(
    long_truncated = c(h, stream_int(24L, -1L, 0L)),
    long_too_long = c(h, stream_int(24L, -1L, 65537L, 0L)),
    ref_truncated = c(h, stream_int(255L)),
    # A namespace's strings begin with a 0 (InStringVec).
    namespace_not_zero = c(h, stream_int(249L, 1L, 1L)),
    builtin_negative = c(h, stream_int(8L, -1L)),
    unknown_type = c(h, stream_int(99L)),
    header_truncated = h[1:6],
    native_encoding_too_long = c(h[1:14], stream_int(1e6L)),
    version_4 = c(h[1:2], stream_int(4L), h[7:14], stream_int(254L)),
    # Byte code with one shared cell (reps = 1), its code, one constant: a
    # reference to a cell past the table, a definition of one, and a
    # definition of a cell as something other than a call or list.
    bc_ref_out_of_range = c(bc, stream_int(243L, 1L)),
    bc_def_out_of_range = c(bc, stream_int(244L, 1L, 6L)),
    bc_def_not_a_call = c(bc, stream_int(244L, 0L, 14L)))
  for (name in names(bad_cases)) {
    # (Not given to unserialize(): some of these crash R, which is why the
    # reader exists.)
    expect_identical(chk(bad_cases[[name]]), "malformed", label = name)
  }
})

# ---- a key directory that cannot be read right now -----------------------

test_that("a key directory that cannot be opened or stat'ed is an I/O error naming it, and its entry is kept", {
  t <- temp_store()
  t$root <- normalizePath(t$root)
  key <- key_for("key dir faults")
  id <- ws_save(t$store, key, charToRaw("kept"), objective = 1)
  dir <- file.path(t$root, key)
  before <- sort(list.files(dir, all.files = TRUE, no.. = TRUE))
  here <- environment()
  run <- function(fault) shim_start(c(
    sprintf("s <- ws_open(%s)", lit(t$root)),
    sprintf("r <- catch(ws_lookup(s, %s))", lit(key)),
    "if (inherits(r, 'ws_entry')) list(run_id = r$run_id) else r"),
    faults = fault, env = here)
  runs <- list(EACCES = run(sprintf("open:%s:1+:EACCES", dir)),
               EIO = run(sprintf("fstat:%s:1+:EIO", dir)))
  for (code in names(runs)) {
    r <- shim_wait(runs[[code]])
    expect_true("ws_io_error" %in% r$error, label = code)
    expect_identical(r$code, code, label = code)
    expect_identical(r$path, dir, label = code)
  }
  expect_identical(sort(list.files(dir, all.files = TRUE, no.. = TRUE)), before)
  expect_identical(ws_lookup(t$store, key)$payload, charToRaw("kept"))
})

# ---- run ids beyond ASCII --------------------------------------------------

test_that("run ids with 4-byte UTF-8 are entries; names that are not UTF-8 are left alone", {
  skip_on_os("windows")
  t <- temp_store()
  key <- key_for("utf-8 run ids")
  dir <- key_dir(t, key)
  # Entries under a placeholder name, renamed by the shell to names given as
  # bytes (R cannot make a file name that is not valid UTF-8 here).
  plant <- function(i, octal, objective) {
    write_entry(t, key, rust_meta(list(objective = objective)), run_id = sprintf("p%d", i))
    for (ext in c("bin", "json")) {
      cmd <- sprintf("cd %s && mv p%d.%s \"$(printf 'r-%s').%s\"", shQuote(dir), i, ext,
                     octal, ext)
      expect_identical(system2("sh", c("-c", shQuote(cmd))), 0L)
    }
  }
  # Overlong (U+0800 in 4 bytes), above U+10FFFF, a bad third byte, and a
  # sequence cut short: no Rust String, no entry.
  invalid <- c("\\360\\200\\240\\200", "\\364\\220\\200\\200", "\\360\\237\\050\\200",
               "\\360\\237\\230")
  for (i in seq_along(invalid)) plant(i, invalid[i], sprintf("%d", i))
  expect_length(list.files(dir, all.files = TRUE, no.. = TRUE), 8L)
  expect_null(ws_lookup(t$store, key))
  # U+1F600 and U+10FFFF (the highest): entries the Rust store could write.
  plant(5, "\\360\\237\\230\\200", "50")
  plant(6, "\\364\\217\\277\\277", "60")
  e <- ws_lookup(t$store, key)
  expect_identical(charToRaw(e$run_id), as.raw(c(0x72, 0x2d, 0xF0, 0x9F, 0x98, 0x80)))
  expect_identical(e$objective, 50)
  expect_identical(e$payload, charToRaw("abc"))
  expect_identical(sort(ws_list(t$store)$objective), c(50, 60))
  # The names that are no entry are still there.
  expect_length(list.files(dir, all.files = TRUE, no.. = TRUE), 12L)
})

# ---- what a payload file may be --------------------------------------------

test_that("a payload file others can write is refused (ws_untrusted_store) and left as it is", {
  skip_on_os("windows")
  t <- temp_store()
  key <- key_for("payload file trust")
  id <- ws_save(t$store, key, charToRaw("mine"), objective = 1)
  bin <- file.path(key_dir(t, key), paste0(id, ".bin"))
  Sys.chmod(bin, "0606", use_umask = FALSE)
  # A fresh handle, and nothing in the process-wide value cache: the
  # payload is opened and judged.
  warmstart:::ws_value_cache_clear()
  s <- ws_open(t$root)
  expect_error(ws_lookup(s, key), class = "ws_untrusted_store")
  expect_identical(as.character(file.info(bin)$mode), "606")
  expect_identical(readBin(bin, "raw", 100), charToRaw("mine"))
  Sys.chmod(bin, "0600", use_umask = FALSE)
  expect_identical(ws_lookup(s, key)$payload, charToRaw("mine"))
})

test_that("a meta larger than any meta is no entry, and the others are still found", {
  t <- temp_store(size_budget = 64 * 1024^2)
  key <- key_for("oversized meta")
  # Valid JSON, padded past the 16 MiB a meta may have: not read at all.
  big <- sub("\n}$", paste0(strrep(" ", 16 * 1024^2 + 1), "\n}"), rust_meta(list(objective = "0")))
  write_entry(t, key, big, run_id = "huge")
  expect_null(ws_lookup(t$store, key))
  write_entry(t, key, rust_meta(list(objective = "5")), run_id = "small")
  e <- ws_lookup(t$store, key)
  expect_identical(e$run_id, "small")
  expect_identical(e$objective, 5)
})

test_that("JSON escapes in a Rust meta's producer are read as serde reads them", {
  t <- temp_store()
  key <- key_for("producer escapes")
  # A surrogate pair (U+1F600), simple escapes, and a name too long to keep
  # (read as unknown, as when absent).
  write_entry(t, key, rust_meta(list(producer = '"gam \\ud83d\\ude00\\t\\"x\\"\\n"',
                                     objective = "1")), run_id = "pair")
  write_entry(t, key, rust_meta(list(producer = sprintf('"%s"', strrep("p", 300)),
                                     objective = "2")), run_id = "long")
  l <- ws_list(t$store)
  l <- l[order(l$objective), ]
  expect_identical(l$run_id, c("pair", "long"))
  expect_identical(l$producer[1], "gam \U0001F600\t\"x\"\n")
  expect_true(is.na(l$producer[2]))
  # A lone leading half is no Rust String: serde refuses the meta.
  key2 <- key_for("producer lone surrogate")
  write_entry(t, key2, rust_meta(list(producer = '"gam \\ud83d x"')), run_id = "lone")
  expect_null(ws_lookup(t$store, key2))
})

# ---- ws_cachem()'s pruning removes entries by run id ------------------------

test_that("ws_cachem() pruning to max_n removes the oldest entries' files, and only those", {
  root <- tempfile("ws-cachem-prune-")
  withr::defer(unlink(root, recursive = TRUE))
  s <- ws_open(root, ttl = 0, semantics = "access")
  cache <- ws_cachem(s, max_n = 2, evict = "fifo", prune_rate = 1000)
  for (k in c("a", "b", "c")) {
    cache$set(k, paste("value", k))
    Sys.sleep(0.01)
  }
  expect_length(ws_list(s)$run_id, 3L)
  cache$prune()
  expect_identical(sort(cache$keys()), c("b", "c"))
  expect_length(ws_list(s)$run_id, 2L)
  expect_identical(cache$get("a", missing = "absent"), "absent")
  expect_identical(cache$get("c"), "value c")
  # What is left on disk: two entries, each its .bin and .json.
  files <- list.files(root, pattern = "\\.(bin|json)$", recursive = TRUE)
  expect_length(files, 4L)
})

# ---- the sweep marker is only taken from those trusted ----------------------

test_that("a sweep marker (or its directory) that others can write is not adopted; a trusted one is", {
  skip_on_os("windows")
  t <- temp_store()
  t$root <- normalizePath(t$root)
  ws_save(t$store, key_for("marker"), charToRaw("x")) # the first save sweeps
  mdir <- file.path(t$root, ".warmstart")
  marker <- file.path(mdir, "sweep")
  expect_true(file.exists(marker))
  text <- readLines(marker, warn = FALSE)
  # A fresh process's first save: does it take the marker's figures instead
  # of sweeping?
  adopted <- function() {
    h <- shim_start(c(
      sprintf("s <- ws_open(%s)", lit(t$root)),
      sprintf("ws_save(s, %s, charToRaw('y'))", lit(key_for("marker, child"))),
      "warmstart:::ws_sweep_state(s)$adopted_marker"))
    shim_wait(h)
  }
  expect_true(adopted())
  Sys.chmod(marker, "0666", use_umask = FALSE)
  expect_false(adopted())
  # The child swept, and its own marker replaced the untrusted one.
  expect_identical(as.character(file.info(marker)$mode), "600")
  text <- readLines(marker, warn = FALSE)
  dir_mode <- file.info(mdir)$mode
  Sys.chmod(mdir, "0777", use_umask = FALSE)
  expect_false(adopted())
  # Nothing is written through a directory others can write.
  expect_identical(readLines(marker, warn = FALSE), text)
  Sys.chmod(mdir, dir_mode, use_umask = FALSE)
  expect_true(adopted())
})

# ---- a key directory that opens but cannot be listed -----------------------

test_that("a key directory that cannot be listed (fdopendir EMFILE) reads as a miss, and nothing is removed", {
  t <- temp_store()
  t$root <- normalizePath(t$root)
  key <- key_for("unlistable key dir")
  id <- ws_save(t$store, key, charToRaw("kept"), objective = 1)
  dir <- file.path(t$root, key)
  before <- sort(list.files(dir, all.files = TRUE, no.. = TRUE))
  h <- shim_start(c(
    sprintf("s <- ws_open(%s)", lit(t$root)),
    sprintf("r <- catch(ws_lookup(s, %s))", lit(key)),
    "l <- catch(ws_list(s))",
    "list(lookup = if (inherits(r, 'ws_entry')) r$run_id else r,",
    "     listed = if (is.data.frame(l)) nrow(l) else l)"),
    faults = sprintf("opendir:%s:1+:EMFILE", dir))
  r <- shim_wait(h)
  # Never a wrong value: a miss (the caller computes), not an entry.
  expect_null(r$lookup)
  expect_identical(r$listed, 0L)
  expect_identical(sort(list.files(dir, all.files = TRUE, no.. = TRUE)), before)
  expect_identical(ws_lookup(t$store, key)$run_id, id)
})

# ---- a new file whose mode cannot be set -----------------------------------

test_that("a save whose temp file's mode cannot be set (fchmod EPERM) is an I/O error, and the temp is removed", {
  skip_on_os("windows")
  t <- temp_store()
  t$root <- normalizePath(t$root)
  key <- key_for("fchmod fault")
  first <- ws_save(t$store, key, charToRaw("first"), objective = 2)
  dir <- file.path(t$root, key)
  before <- sort(list.files(dir, all.files = TRUE, no.. = TRUE))
  h <- shim_start(c(
    sprintf("s <- ws_open(%s)", lit(t$root)),
    sprintf("catch(ws_save(s, %s, charToRaw('second'), objective = 1))", lit(key))),
    faults = sprintf("fchmod:%s/*.tmp.*:1+:EPERM", dir))
  r <- shim_wait(h)
  expect_true("ws_io_error" %in% r$error)
  expect_identical(r$code, "EPERM")
  # No temp left behind, the entry there before untouched.
  expect_identical(sort(list.files(dir, all.files = TRUE, no.. = TRUE)), before)
  expect_identical(ws_lookup(t$store, key)$run_id, first)
})
