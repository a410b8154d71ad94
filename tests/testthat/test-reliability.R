# Reliability under many processes, SIGKILL, random corruption. Payloads
# describe themselves (key index, tag, length, a fill byte), so a test can
# tell a whole, right payload from anything else without trusting the
# store's own checksum.

make_payload <- function(key_index, tag, n) {
  c(writeBin(as.integer(c(key_index, tag, n)), raw(), endian = "little"),
    rep(as.raw(tag %% 251L + 1L), n))
}

# TRUE when p is a whole payload made by make_payload() for that key.
payload_ok <- function(p, key_index) {
  if (!is.raw(p) || length(p) < 12L) return(FALSE)
  h <- readBin(p[1:12], "integer", 3L, endian = "little")
  h[1] == key_index && length(p) == 12L + h[3] &&
    all(p[-(1:12)] == as.raw(h[2] %% 251L + 1L))
}

# Every .bin has its .json and every .json its .bin.
half_entries <- function(root) {
  f <- list.files(root, recursive = TRUE)
  f <- f[!grepl("\\.tmp\\.", f)]
  bins <- sub("\\.bin$", "", grep("\\.bin$", f, value = TRUE))
  metas <- sub("\\.json$", "", grep("\\.json$", f, value = TRUE))
  c(setdiff(bins, metas), setdiff(metas, bins))
}

test_that("six processes doing mixed operations: no errors, nothing torn", {
  skip_on_cran()
  skip_if_no_fork()
  budget <- 64 * 1024
  t <- temp_store(size_budget = budget, ttl = 3600)
  keys <- vapply(1:4, function(i) key_for(paste("shared", i)), "")
  workers <- parallel::mclapply(1:6, function(w) {
    st <- ws_open(t$root, size_budget = budget, ttl = 3600)
    set.seed(w)
    errors <- character()
    counts <- c(save = 0, lookup = 0, latest = 0, evict = 0, found = 0, bad = 0)
    for (i in 1:300) {
      k <- sample(4, 1)
      op <- sample(c("save", "save", "lookup", "latest", "evict"), 1)
      counts[[op]] <- counts[[op]] + 1
      r <- tryCatch({
        if (op == "save") {
          ws_save(st, keys[k], make_payload(k, w * 1000L + i,
                                            sample(c(10, 1000, 8000), 1)),
                  objective = runif(1), iteration = i,
                  kind = sample(c("checkpoint", "final"), 1))
        } else if (op == "evict") {
          ws_evict(st)
        } else {
          e <- if (op == "lookup") ws_lookup(st, keys[k]) else
            ws_lookup_latest(st, keys[k])
          if (!is.null(e)) {
            counts[["found"]] <- counts[["found"]] + 1
            if (!payload_ok(e$payload, k)) counts[["bad"]] <- counts[["bad"]] + 1
          }
        }
        NULL
      }, error = conditionMessage)
      if (!is.null(r)) errors <- c(errors, r)
    }
    list(errors = errors, counts = counts)
  }, mc.cores = 6)
  expect_false(any(vapply(workers, inherits, TRUE, "try-error")))
  errors <- unlist(lapply(workers, `[[`, "errors"))
  counts <- Reduce(`+`, lapply(workers, `[[`, "counts"))
  expect_identical(errors, character())
  expect_identical(counts[["bad"]], 0)
  expect_gt(counts[["found"]], 100)
  record_figure("concurrency: processes x operations", "6 x 300")
  record_figure("concurrency: operations (save, lookup, latest, evict)",
                counts[c("save", "lookup", "latest", "evict")])
  record_figure("concurrency: payloads returned, torn or wrong",
                counts[c("found", "bad")])
  final <- ws_evict(t$store)
  record_figure("concurrency: bytes after the final sweep / budget",
                c(final$bytes, budget))
  expect_lte(final$bytes, budget)
  expect_lte(bytes_on_disk(t$root), budget)
  expect_identical(temp_files(t$root), character())
  expect_identical(half_entries(t$root), character())
  for (k in 1:4) {
    e <- ws_lookup(t$store, keys[k])
    if (!is.null(e)) expect_true(payload_ok(e$payload, k))
  }
})

test_that("writers killed with SIGKILL at random moments leave nothing wrong", {
  skip_on_cran()
  skip_if_no_fork()
  t <- temp_store(size_budget = 100 * 1024^2, ttl = 3600)
  keys <- vapply(1:3, function(i) key_for(paste("crash", i)), "")
  set.seed(7)
  temps_seen <- 0
  halves_seen <- 0
  for (round in 1:30) {
    started <- tempfile("started-")
    job <- parallel::mcparallel({
      st <- ws_open(t$root, size_budget = 100 * 1024^2, ttl = 3600)
      i <- 0L
      repeat {
        i <- i + 1L
        k <- (i %% 3L) + 1L
        ws_save(st, keys[k], make_payload(k, round * 10000L + i, 300000),
                objective = runif(1))
        if (i == 1L) file.create(started)
      }
    }, silent = TRUE)
    # Kill at a random moment of the save loop, however slow the machine
    # (or valgrind) makes the child's start.
    deadline <- Sys.time() + 60
    while (!file.exists(started) && Sys.time() < deadline) Sys.sleep(0.005)
    if (!file.exists(started)) {
      tools::pskill(job$pid, tools::SIGKILL)
      stop(sprintf("the writer of round %d did not start within 60 s", round))
    }
    unlink(started)
    Sys.sleep(runif(1, 0, 0.05))
    tools::pskill(job$pid, tools::SIGKILL)
    suppressWarnings(parallel::mccollect(job))
    wait_gone(job$pid)
    # What the dead writer left, before any lookup sweeps it.
    temps_seen <- temps_seen + length(temp_files(t$root))
    halves_seen <- halves_seen + length(half_entries(t$root))
    for (k in 1:3) {
      for (e in list(ws_lookup(t$store, keys[k]),
                     ws_lookup_latest(t$store, keys[k]))) {
        if (!is.null(e)) expect_true(payload_ok(e$payload, k))
      }
    }
  }
  # The kills did land inside writes (otherwise this test proves little).
  record_figure("crash: SIGKILLs, temps and half entries found after them",
                c(30, temps_seen, halves_seen))
  expect_gt(temps_seen + halves_seen, 0)
  ws_evict(t$store)
  expect_identical(temp_files(t$root), character())
  expect_identical(half_entries(t$root), character())
  expect_gt(nrow(ws_list(t$store)), 0)
})

# Corruptions applied to one entry file.
mutations <- list(
  bit_flip = function(f) {
    b <- readBin(f, "raw", file.size(f))
    if (length(b) == 0) return(invisible())
    i <- sample(length(b), 1)
    b[i] <- xor(b[i], as.raw(bitwShiftL(1L, sample(0:7, 1))))
    writeBin(b, f)
  },
  truncate = function(f) {
    b <- readBin(f, "raw", file.size(f))
    writeBin(b[seq_len(sample(0:max(0, length(b) - 1), 1))], f)
  },
  garbage = function(f) writeBin(as.raw(sample(0:255, sample(1:500, 1), TRUE)), f),
  append = function(f) {
    con <- file(f, "ab")
    writeBin(as.raw(sample(0:255, sample(1:50, 1), TRUE)), con)
    close(con)
  },
  delete = function(f) unlink(f),
  empty = function(f) writeBin(raw(), f),
  # A field of the meta given a value of the wrong type.
  json_type = function(f) {
    set_field(f, c("schema_version", "written_unix_secs", "written_nanos",
                   "objective", "iteration", "kind", "checksum_hex",
                   "payload_bytes", "payload_format"),
              c('"7"', "[1]", "{}", "true", "-1", "1.5", "null", '"Final"',
                "1e400"))
  },
  # A field given another value of the right type: the meta still parses.
  json_value = function(f) {
    set_field(f, c("objective", "iteration", "kind", "payload_format",
                   "written_unix_secs", "payload_bytes"),
              c("0.25", "3", '"Checkpoint"', '"Final"', '"R-serialized"',
                '"raw"', "1000"))
  }
)

set_field <- function(f, fields, values) {
  if (!grepl("\\.json$", f) || file.size(f) == 0) return(invisible())
  b <- readBin(f, "raw", file.size(f))
  # A meta an earlier mutation filled with garbage is left as it is.
  if (any(b == 0) || !validUTF8(rawToChar(b))) return(invisible())
  field <- sample(fields, 1)
  txt <- sub(sprintf('"%s":("[^"]*"|[^,}]*)', field),
             sprintf('"%s":%s', field, sample(values, 1)), rawToChar(b),
             useBytes = TRUE)
  writeBin(charToRaw(txt), f)
}

test_that("hundreds of random corruptions never yield a wrong payload", {
  skip_on_cran()
  skip_if_no_fork()
  t <- temp_store(size_budget = Inf, ttl = 0)
  keys <- vapply(1:6, function(i) key_for(paste("corrupt", i)), "")
  # Entries are written by a child that then exits, so a payload left
  # without its meta reads as a dead writer's and is swept.
  expected <- list()
  replenish <- function(n, offset) {
    job <- parallel::mcparallel({
      st <- ws_open(t$root, size_budget = Inf, ttl = 0)
      out <- list()
      for (i in seq_len(n)) {
        k <- sample(6, 1)
        p <- make_payload(k, offset + i, sample(c(0, 5, 300, 5000), 1))
        id <- ws_save(st, keys[k], p, objective = runif(1))
        out[[id]] <- p
      }
      out
    })
    res <- parallel::mccollect(job)[[1]]
    wait_gone(job$pid)
    res
  }
  set.seed(11)
  applied <- character()
  returned <- 0
  warned <- 0
  for (round in 1:300) {
    if (round %% 50 == 1) expected <- c(expected, replenish(60, round * 100L))
    files <- list.files(t$root, recursive = TRUE, full.names = TRUE)
    files <- files[grepl("\\.(json|bin)$", files)]
    if (length(files) == 0) next
    m <- sample(names(mutations), 1)
    mutations[[m]](sample(files, 1))
    applied <- c(applied, m)
    for (k in 1:6) {
      for (latest in c(FALSE, TRUE)) {
        e <- withCallingHandlers(
          if (latest) ws_lookup_latest(t$store, keys[k]) else
            ws_lookup(t$store, keys[k]),
          warning = function(w) {
            # A meta switched to "R-serialized" over raw bytes: verified
            # bytes that do not unserialize are dropped with a warning.
            if (grepl("not a readable R serialization", conditionMessage(w))) {
              warned <<- warned + 1
              invokeRestart("muffleWarning")
            }
          })
        if (!is.null(e)) {
          returned <- returned + 1
          expect_identical(e$payload, expected[[e$run_id]])
        }
      }
    }
  }
  record_figure("corruption: mutations by kind",
                paste(names(table(applied)), table(applied), sep = "=",
                      collapse = ", "))
  record_figure("corruption: payloads returned (all right), serialization warnings",
                c(returned, warned))
  expect_gte(length(applied), 300)
  expect_setequal(unique(applied), names(mutations))
  expect_gt(returned, 500)
  # A lookup checks the entry it returns; the verifying sweep checks the
  # rest. Afterwards every file left is a whole, right entry.
  res <- ws_evict(t$store, verify = TRUE)
  record_figure("corruption: entries written, left whole, removed by verify",
                c(length(expected), res$entries, res$corrupt))
  expect_identical(half_entries(t$root), character())
  left <- ws_list(t$store)
  expect_identical(nrow(left), as.integer(res$entries))
  for (i in seq_len(nrow(left))) {
    bin <- file.path(t$root, left$key[i], paste0(left$run_id[i], ".bin"))
    expect_identical(readBin(bin, "raw", file.size(bin) + 1),
                     expected[[left$run_id[i]]])
  }
  expect_lt(nrow(left), length(expected))
})

test_that("the verifying sweep removes a damaged entry a lookup never reads", {
  t <- temp_store()
  key <- key_for("verify")
  ws_save(t$store, key, charToRaw("best"), objective = 1)
  ws_save(t$store, key, charToRaw("worse"), objective = 2)
  l <- ws_list(t$store)
  worse <- file.path(t$root, key, paste0(l$run_id[l$objective == 2], ".bin"))
  writeBin(charToRaw("WORSE"), worse)
  expect_identical(rawToChar(ws_lookup(t$store, key)$payload), "best")
  expect_identical(ws_evict(t$store)$corrupt, 0)
  expect_true(file.exists(worse))
  res <- ws_evict(t$store, verify = TRUE)
  expect_identical(res$corrupt, 1)
  expect_false(file.exists(worse))
  expect_identical(res$entries, 1)
  e <- expect_error(ws_evict(t$store, verify = NA), class = "ws_bad_argument")
  expect_identical(e$argument, "verify")
})
