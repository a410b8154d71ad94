# Who may write to a store (issue 20): a store refuses what someone it does
# not trust can write, never unserializes it, and with a secret returns R
# values only from entries it can authenticate. The tests with a second
# user run as root and plant files as nobody (65534) with setpriv.

# ---- modes of what a store creates ----

test_that("a new store is private to its user whatever the umask", {
  skip_on_os("windows")
  for (mask in c("000", "077", "022")) {
    old <- Sys.umask(mask)
    root <- file.path(tempfile("private-"), "a", "store")
    st <- ws_open(root)
    key <- key_for(paste("umask", mask))
    ws_save(st, key, list(mask = mask))
    ws_evict(st) # writes the sweep's marker directory
    Sys.umask(old)
    expect_identical(format(file.info(root)$mode), "700")
    expect_identical(format(file.info(file.path(root, key))$mode), "700")
    expect_identical(format(file.info(file.path(root, ".warmstart"))$mode), "700")
    files <- entry_files(file.path(root, key))
    expect_length(files, 2L)
    expect_true(all(format(file.info(files)$mode) == "600"))
    expect_identical(ws_lookup(st, key)$payload, list(mask = mask))
    unlink(dirname(dirname(root)), recursive = TRUE)
  }
})

test_that("a shared store's directories and files let its group in", {
  skip_on_os("windows")
  old <- Sys.umask("077")
  withr::defer(Sys.umask(old))
  root <- tempfile("group-")
  withr::defer(unlink(root, recursive = TRUE))
  st <- ws_open(root, trust = "group")
  key <- key_for("group modes")
  ws_save(st, key, "shared")
  expect_identical(format(file.info(root)$mode), "2770")
  expect_identical(format(file.info(file.path(root, key))$mode), "2770")
  expect_true(all(format(file.info(entry_files(file.path(root, key)))$mode) == "640"))
  expect_identical(ws_info(st)$trust, "group")
  expect_output(print(st), "trusts: +its group")
})

test_that("trust and secret are checked and reported", {
  root <- tempfile("args-")
  withr::defer(unlink(root, recursive = TRUE))
  e <- expect_error(ws_open(root, trust = "everyone"), class = "ws_bad_argument")
  expect_identical(e$argument, "trust")
  expect_false(file.exists(root)) # nothing on disk changes
  e <- expect_error(ws_open(root, secret = "too short"), class = "ws_bad_argument")
  expect_identical(e$argument, "secret")
  expect_error(ws_open(root, secret = raw(8)), class = "ws_bad_argument")
  expect_error(ws_open(root, secret = 42), class = "ws_bad_argument")
  expect_false(file.exists(root))
  st <- ws_open(root, secret = strrep("k", 16))
  expect_true(ws_info(st)$secret)
  expect_identical(ws_info(st)$trust, "user")
  expect_false(any(grepl("kkkk", capture.output(print(st), print(ws_info(st))))))
  withr::with_envvar(c(WARMSTART_SECRET = strrep("e", 20), WARMSTART_TRUST = "any"), {
    st2 <- ws_open(root)
    expect_true(ws_info(st2)$secret)
    expect_identical(ws_info(st2)$trust, "any")
  })
  withr::with_options(list(warmstart.trust = "group"), {
    expect_identical(ws_info(ws_open(root))$trust, "group")
  })
  expect_false(ws_info(ws_open(root))$secret)
})

# ---- refusing what others can write (a second user) ----

test_that("a world-writable root is refused, and what others put there is never unserialized", {
  skip_unless_second_user()
  base <- reachable_dir()
  root <- file.path(base, "store")
  st <- ws_open(root)
  own <- key_for("own entry")
  ws_save(st, own, list(mine = TRUE))
  Sys.chmod(root, "0777", use_umask = FALSE)
  key <- key_for("planted")
  planted <- staged_entry(list(planted = TRUE), objective = 1)
  plant(planted, file.path(root, key))
  expect_identical(owner_of(file.path(root, key)), 65534L)

  e <- expect_error(ws_open(root), class = "ws_untrusted_store")
  expect_identical(e$reason, "others")
  expect_identical(e$path, normalizePath(root, winslash = "/"))
  expect_s3_class(e, "ws_error")
  # The handle opened before the root was opened to all: its lookups and
  # saves refuse the planted key dir, and nothing is unserialized.
  got <- count_unserialize(
    expect_error(ws_lookup(st, key), class = "ws_untrusted_store"))
  expect_identical(got$n, 0L)
  expect_identical(got$value$reason, "owner")
  expect_error(ws_lookup_latest(st, key), class = "ws_untrusted_store")
  expect_error(ws_save(st, key, "mine"), class = "ws_untrusted_store")
  expect_false(key %in% ws_list(st)$key) # walks pass it over
  ws_evict(st, verify = TRUE)
  expect_length(entry_files(file.path(root, key)), 2L) # and leave it alone
  # The control: the planted entry is valid, and trust = "any" returns it.
  anyone <- ws_open(root, trust = "any")
  got <- count_unserialize(ws_lookup(anyone, key))
  expect_identical(got$value$payload, list(planted = TRUE))
  expect_identical(got$n, 1L)
  settle()
  expect_identical(ws_lookup(anyone, key)$payload, list(planted = TRUE)) # cached
  # That handle's cached row is not served to one that does not trust it.
  got <- count_unserialize(
    expect_error(ws_lookup(st, key), class = "ws_untrusted_store"))
  expect_identical(got$n, 0L)
  expect_identical(ws_lookup(st, own)$payload, list(mine = TRUE))
})

test_that("a key dir others can write, and a file another user put in it, are refused", {
  skip_unless_second_user()
  base <- reachable_dir()
  root <- file.path(base, "store")
  st <- ws_open(root)
  Sys.chmod(root, "0755", use_umask = FALSE) # private: only its owner writes
  key <- key_for("shared key dir")
  ws_save(st, key, list(mine = TRUE), objective = 5)
  dir <- file.path(root, key)
  Sys.chmod(dir, "0777", use_umask = FALSE) # a mistake
  planted <- staged_entry(list(planted = TRUE), objective = 1) # better
  plant(planted, dir)

  got <- count_unserialize(
    expect_error(ws_lookup(st, key), class = "ws_untrusted_store"))
  expect_identical(got$n, 0L)
  expect_identical(got$value$reason, "others")
  expect_identical(got$value$path, dir)
  # Made private again, the dir still holds the other user's files.
  Sys.chmod(dir, "0700", use_umask = FALSE)
  got <- count_unserialize(
    expect_error(ws_lookup(st, key), class = "ws_untrusted_store"))
  expect_identical(got$n, 0L)
  expect_identical(got$value$reason, "owner")
  expect_match(got$value$path, planted$run_id, fixed = TRUE)
  expect_length(entry_files(dir), 4L)
  # The control: trusting anyone, the planted entry wins on its objective.
  expect_identical(ws_lookup(ws_open(root, trust = "any"), key)$payload,
                   list(planted = TRUE))
  # Removing the planted files makes the key the owner's again.
  unlink(file.path(dir, paste0(planted$run_id, c(".bin", ".json"))))
  expect_identical(ws_lookup(st, key)$payload, list(mine = TRUE))
})

test_that("a root that belongs to another user is refused; one that is the user's through a link is not", {
  skip_unless_second_user()
  base <- reachable_dir()
  theirs <- file.path(base, "theirs")
  dir.create(theirs)
  system2("chown", c("65534", shQuote(theirs)))
  e <- expect_error(ws_open(theirs), class = "ws_untrusted_store")
  expect_identical(e$reason, "owner")
  link <- file.path(base, "link")
  file.symlink(theirs, link)
  expect_error(ws_open(link), class = "ws_untrusted_store")
  expect_no_error(ws_open(theirs, trust = "any"))
  mine <- file.path(base, "mine")
  ws_open(mine)
  unlink(link)
  file.symlink(mine, link)
  st <- ws_open(link)
  expect_identical(ws_info(st)$root, normalizePath(mine, winslash = "/"))
  # Root's own files are trusted (root can write anything anyway), and a
  # group-writable dir whose group is the owner's private group adds no
  # writer: the group "root" has no other member.
  root_group <- suppressWarnings(system2("getent", c("group", "0"), stdout = TRUE))
  skip_if(!grepl("^root:[^:]*:0:$", root_group), "group 0 is not root's alone here")
  Sys.chmod(mine, "0770", use_umask = FALSE)
  expect_no_error(ws_open(mine))
  system2("chgrp", c("65534", shQuote(mine)))
  e <- expect_error(ws_open(mine), class = "ws_untrusted_store")
  expect_identical(e$reason, "group")
})

test_that("trust = \"group\" takes the root's group, and a secret decides which R values come back", {
  skip_unless_second_user()
  base <- reachable_dir()
  root <- file.path(base, "team")
  ws_open(root, trust = "group")
  system2("chgrp", c("65534", shQuote(root)))
  Sys.chmod(root, "2770", use_umask = FALSE)
  secret <- "a secret the team shares, 32 b."
  key <- key_for("team key")
  dir <- file.path(root, key)
  # Planted by a member (nobody, whose group is the root's), in this order:
  signed <- staged_entry(list(from = "signed"), objective = 2, secret = secret,
                         key = key)
  plant(signed, dir)
  Sys.sleep(0.01)
  unsigned <- staged_entry(list(from = "unsigned"), objective = 1)
  plant(unsigned, dir)
  Sys.sleep(0.01)
  forged <- staged_entry(list(from = "other secret"), objective = 0.5,
                         secret = "not the team's secret, 32 bytes")
  plant(forged, dir)
  Sys.sleep(0.01)
  raw_entry <- staged_entry(charToRaw("raw bytes"), objective = 3)
  plant(raw_entry, dir)
  expect_identical(owner_of(dir), 65534L)

  e <- expect_error(ws_open(root), class = "ws_untrusted_store") # user only
  expect_identical(e$reason, "group")
  team <- ws_open(root, trust = "group")
  best <- ws_lookup(team, key) # no secret: every member's entry counts
  expect_identical(best$payload, list(from = "other secret"))
  expect_false(best$authenticated)

  checked <- ws_open(root, trust = "group", secret = secret)
  got <- count_unserialize(ws_lookup(checked, key))
  expect_identical(got$value$payload, list(from = "signed"))
  expect_true(got$value$authenticated)
  expect_identical(got$n, 1L) # the unsigned and forged were never read
  latest <- ws_lookup_latest(checked, key) # raw bytes need no tag
  expect_identical(latest$payload, charToRaw("raw bytes"))
  expect_false(latest$authenticated)
  expect_length(entry_files(dir), 8L) # nothing removed for its tag
  settle()
  # The rows the secret-less handle cached are not the secret's choice.
  expect_identical(ws_lookup(team, key)$payload, list(from = "other secret"))
  expect_identical(ws_lookup(checked, key)$payload, list(from = "signed"))
  expect_identical(ws_lookup(team, key)$payload, list(from = "other secret"))

  # A key dir made by someone outside the group (daemon, 1) is refused.
  daemon <- suppressWarnings(system2("id", c("-G", "1"), stdout = TRUE))
  skip_if(length(daemon) == 0 || "65534" %in% strsplit(daemon, " ")[[1]],
          "user 1 is missing or in group 65534")
  outsider <- key_for("outsider")
  plant(staged_entry(list(from = "outsider")), file.path(root, outsider),
        uid = 1L, gid = 65534L)
  got <- count_unserialize(
    expect_error(ws_lookup(team, outsider), class = "ws_untrusted_store"))
  expect_identical(got$value$reason, "owner")
  expect_identical(got$n, 0L)
})

# ---- authenticated entries, one user ----

test_that("with a secret, saves are signed and only verified R values are returned", {
  t <- temp_store()
  secret <- "0123456789abcdef0123456789abcdef"
  signer <- ws_open(t$root, secret = secret)
  key <- key_for("signed")
  run <- ws_save(signer, key, list(v = 1), objective = 2)
  meta <- readLines(file.path(t$root, key, paste0(run, ".json")), warn = FALSE)
  # The tag stands before meta_sha256, which stays last.
  expect_match(meta, ',"hmac_sha256":"[0-9a-f]{64}","meta_sha256":"[0-9a-f]{64}"}$')
  got <- ws_lookup(signer, key)
  expect_identical(got$payload, list(v = 1))
  expect_true(got$authenticated)
  # Without a secret the entry reads as any other, unauthenticated.
  plain <- ws_lookup(t$store, key)
  expect_identical(plain$payload, list(v = 1))
  expect_false(plain$authenticated)
  # A better entry without a tag, or with a tag of another secret, or with
  # a tag changed (and its meta_sha256 made to match), is passed over.
  ws_save(t$store, key, list(v = "untagged"), objective = 1)
  other <- ws_open(t$root, secret = "another secret of 32 bytes......")
  ws_save(other, key, list(v = "other secret"), objective = 0)
  forged_run <- ws_save(signer, key, list(v = "forged"), objective = -1)
  forged <- file.path(t$root, key, paste0(forged_run, ".json"))
  text <- readLines(forged, warn = FALSE)
  at <- regexpr('"hmac_sha256":"', text, fixed = TRUE) + 15L
  substr(text, at, at) <- if (substr(text, at, at) == "0") "1" else "0"
  body <- sub(',"meta_sha256":"[0-9a-f]{64}"}$', "}", text)
  writeLines(sub('"meta_sha256":"[0-9a-f]{64}"',
                 sprintf('"meta_sha256":"%s"', digest_sha256(body)), text),
             forged, sep = "")
  expect_identical(ws_lookup(t$store, key)$payload, list(v = "forged")) # parses
  got <- count_unserialize(ws_lookup(signer, key))
  expect_identical(got$value$payload, list(v = 1))
  expect_identical(got$n, 1L)
  expect_identical(ws_lookup(other, key)$payload, list(v = "other secret"))
  expect_length(entry_files(key_dir(t, key)), 8L)
  # The latest entry is raw and untagged: returned, flagged.
  ws_save(t$store, key, charToRaw("raw"))
  latest <- ws_lookup_latest(signer, key)
  expect_identical(latest$payload, charToRaw("raw"))
  expect_false(latest$authenticated)
  # A handle with the secret and nothing it can verify gets nothing.
  lone <- key_for("no signed entry")
  ws_save(t$store, lone, list(v = "untagged"))
  expect_null(ws_lookup(signer, lone))
  expect_null(ws_lookup_latest(signer, lone))
})

test_that("signed metas are read by the Rust store and by this package without the secret", {
  skip_without_refstore()
  t <- temp_store()
  signer <- ws_open(t$root, secret = "0123456789abcdef0123456789abcdef")
  key <- key_for("signed for rust")
  ws_save(signer, key, charToRaw("bytes"), objective = 1, kind = "final")
  got <- rust_lookup(t$root, key)
  expect_identical(got$payload, charToRaw("bytes"))
  expect_identical(got$kind, "final")
  expect_identical(nrow(ws_list(t$store)), 1L)
})

# ---- the promise guard ----
# On in every R: R 4.4.0 refuses a promise that is unserialize()'s value,
# not one inside the value (src/glue.c).

test_that("a stream with a promise outside a frame is refused; R's own promises pass", {
  chk <- warmstart:::ws_rstream_check
  h <- stream_header()
  code <- quote(f(x))
  expect_identical(chk(c(h, promise_item(code))), "promise")
  # In a list, as an attribute, in a call, as a promise's value.
  expect_identical(chk(c(h, stream_int(19L, 2L, 254L), promise_item(code))), "promise")
  attr_item <- c(stream_int(2L + 1024L), stream_item(as.name("a")), promise_item(code),
                 stream_int(254L))
  expect_identical(chk(c(h, stream_int(13L + 512L, 1L, 7L), attr_item)), "promise")
  expect_identical(chk(c(h, stream_int(6L), stream_item(as.name("f")),
                         stream_int(2L), promise_item(code), stream_int(254L))), "promise")
  expect_identical(chk(c(h, stream_int(19L, 1L), stream_int(5L + 1024L, 253L),
                         promise_item(code), stream_item(code))), "promise")
  # In an environment's frame, hashed or not, and in `...`: R's own.
  f <- function(x, ...) function() x
  for (x in list(f(1, 2, stop("never")), stats::gaussian(), new.env(hash = TRUE),
                 local({ e <- new.env(); delayedAssign("p", stop("no"), assign.env = e); e }))) {
    for (xdr in c(TRUE, FALSE)) for (v in 2:3) {
      expect_identical(chk(serialize(x, NULL, xdr = xdr, version = v)), "ok")
    }
  }
  # What is not a stream R reads.
  ok <- serialize(list(1, "a"), NULL)
  expect_identical(chk(ok[seq_len(length(ok) - 3L)]), "malformed")
  expect_identical(chk(charToRaw("hello")), "malformed")
  expect_identical(chk(c(h, stream_int(16L, -5L))), "malformed")
  expect_identical(chk(c(h, stream_int(9L, -7L))), "malformed")
  expect_identical(chk(serialize(1, NULL, ascii = TRUE)), "unsupported")
  # Every function of base and stats, as R writes them.
  for (ns in c("base", "stats")) {
    env <- asNamespace(ns)
    verdicts <- vapply(ls(env, all.names = TRUE), function(n)
      chk(serialize(get(n, env), NULL, xdr = FALSE)), "")
    expect_identical(unname(verdicts[verdicts != "ok"]), character())
  }
})

test_that("a payload holding a promise is skipped, never unserialized, and kept", {
  t <- temp_store()
  # On from load, whatever the R version.
  expect_true(warmstart:::ws_promise_guard())
  mark <- "warmstart_test_promise_forced"
  withr::defer(suppressWarnings(rm(list = mark, envir = globalenv())))
  key <- key_for("promise")
  ws_save(t$store, key, list(good = TRUE), objective = 2)
  # Saved as R-serialized, bytes as they are (how such an entry would be
  # planted): the value itself a promise, then one in a list.
  evil <- c(stream_header(), promise_item(marking_code(mark)))
  .Call(warmstart:::C_ws_save, t$store, key, evil, TRUE, 1, NULL, 0L, NULL, NULL)
  in_list <- c(stream_header(), stream_int(19L, 1L), promise_item(marking_code(mark)))
  .Call(warmstart:::C_ws_save, t$store, key, in_list, TRUE, 0, NULL, 0L, NULL, NULL)
  got <- count_unserialize(with_warning_of(ws_lookup(t$store, key),
                                           "ws_unsafe_payload"))
  expect_true(got$value$warned)
  expect_identical(got$value$value$payload, list(good = TRUE))
  expect_identical(got$n, 1L)
  expect_false(exists(mark, envir = globalenv()))
  expect_length(entry_files(key_dir(t, key)), 6L)
  alone <- key_for("promise alone")
  .Call(warmstart:::C_ws_save, t$store, alone, evil, TRUE, NULL, NULL, 0L, NULL, NULL)
  expect_warning(expect_null(ws_lookup_latest(t$store, alone)), class = "ws_unsafe_payload")
  listed <- key_for("promise in a list")
  .Call(warmstart:::C_ws_save, t$store, listed, in_list, TRUE, NULL, NULL, 0L, NULL, NULL)
  expect_warning(expect_null(ws_lookup_latest(t$store, listed)), class = "ws_unsafe_payload")
  expect_false(exists(mark, envir = globalenv()))
  # Legitimate promises (a family object's closures) are read as usual.
  fam <- key_for("family")
  ws_save(t$store, fam, stats::gaussian())
  expect_identical(ws_lookup(t$store, fam)$payload$family, "gaussian")

  # Why the guard is on in every R: what unserialize() does without it.
  old <- warmstart:::ws_promise_guard(FALSE)
  withr::defer(warmstart:::ws_promise_guard(old))
  # A promise inside the value, on every side of R 4.4.0: handed out, and
  # the element's first use runs its code.
  value <- ws_lookup_latest(t$store, listed)$payload
  expect_false(exists(mark, envir = globalenv()))
  p <- value[[1]]
  force(p)
  expect_true(exists(mark, envir = globalenv()))
  rm(list = mark, envir = globalenv())
  # The promise as the value itself: R before 4.4.0 hands it out, and
  # touching the value runs its code; R 4.4.0 refuses to return it, so the
  # entry is verified bytes this R cannot unserialize (ws_decode_error).
  if (getRversion() < "4.4.0") {
    p <- ws_lookup_latest(t$store, alone)$payload
    force(p)
    expect_true(exists(mark, envir = globalenv()))
  } else {
    expect_error(ws_lookup_latest(t$store, alone), class = "ws_decode_error")
    expect_false(exists(mark, envir = globalenv()))
  }
})

# ---- links ----

test_that("the sweep's marker is never written through a link or a planted hard link", {
  skip_on_os("windows")
  t <- temp_store()
  key <- key_for("marker")
  ws_save(t$store, key, "x")
  outside <- tempfile("outside-")
  writeLines("precious", outside)
  withr::defer(unlink(outside))
  marker_dir <- file.path(t$root, ".warmstart")
  tmp <- file.path(marker_dir, sprintf("sweep.tmp.%d.%s", Sys.getpid(),
                                       warmstart:::ws_host_token()))
  unlink(tmp)
  stopifnot(file.link(outside, tmp))
  ws_evict(t$store)
  expect_identical(readLines(outside), "precious")
  expect_true(file.exists(file.path(marker_dir, "sweep")))
  # A marker dir that is a link to a directory outside is not used.
  elsewhere <- tempfile("elsewhere-")
  dir.create(elsewhere)
  withr::defer(unlink(elsewhere, recursive = TRUE))
  unlink(marker_dir, recursive = TRUE)
  file.symlink(elsewhere, marker_dir)
  ws_evict(t$store)
  expect_length(list.files(elsewhere, all.files = TRUE, no.. = TRUE), 0L)
})
