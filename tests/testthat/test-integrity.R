# Store integrity, third review (issue 28): what handles on one root share
# must not depend on one handle's options; a tag binds the entry's place;
# a secret's promise holds for every API that returns stored values; and
# everything the store makes gets the store's modes, whatever the umask.

# ---- helpers ----

# Holds a shared lock on dir from another process (flock(1)), as a writer's
# pin does, until the calling test ends: nothing in dir can be removed.
hold_pin <- function(dir, env = parent.frame()) {
  skip_on_os(c("windows", "mac"))
  flock <- Sys.which("flock")
  if (!nzchar(flock)) skip_no_tool("flock(1)")
  pidfile <- tempfile()
  system2("sh", c("-c", shQuote(sprintf("echo $$ > %s; exec %s -s %s sleep 600",
                                        pidfile, flock, shQuote(dir)))),
          wait = FALSE)
  deadline <- Sys.time() + 10
  while (!(file.exists(pidfile) && length(readLines(pidfile)) == 1L) &&
         Sys.time() < deadline) {
    Sys.sleep(0.01)
  }
  holder <- as.integer(readLines(pidfile))
  withr::defer(tools::pskill(holder, tools::SIGKILL), envir = env)
  # flock(1) has the lock once the exclusive attempt fails.
  deadline <- Sys.time() + 10
  repeat {
    free <- system2(flock, c("-n", "-x", shQuote(dir), "true"), stdout = FALSE,
                    stderr = FALSE)
    if (free != 0L || Sys.time() > deadline) break
    Sys.sleep(0.01)
  }
  if (free == 0L) stop("flock(1) did not take the pin")
  invisible(holder)
}

# A store whose root belongs to group 65534 (nobody's), opened with
# trust = "group": nobody is a member who can be played with setpriv.
group_store <- function(env = parent.frame(), ...) {
  skip_unless_second_user()
  base <- reachable_dir(env)
  root <- file.path(base, "team")
  ws_open(root, trust = "group")
  system2("chgrp", c("65534", shQuote(root)))
  Sys.chmod(root, "2770", use_umask = FALSE)
  list(root = root, store = ws_open(root, trust = "group", ...))
}

mode_of <- function(path) sprintf("%o", as.integer(file.info(path, extra_cols = FALSE)$mode))

# ---- 1. a listing shared by handles is the key dir's truth ----

test_that("one handle's TTL does not hide an entry from another handle on the root", {
  t <- temp_store(ttl = 0)
  key <- key_for("issue 28: ttl")
  dir <- key_dir(t, key)
  ws_save(t$store, key, charToRaw("best, older"), objective = 1)
  # Written 100 s later, by a writer whose clock is ahead.
  later <- ws_open(t$root, ttl = 0)
  warmstart:::ws_advance_time(later, 100)
  ws_save(later, key, charToRaw("worse, newer"), objective = 2)
  hold_pin(dir) # a writer's pin: the expired entry cannot be removed
  settle()
  short <- ws_open(t$root, ttl = 60)
  warmstart:::ws_advance_time(short, 130) # the first entry has expired for it
  expect_identical(rawToChar(ws_lookup(short, key)$payload), "worse, newer")
  expect_identical(sum(ws_list(short)$key == key), 1L)
  expect_length(entry_files(dir), 4L) # the pin kept the expired entry
  # Handles with a longer TTL (or none) still see both.
  long <- ws_open(t$root, ttl = 3600, memory_cache = FALSE)
  expect_identical(rawToChar(ws_lookup(long, key)$payload), "best, older")
  expect_identical(sum(ws_list(long)$key == key), 2L)
  expect_identical(nrow(ws_list(t$store)), 2L)
  # And the short handle still does not.
  expect_identical(rawToChar(ws_lookup(short, key)$payload), "worse, newer")
})

test_that("a value cache row chosen under one handle's TTL is not served to a handle with a longer one", {
  t <- temp_store(ttl = 0)
  key <- key_for("issue 28: ttl row")
  ws_save(t$store, key, charToRaw("best, older"), objective = 1)
  later <- ws_open(t$root, ttl = 0)
  warmstart:::ws_advance_time(later, 100)
  ws_save(later, key, charToRaw("worse, newer"), objective = 2)
  hold_pin(key_dir(t, key))
  settle()
  short <- ws_open(t$root, ttl = 60)
  warmstart:::ws_advance_time(short, 130)
  expect_identical(rawToChar(ws_lookup(short, key)$payload), "worse, newer")
  expect_identical(rawToChar(ws_lookup(short, key)$payload), "worse, newer")
  long <- ws_open(t$root, ttl = 3600) # value cache on
  expect_identical(rawToChar(ws_lookup(long, key)$payload), "best, older")
  # A row chosen among more entries serves a handle that sees fewer, as
  # long as its entry is within that handle's TTL.
  expect_identical(rawToChar(ws_lookup(t$store, key)$payload), "best, older")
  expect_identical(rawToChar(ws_lookup(short, key)$payload), "worse, newer")
})

# ---- 2. a tag binds the key and the run id ----

test_that("a signed entry copied to another key or renamed to another run id is not authenticated", {
  t <- temp_store()
  secret <- "0123456789abcdef0123456789abcdef"
  signer <- ws_open(t$root, secret = secret)
  key <- key_for("issue 28: signed here")
  run <- ws_save(signer, key, list(v = "signed for this key"), objective = 1)
  raw_run <- ws_save(signer, key, charToRaw("signed raw bytes"), objective = 2)
  expect_true(ws_lookup(signer, key)$authenticated)
  files <- function(k, r) file.path(t$root, k, paste0(r, c(".bin", ".json")))
  # Copied, as is, into another key's directory by a writer without the
  # secret.
  other <- key_for("issue 28: served there")
  dir.create(file.path(t$root, other), mode = "0700")
  file.copy(files(key, run), files(other, run))
  file.copy(files(key, raw_run), files(other, raw_run))
  expect_identical(ws_lookup(t$store, other)$payload,
                   list(v = "signed for this key")) # a valid entry
  got <- ws_lookup(signer, other)
  expect_identical(got$payload, charToRaw("signed raw bytes"))
  expect_false(got$authenticated)
  # Renamed to another run id in its own key dir.
  renamed <- key_for("issue 28: renamed")
  dir.create(file.path(t$root, renamed), mode = "0700")
  file.copy(files(key, run), files(renamed, "r-renamed"))
  expect_identical(ws_lookup(t$store, renamed)$payload,
                   list(v = "signed for this key"))
  expect_null(ws_lookup(signer, renamed))
  # In place, the entries still verify.
  got <- ws_lookup(signer, key)
  expect_identical(got$payload, list(v = "signed for this key"))
  expect_true(got$authenticated)
})

test_that("a tag of the earlier form (over the meta alone) is not authenticated", {
  openssl <- Sys.which("openssl")
  if (!nzchar(openssl)) skip_no_tool("openssl")
  t <- temp_store()
  secret <- "0123456789abcdef0123456789abcdef"
  signer <- ws_open(t$root, secret = secret)
  key <- key_for("issue 28: old tag")
  run <- ws_save(signer, key, list(v = "old tag"))
  meta <- file.path(t$root, key, paste0(run, ".json"))
  text <- readChar(meta, file.size(meta), useBytes = TRUE)
  # The earlier tag: HMAC-SHA256(secret, SHA-256(T + "}")), T the text
  # before ,"hmac_sha256".
  body <- paste0(sub(',"hmac_sha256":.*$', "", text), "}")
  body_file <- tempfile()
  writeBin(charToRaw(body), body_file)
  sha_file <- tempfile()
  system2(openssl, c("dgst", "-sha256", "-binary", "-out", shQuote(sha_file),
                     shQuote(body_file)))
  tag <- system2(openssl, c("dgst", "-sha256", "-mac", "HMAC", "-macopt",
                            shQuote(paste0("key:", secret)), shQuote(sha_file)),
                 stdout = TRUE)
  tag <- sub("^.*= *", "", tag[length(tag)])
  expect_match(tag, "^[0-9a-f]{64}$")
  old <- sub('"hmac_sha256":"[0-9a-f]{64}"', sprintf('"hmac_sha256":"%s"', tag),
             text)
  unsigned_body <- sub(',"meta_sha256":"[0-9a-f]{64}"}$', "}", old)
  old <- sub('"meta_sha256":"[0-9a-f]{64}"',
             sprintf('"meta_sha256":"%s"', warmstart:::ws_sha256(unsigned_body)),
             old)
  writeBin(charToRaw(old), meta)
  expect_identical(ws_lookup(t$store, key)$payload, list(v = "old tag")) # valid
  expect_null(ws_lookup(signer, key))
})

# ---- 3. under a secret, values come only from authenticated entries ----

test_that("with a secret, ws_compute(), ws_memoise() and ws_cachem() never return unsigned entries", {
  t <- temp_store()
  secret <- "0123456789abcdef0123456789abcdef"
  signed <- ws_open(t$root, secret = secret)
  # A writer without the secret chooses raw bytes for the keys they read.
  key <- key_for("issue 28: compute")
  ws_save(t$store, key, charToRaw("chosen by a writer"), kind = "final")
  evaluated <- FALSE
  got <- ws_compute(signed, key, {
    evaluated <- TRUE
    "computed"
  })
  expect_true(evaluated)
  expect_identical(got, "computed")
  expect_identical(ws_compute(signed, key, stop("stored now")), "computed")
  # The raw entry stays available to ws_lookup(), flagged.
  ws_save(t$store, key, charToRaw("chosen again"), kind = "final")
  latest <- ws_lookup_latest(signed, key)
  expect_identical(latest$payload, charToRaw("chosen again"))
  expect_false(latest$authenticated)
  expect_identical(ws_compute(signed, key, stop("stored")), "computed")

  f <- function(x) x + 1
  memo_key <- ws_key(what = "ws_memoise", f = ws_key(f), args = list(x = 1))
  ws_save(t$store, memo_key, charToRaw("chosen by a writer"), kind = "final")
  expect_identical(ws_memoise(f, signed)(x = 1), 2)

  cache_key <- ws_key(what = "ws_cachem", key = "k")
  ws_save(t$store, cache_key, charToRaw("chosen by a writer"), kind = "final")
  cache <- ws_cachem(signed)
  expect_true(cachem::is.key_missing(cache$get("k")))
  # exists() and keys() agree with get(): a value set through a cache on a
  # handle without the secret is not there.
  expect_false(cache$exists("k"))
  ws_cachem(t$store)$set("planted", "chosen by a writer")
  expect_false(cache$exists("planted"))
  expect_false("planted" %in% cache$keys())
  expect_identical(cache$size(), 0L)
  cache$set("k", "set")
  expect_identical(cache$get("k"), "set")
  # Without a secret nothing is authenticated, and every entry counts.
  plain_key <- key_for("issue 28: no secret")
  ws_save(t$store, plain_key, charToRaw("any writer's"), kind = "final")
  expect_identical(ws_compute(t$store, plain_key, stop("stored")),
                   charToRaw("any writer's"))
})

# ---- 4. claims honour the store's modes ----

test_that("claims in a group store let the group's members claim", {
  g <- group_store()
  old <- Sys.umask("022")
  withr::defer(Sys.umask(old))
  key <- key_for("issue 28: claim")
  claim <- .Call(warmstart:::C_ws_claim, g$store, key)
  expect_false(is.null(claim))
  withr::defer(.Call(warmstart:::C_ws_release, claim))
  claims <- file.path(g$root, ".warmstart", "claims")
  expect_identical(mode_of(file.path(g$root, ".warmstart")), "2770")
  expect_identical(mode_of(claims), "2770")
  expect_identical(mode_of(file.path(claims, key)), "660")
  # A member opens the held claim as a claimer does (read and write), and
  # makes a claim of their own.
  expect_no_error(as_user(sprintf("exec 3<>%s", shQuote(file.path(claims, key)))))
  mine <- key_for("issue 28: a member's claim")
  expect_no_error(as_user(sprintf("exec 3<>%s", shQuote(file.path(claims, mine)))))
})

# ---- 5. recording an access keeps the store's modes ----

test_that("recording an access keeps a private meta 0600 and a group meta readable by the group", {
  skip_on_os("windows")
  old <- Sys.umask("022")
  t <- temp_store(semantics = "access")
  key <- key_for("issue 28: access, private")
  run <- ws_save(t$store, key, "value")
  settle()
  meta <- file.path(t$root, key, paste0(run, ".json"))
  before <- file.info(meta)$ctime
  expect_identical(ws_lookup(t$store, key)$payload, "value")
  Sys.umask(old)
  expect_false(is.na(ws_list(t$store)$accessed[ws_list(t$store)$key == key])) # it was rewritten
  expect_identical(mode_of(meta), "600")

  g <- group_store(semantics = "access")
  old <- Sys.umask("077")
  withr::defer(Sys.umask(old))
  key <- key_for("issue 28: access, group")
  run <- ws_save(g$store, key, "team value")
  settle()
  expect_identical(ws_lookup(g$store, key)$payload, "team value")
  expect_false(is.na(ws_list(g$store)$accessed[ws_list(g$store)$key == key]))
  meta <- file.path(g$root, key, paste0(run, ".json"))
  expect_identical(mode_of(meta), "640")
  expect_no_error(as_user(sprintf("cat %s > /dev/null", shQuote(meta))))
})

# ---- everything the store makes has the store's modes ----

test_that("every directory and file a group store makes has the group's modes, whatever the umask", {
  skip_if_no_fork()
  g <- group_store(semantics = "access", ttl = 3600)
  old <- Sys.umask("077")
  withr::defer(Sys.umask(old))
  # What each thing the store makes must be: directories 02770, claims
  # 0660 (every member opens them to write), everything else 0640.
  expected <- function(path) {
    info <- file.info(path, extra_cols = FALSE)
    ifelse(info$isdir, "2770",
           ifelse(basename(dirname(path)) == "claims", "660", "640"))
  }
  check_modes <- function(after) {
    paths <- c(g$root, list.files(g$root, recursive = TRUE, all.files = TRUE,
                                  include.dirs = TRUE, full.names = TRUE))
    modes <- mode_of(paths)
    wrong <- modes != expected(paths)
    expect(!any(wrong), sprintf("after %s: %s", after,
                                paste(sub(g$root, "", paths[wrong], fixed = TRUE),
                                      modes[wrong], collapse = ", ")))
    invisible(paths)
  }
  key <- key_for("issue 28: modes")
  ws_save(g$store, key, list(v = 1), objective = 1)
  check_modes("a save")
  settle()
  expect_identical(ws_lookup(g$store, key)$payload, list(v = 1)) # records
  paths <- check_modes("a lookup that recorded an access")
  expect_true(any(grepl("\\.json$", paths)))
  claim <- .Call(warmstart:::C_ws_claim, g$store, key_for("issue 28: claimed"))
  paths <- check_modes("a claim")
  expect_true(any(basename(dirname(paths)) == "claims"))
  .Call(warmstart:::C_ws_release, claim)
  ws_evict(g$store)
  paths <- check_modes("a sweep")
  expect_true(any(basename(paths) == "sweep"))
  # A writer stopped between its renames: its meta temp is on disk.
  job <- stopped_child(function() {
    Sys.umask("077")
    st <- ws_open(g$root, trust = "group")
    warmstart:::ws_inject_fault(st, "before_meta_rename", "stop")
    ws_save(st, key_for("issue 28: temps"), "mid-write")
  })
  paths <- check_modes("a save stopped before its meta's rename")
  expect_length(temp_files(g$root), 1L)
  continue_child(job)
  check_modes("that save")
  ws_remove(g$store, key)
  check_modes("a removal")
})
