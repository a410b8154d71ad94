# Store correctness under conditions users meet: each test reproduces one
# finding of the review of the C core (issue 11, items 1 to 12) and failed
# before its fix.

# ---- 1. liveness of a payload without its meta ----

test_that("a lookup never deletes a live writer's payload named by an explicit run id", {
  skip_if_no_fork()
  t <- temp_store()
  key <- key_for("item 1")
  ws_save(t$store, key, charToRaw("old"), objective = 5)
  # The run id names a process that is gone: it says nothing of the writer.
  rid <- sprintf("r%x-1", dead_pid())
  job <- stopped_child(function() {
    st <- ws_open(t$root, size_budget = 1024^2, ttl = 60)
    warmstart:::ws_inject_fault(st, "before_meta_rename", "stop")
    ws_save(st, key, charToRaw("new"), objective = 1, run_id = rid)
  })
  bin <- file.path(key_dir(t, key), paste0(rid, ".bin"))
  expect_true(file.exists(bin))
  expect_identical(rawToChar(ws_lookup(t$store, key)$payload), "old")
  ws_list(t$store)
  ws_evict(t$store)
  ws_evict(t$store, verify = TRUE)
  expect_true(file.exists(bin))
  expect_identical(continue_child(job), rid)
  got <- ws_lookup(t$store, key)
  expect_identical(got$payload, charToRaw("new"))
  expect_identical(got$objective, 1)
})

# ---- 2. the verifying sweep and an overwrite that commits meanwhile ----

test_that("ws_evict(verify = TRUE) keeps an overwrite that committed during the sweep", {
  skip_if_no_fork()
  t <- temp_store()
  key <- key_for("item 2")
  id <- ws_save(t$store, key, charToRaw("v1"), objective = 2)
  job <- stopped_child(function() {
    st <- ws_open(t$root, size_budget = 1024^2, ttl = 60)
    warmstart:::ws_inject_fault(st, "before_verify", "stop")
    ws_evict(st, verify = TRUE)
  })
  # Listed by the sweep, replaced before it hashes the payload.
  ws_save(t$store, key, charToRaw("v2"), objective = 1, run_id = id)
  res <- continue_child(job)
  expect_identical(res$corrupt, 0)
  got <- ws_lookup(t$store, key)
  expect_identical(got$payload, charToRaw("v2"))
  expect_identical(got$objective, 1)
})

# ---- 3. PROTECT in the listing: see also `make gctorture` ----

test_that("listings built under gctorture are intact", {
  skip_on_cran()
  t <- temp_store()
  cache <- ws_cachem(t$store)
  cache$set("a", 1)
  ws_save(t$store, key_for("gc 1"), charToRaw("x"), objective = 1, iteration = 3)
  ws_save(t$store, key_for("gc 2"), list(1, "b"), kind = "final")
  calm <- list(.Call(warmstart:::C_ws_list, t$store, NULL, TRUE),
               ws_lookup(t$store, key_for("gc 2")), cache$keys())
  warmstart:::ws_value_cache_clear()
  gctorture(TRUE)
  tortured <- list(.Call(warmstart:::C_ws_list, t$store, NULL, TRUE),
                   ws_lookup(t$store, key_for("gc 2")), cache$keys())
  gctorture(FALSE)
  expect_identical(tortured, calm)
  expect_s3_class(tortured[[1]]$written, "POSIXct")
})

# ---- 4. numbers independent of LC_NUMERIC ----

test_that("a comma-decimal LC_NUMERIC neither corrupts metas nor misreads them", {
  skip_on_os("windows")
  localedef <- Sys.which("localedef")
  skip_if(!nzchar(localedef), "localedef is not installed")
  if (!dir.exists("/usr/share/i18n/locales")) skip_no_tool("locale sources to build de_DE")
  locpath <- tempfile("locales-")
  dir.create(locpath)
  withr::defer(unlink(locpath, recursive = TRUE))
  system2(localedef, c("-i", "de_DE", "-f", "UTF-8",
                       shQuote(file.path(locpath, "de_DE.UTF-8"))),
          stdout = FALSE, stderr = FALSE)
  if (!dir.exists(file.path(locpath, "de_DE.UTF-8"))) skip_no_tool("localedef could not build de_DE")
  t <- temp_store()
  key <- key_for("item 4")
  out <- run_r(c(
    "library(warmstart)",
    'stopifnot(nzchar(suppressWarnings(Sys.setlocale("LC_NUMERIC", "de_DE.UTF-8"))))',
    'cat("decimal:", sprintf("%.1f", 1.5), "\\n")',
    sprintf('st <- ws_open("%s", size_budget = 1024^2, ttl = 60)', t$root),
    sprintf('ws_save(st, "%s", charToRaw("x"), objective = 1.5, kind = "final")', key),
    sprintf('ws_save(st, "%s", charToRaw("y"), objective = 0.1 + 0.2)', key),
    "warmstart:::ws_value_cache_clear()",
    sprintf('cat("read:", format(ws_lookup(st, "%s")$objective, nsmall = 1), "\\n")', key)
  ), env = c(LOCPATH = locpath))
  expect_identical(attr(out, "status"), 0L)
  # The child really wrote numbers with a comma, and still read its own.
  expect_true("decimal: 1,5 " %in% out)
  expect_true("read: 0,3 " %in% out)
  metas <- list.files(key_dir(t, key), pattern = "\\.json$", full.names = TRUE)
  text <- vapply(metas, function(f) readChar(f, 1000), "")
  expect_true(any(grepl('"objective":1.5,', text, fixed = TRUE)))
  expect_true(any(grepl('"objective":0.30000000000000004,', text, fixed = TRUE)))
  got <- ws_lookup(t$store, key)
  expect_identical(got$objective, 0.1 + 0.2)
  expect_identical(nrow(ws_list(t$store)), 2L)
})

# ---- 5. a hot lookup returns what is on disk ----

test_that("a hot lookup returns what is on disk after a caller changed the last one", {
  t <- temp_store()
  key <- key_for("item 5")
  state <- new.env()
  state$count <- 1
  counter <- local({
    n <- 1
    function() n
  })
  ws_save(t$store, key, list(state = state, counter = counter, v = 1:3))
  settle()
  first <- ws_lookup(t$store, key)$payload
  first$state$count <- 99
  environment(first$counter)$n <- 42
  first$v[1] <- 100L
  again <- ws_lookup(t$store, key)$payload
  expect_identical(again$state$count, 1)
  expect_identical(again$counter(), 1)
  expect_identical(again$v, 1:3)
  # Values without references are still served from the cache as they are.
  plain <- key_for("item 5, plain")
  ws_save(t$store, plain, list(a = 1, b = "x"))
  settle()
  a <- ws_lookup(t$store, plain)$payload
  b <- ws_lookup(t$store, plain)$payload
  expect_true(warmstart:::ws_same_object(a, b))
})

# ---- 6. a read that fails or ends early deletes nothing ----

test_that("a failed or short payload read is an error and keeps the entry", {
  skip_on_os(c("windows", "mac"))
  shim <- build_c_helper("readfault", "-ldl")
  if (is.null(shim)) skip_no_tool("a C compiler for the read-fault shim")
  t <- temp_store()
  key <- key_for("item 6")
  ws_save(t$store, key, charToRaw("a payload of some length"), objective = 1)
  out <- run_r(c(
    "library(warmstart)",
    sprintf('st <- ws_open("%s", size_budget = 1024^2, ttl = 60, memory_cache = FALSE)',
            t$root),
    "for (mode in c('eio', 'short')) {",
    "  Sys.setenv(WS_READFAULT = mode)",
    sprintf('  e <- tryCatch(ws_lookup(st, "%s"), ws_io_error = function(e) e)', key),
    "  Sys.unsetenv('WS_READFAULT')",
    "  cat(mode, class(e)[1], e$code, '\\n')",
    "}",
    sprintf('cat("after:", rawToChar(ws_lookup(st, "%s")$payload), "\\n")', key)
  ), env = c(LD_PRELOAD = preload_after(shim)))
  expect_identical(attr(out, "status"), 0L)
  expect_true("eio ws_io_error EIO " %in% out)
  expect_true("short ws_io_error EIO " %in% out)
  expect_true("after: a payload of some length " %in% out)
  expect_length(entry_files(key_dir(t, key)), 2)
})

# ---- 8. containers: same hostname, another pid namespace ----

test_that("a container's live writer (own pid namespace, same hostname) keeps its temps", {
  skip_on_os(c("windows", "mac"))
  skip_unless_linux()
  unshare <- Sys.which("unshare")
  skip_if(!nzchar(unshare), "unshare is not installed")
  probe <- suppressWarnings(system2(unshare, c("--pid", "--fork", "--mount-proc",
                                               "true"), stdout = FALSE, stderr = FALSE))
  skip_if(probe != 0, "unshare --pid is not permitted here (needs root or user namespaces)")
  t <- temp_store()
  key <- key_for("item 8")
  dir.create(key_dir(t, key))
  # The writer's pid inside its namespace, chosen to be a pid that is dead
  # out here: judged by pid, its temps would look abandoned.
  alive <- as.integer(list.files("/proc", pattern = "^[0-9]+$"))
  target <- setdiff(300:400, alive)[1]
  script <- tempfile(fileext = ".R")
  writeLines(c(sprintf(".libPaths(%s)", deparse(.libPaths(), width.cutoff = 500L)),
               "library(warmstart)",
               sprintf('st <- ws_open("%s", size_budget = 1024^2, ttl = 60)', t$root),
               "cat(Sys.getpid(), '\\n')",
               'warmstart:::ws_inject_fault(st, "before_meta_rename", "stop")',
               sprintf('ws_save(st, "%s", charToRaw("from the container"), objective = 1)',
                       key)), script)
  log <- tempfile()
  withr::defer(unlink(c(script, log)))
  rscript <- file.path(R.home("bin"), "Rscript")
  inner <- sprintf("echo %d > /proc/sys/kernel/ns_last_pid; %s --vanilla %s > %s 2>&1; true",
                   target - 1L, rscript, shQuote(script), shQuote(log))
  system2(unshare, c("--pid", "--fork", "--mount-proc", "sh", "-c", shQuote(inner)),
          wait = FALSE)
  # Out here: wait for the writer to stop between its renames. It has
  # stopped once its meta's temp exists beside a renamed payload (a listing
  # taken earlier can still hold the payload's temp, renamed a moment later).
  deadline <- Sys.time() + 60
  temps <- character()
  while (Sys.time() < deadline) {
    payload_done <- length(list.files(key_dir(t, key), "\\.bin$")) > 0
    temps <- temp_files(t$root)
    if (payload_done && any(grepl("\\.json\\.tmp\\.", temps))) break
    Sys.sleep(0.05)
  }
  expect_gt(length(temps), 0L)
  expect_identical(as.integer(readLines(log, warn = FALSE)[1]), target)
  pids <- as.integer(sub(".*\\.tmp\\.([0-9]+)\\..*", "\\1", temps))
  expect_true(all(pids == target))
  ws_lookup(t$store, key)
  ws_evict(t$store)
  ws_evict(t$store, verify = TRUE)
  expect_identical(temp_files(t$root), temps)
  expect_length(list.files(key_dir(t, key), "\\.bin$"), 1L)
  # Let it finish: its entry is then whole.
  host_pids <- as.integer(list.files("/proc", pattern = "^[0-9]+$"))
  for (p in host_pids) {
    if (grepl(basename(script), cmdline(p), fixed = TRUE)) tools::pskill(p, tools::SIGCONT)
  }
  deadline <- Sys.time() + 60
  while (is.null(ws_lookup(t$store, key)) && Sys.time() < deadline) Sys.sleep(0.05)
  expect_identical(ws_lookup(t$store, key)$payload, charToRaw("from the container"))
})

# ---- 9. durability: what is synced ----

test_that("a durable save syncs a new root's parent, the root and the key dir", {
  skip_on_os(c("windows", "mac"))
  strace <- Sys.which("strace")
  skip_if(!nzchar(strace), "strace is not installed")
  base <- normalizePath(tempfile("durable-"), mustWork = FALSE)
  dir.create(base)
  withr::defer(unlink(base, recursive = TRUE))
  root <- file.path(base, "new", "root")
  key <- key_for("item 9")
  script <- tempfile(fileext = ".R")
  writeLines(c(
    sprintf(".libPaths(%s)", deparse(.libPaths(), width.cutoff = 500L)),
    "library(warmstart)",
    sprintf('st <- ws_open("%s", size_budget = Inf, ttl = 60)', root),
    'cat("opened\\n", file = stderr())',
    sprintf('ws_save(st, "%s", charToRaw("x"))', key),
    # Into the key dir that now exists: the root is synced all the same
    # (whoever made the key dir may not have synced it yet).
    sprintf('ws_save(st, "%s", charToRaw("y"))', key),
    'cat("saved\\n", file = stderr())',
    # Another handle on the root whose budget is 0: its sweep removes the
    # entry and then the key dir.
    sprintf('ws_evict(ws_open("%s", size_budget = 0, ttl = 60))', root)), script)
  log <- tempfile()
  withr::defer(unlink(c(script, log)))
  status <- system2(strace, c("-f", "-y", "-e", "trace=fsync,write", "-o", shQuote(log),
                              file.path(R.home("bin"), "Rscript"), "--vanilla",
                              shQuote(script)), stdout = FALSE, stderr = FALSE)
  expect_identical(status, 0L)
  calls <- readLines(log)
  calls <- calls[grepl("fsync\\(|opened\\\\n|saved\\\\n", calls)]
  phase <- cumsum(grepl("opened\\\\n|saved\\\\n", calls))
  synced <- sub("^.*fsync\\([0-9]+<([^>]*)>.*$", "\\1", calls[grepl("fsync\\(", calls)])
  phase <- phase[grepl("fsync\\(", calls)]
  # Opening created base/new and base/new/root: each synced into its parent.
  expect_true(all(c(base, file.path(base, "new")) %in% synced[phase == 0]))
  # Each save wrote the payload and meta temps, then synced the key dir,
  # then the root.
  save <- synced[phase == 1]
  kd <- file.path(root, key)
  expect_identical(save[save %in% c(kd, root)], c(kd, root, kd, root))
  expect_length(grep("\\.bin\\.tmp\\.", save), 2L)
  expect_length(grep("\\.json\\.tmp\\.", save), 2L)
  expect_lt(grep("\\.json\\.tmp\\.", save)[1], which(save == kd)[1])
  # The sweep removed the key dir: the root is synced again.
  expect_false(dir.exists(kd))
  expect_true(root %in% synced[phase == 2])
})

# ---- 10. FIFOs, interrupts, leaks ----

test_that("a FIFO named like an entry neither hangs a lookup nor is removed", {
  skip_on_os("windows")
  mkfifo <- Sys.which("mkfifo")
  skip_if(!nzchar(mkfifo), "mkfifo is not installed")
  t <- temp_store()
  key <- key_for("item 10 fifo")
  ws_save(t$store, key, charToRaw("good"), objective = 2)
  dir <- key_dir(t, key)
  for (name in c("r1-1.bin", "r2-2.json")) system2(mkfifo, shQuote(file.path(dir, name)))
  writeBin(charToRaw("payload"), file.path(dir, "r2-2.bin"))
  writeLines("{}", file.path(dir, "r1-1.json"))
  out <- run_r(c("library(warmstart)",
                 sprintf('st <- ws_open("%s", size_budget = 1024^2, ttl = 60)', t$root),
                 sprintf('cat(rawToChar(ws_lookup(st, "%s")$payload), "\\n")', key),
                 "invisible(ws_evict(st, verify = TRUE))",
                 "cat(nrow(ws_list(st)), '\\n')"), timeout = 60)
  expect_identical(attr(out, "status"), 0L)
  expect_identical(as.vector(out), c("good ", "1 "))
  info <- file.info(file.path(dir, c("r1-1.bin", "r2-2.json")), extra_cols = FALSE)
  expect_true(all(!is.na(info$size)))
})

test_that("a save waiting for a held key dir can be interrupted, and leaks nothing", {
  skip_on_os(c("windows", "mac"))
  flock <- Sys.which("flock")
  skip_if(!nzchar(flock), "flock(1) is not installed")
  # The save runs in an R process of its own, started with SIGINT at its
  # default action. R CMD check (R 4.5.0) runs the tests with SIGINT
  # ignored; every child, forked or exec'd, inherits that, and R 4.5 keeps
  # it (R 4.2 installs its handler anyway), so no interrupt would reach the
  # save. env --default-signal (GNU coreutils >= 8.31) undoes it.
  if (!identical(suppressWarnings(system2("env", c("--default-signal=INT", "true"),
                                          stdout = FALSE, stderr = FALSE)), 0L)) {
    skip_no_tool("env --default-signal (GNU coreutils >= 8.31)")
  }
  t <- temp_store()
  key <- key_for("item 10 lock")
  dir.create(key_dir(t, key))
  # Another process holds the key dir's lock exclusively (as a sweep does
  # while it removes things), for longer than the test.
  pidfile <- tempfile()
  system2("sh", c("-c", shQuote(sprintf("echo $$ > %s; exec %s -F -x %s sleep 600",
                                        pidfile, flock, shQuote(key_dir(t, key))))),
          wait = FALSE)
  deadline <- Sys.time() + 10
  while (!file.exists(pidfile) && Sys.time() < deadline) Sys.sleep(0.01)
  holder <- as.integer(readLines(pidfile))
  withr::defer(tools::pskill(holder, tools::SIGKILL))
  Sys.sleep(0.2) # it holds the lock by now
  saver_pidfile <- tempfile()
  out <- tempfile(fileext = ".rds")
  script <- tempfile(fileext = ".R")
  writeLines(c(
    sprintf(".libPaths(%s)", deparse(.libPaths(), width.cutoff = 500L)),
    "library(warmstart)",
    sprintf('st <- ws_open("%s", size_budget = 1024^2, ttl = 60)', t$root),
    "fds <- function() length(list.files('/proc/self/fd'))",
    sprintf('writeLines(as.character(Sys.getpid()), "%s")', saver_pidfile),
    "before <- fds()",
    sprintf('res <- tryCatch(ws_save(st, "%s", charToRaw("x")),', key),
    '                interrupt = function(e) "interrupted")',
    "leaked <- fds() - before",
    sprintf('saveRDS(list(res = res, leaked = leaked), "%s")', out)), script)
  system2("env", c("--default-signal=INT", shQuote(file.path(R.home("bin"), "Rscript")),
                   "--vanilla", shQuote(script)),
          stdout = FALSE, stderr = FALSE, wait = FALSE)
  saver_pid <- function() {
    pid <- suppressWarnings(tryCatch(as.integer(readLines(saver_pidfile)),
                                     error = function(e) integer()))
    if (length(pid) == 1L && !is.na(pid)) pid else NA_integer_
  }
  deadline <- Sys.time() + 60
  while (is.na(saver_pid()) && Sys.time() < deadline) Sys.sleep(0.05)
  saver <- saver_pid()
  if (is.na(saver)) stop("the saving R process did not start")
  withr::defer(tools::pskill(saver, tools::SIGKILL))
  Sys.sleep(1.5) # the save is waiting for the lock by now
  expect_identical(proc_state(saver) %in% c("S", "R"), TRUE)
  expect_false(file.exists(out))
  tools::pskill(saver, tools::SIGINT)
  wait_gone(saver, 10)
  res <- if (file.exists(out)) readRDS(out) else list()
  expect_identical(res$res, "interrupted")
  expect_identical(res$leaked, 0L)
  expect_length(temp_files(t$root), 0L)
})

# ---- 11. symbolic links ----

test_that("nothing outside the root is read, changed or removed through a link", {
  skip_on_os("windows")
  skip_if_no_fork()
  t <- temp_store(size_budget = 0)
  outside <- tempfile("outside-")
  dir.create(outside)
  withr::defer(unlink(outside, recursive = TRUE))
  # Files an attacker would like a lookup to return or a sweep to remove:
  # a whole entry, a dead writer's temp, an orphan payload.
  other <- temp_store()
  victim_key <- key_for("item 11 victim")
  id <- ws_save(other$store, victim_key, charToRaw("outside"), objective = 0)
  file.copy(entry_files(key_dir(other, victim_key)), outside)
  pid <- dead_pid()
  writeBin(charToRaw("temp"), file.path(outside, sprintf("r1-1.bin.tmp.%d.1.0.%s", pid,
                                                         warmstart:::ws_host_token())))
  old_orphan <- file.path(outside, "r1-2.bin")
  writeBin(charToRaw("orphan"), old_orphan)
  Sys.setFileTime(old_orphan, Sys.time() - 7200)
  before <- snapshot(outside)
  # A key dir that is a link to it.
  file.symlink(outside, key_dir(t, victim_key))
  expect_null(ws_lookup(t$store, victim_key))
  expect_null(ws_lookup_latest(t$store, victim_key))
  expect_identical(nrow(ws_list(t$store)), 0L)
  ws_evict(t$store)
  ws_evict(t$store, verify = TRUE)
  e <- expect_error(ws_save(t$store, victim_key, charToRaw("x")), class = "ws_io_error")
  expect_true(e$code %in% c("ELOOP", "ENOTDIR"))
  ws_remove(t$store, victim_key)
  expect_identical(snapshot(outside), before)
  expect_true(file.exists(key_dir(t, victim_key)))
  # Entry files that are links to files outside.
  key <- key_for("item 11 files")
  dir <- key_dir(t, key)
  dir.create(dir)
  for (f in entry_files(outside, "\\.(json|bin)$")) {
    file.symlink(f, file.path(dir, basename(f)))
  }
  expect_null(ws_lookup(t$store, key))
  ws_evict(t$store, verify = TRUE)
  expect_identical(snapshot(outside), before)
  expect_length(entry_files(dir), 3L) # the links are left alone too
})

# ---- 12. ws_key() is reentrant ----

test_that("ws_key() called while another ws_key() walks gives both right keys", {
  skip_on_os("windows")
  src <- test_path("c", "reenter.c")
  build <- file.path(tempdir(), "reenter")
  dir.create(build, showWarnings = FALSE)
  file.copy(src, build, overwrite = TRUE)
  # Built in its own directory: under --as-cran (_R_SHLIB_BUILD_OBJECTS_SYMBOL_TABLES_)
  # R CMD SHLIB also writes symbols.rds into the working directory.
  status <- withr::with_dir(build, suppressWarnings(system2(
    file.path(R.home("bin"), "R"), c("CMD", "SHLIB", "reenter.c"),
    stdout = FALSE, stderr = FALSE)))
  lib <- file.path(build, paste0("reenter", .Platform$dynlib.ext))
  if (!file.exists(lib)) skip_no_tool("a C compiler for the ALTREP helper")
  dll <- dyn.load(lib)
  withr::defer(dyn.unload(lib))
  inner <- character()
  v <- .Call(getNativeSymbolInfo("reenter_make", dll), 5e4,
             function() inner <<- c(inner, ws_key("inner", 1:10)))
  outer <- ws_key("outer", list(a = v, b = "after"))
  expect_gt(length(inner), 0L)
  expect_identical(unique(inner), ws_key("inner", 1:10))
  expect_identical(outer, ws_key("outer", list(a = 1:5e4, b = "after")))
})

# ---- the cold read hashes on a second thread (issue 16) ----

test_that("a large payload is verified across every chunk the reader reads", {
  t <- temp_store(size_budget = Inf, memory_cache = FALSE)
  key <- key_for("hashed while read")
  n <- 20e6 # 5 chunks of 4 MiB: hashed on the second thread
  payload <- as.raw(sample.int(256, n, replace = TRUE) - 1L)
  ws_save(t$store, key, payload, objective = 1)
  expect_identical(ws_lookup(t$store, key)$payload, payload)
  # One byte changed in the last chunk, then in the first: never returned.
  for (at in c(n - 1, 1)) {
    ws_remove(t$store, key)
    ws_save(t$store, key, payload, objective = 1)
    bin <- entry_files(key_dir(t, key), "\\.bin$")
    expect_length(bin, 1L)
    con <- file(bin, "r+b")
    seek(con, at, rw = "write")
    writeBin(as.raw(bitwXor(as.integer(payload[at + 1]), 1L)), con)
    close(con)
    expect_null(ws_lookup(t$store, key))
    expect_length(entry_files(key_dir(t, key)), 0L)
  }
})

# ---- found by the review of the change above ----

test_that("without locks that reach the writer, an eviction keeps an overwrite in flight", {
  skip_on_os(c("windows", "mac"))
  skip_if_no_fork()
  noflock <- build_c_helper("noflock")
  if (is.null(noflock)) skip_no_tool("a C compiler for the flock shim")
  t <- temp_store(size_budget = Inf)
  key <- key_for("review 3")
  rid <- ws_save(t$store, key, charToRaw("v1"), objective = 2)
  job <- stopped_child(function() {
    st <- ws_open(t$root, size_budget = Inf, ttl = 60)
    warmstart:::ws_inject_fault(st, "before_meta_rename", "stop")
    ws_save(st, key, charToRaw("v2"), objective = 1, run_id = rid)
  })
  # "Another host": its locks do not see the writer's pin. Its budget
  # evicts everything it may.
  out <- run_r(c("library(warmstart)",
                 sprintf('st <- ws_open("%s", size_budget = 0, ttl = 60)', t$root),
                 "res <- ws_evict(st)",
                 sprintf('e <- ws_lookup(st, "%s")', key),
                 "cat(res$removed, is.null(e), '\\n')"),
               env = c(LD_PRELOAD = preload_after(noflock)))
  expect_identical(attr(out, "status"), 0L)
  expect_identical(as.vector(out), "0 TRUE ")
  expect_identical(continue_child(job), rid)
  got <- ws_lookup(t$store, key)
  expect_identical(got$payload, charToRaw("v2"))
})

test_that("a lookup keeps an entry whose payload a Rust writer is replacing", {
  t <- temp_store()
  key <- key_for("review 4")
  ws_save(t$store, key, charToRaw("old"), objective = 1)
  dir <- key_dir(t, key)
  meta <- entry_files(dir, "\\.json$")
  bin <- entry_files(dir, "\\.bin$")
  run_id <- sub("\\.json$", "", basename(meta))
  # The Rust store's overwrite: the new payload renamed into place, then
  # its meta temp (no host token) written, not yet renamed.
  tmp <- file.path(dir, "new.bin.tmp")
  writeBin(charToRaw("new payload"), tmp)
  file.rename(tmp, bin)
  rust_temp <- file.path(dir, sprintf("%s.json.tmp.%d.1.0", run_id, dead_pid_portable()))
  writeLines("{", rust_temp)
  warmstart:::ws_value_cache_clear()
  expect_null(ws_lookup(t$store, key))
  ws_evict(t$store, verify = TRUE)
  expect_true(all(file.exists(c(meta, bin, rust_temp))))
  # The writer renames its meta: the new entry is whole.
  reseal(meta, charToRaw("new payload"))
  unlink(rust_temp)
  expect_identical(ws_lookup(t$store, key)$payload, charToRaw("new payload"))
})

test_that("whatever stands at the sweep marker's temp name is unlinked, never written", {
  skip_on_os("windows")
  mkfifo <- Sys.which("mkfifo")
  skip_if(!nzchar(mkfifo), "mkfifo is not installed")
  t <- temp_store()
  ws_save(t$store, key_for("review 5"), charToRaw("x"))
  outside <- tempfile("outside-")
  writeLines("not the store's", outside)
  withr::defer(unlink(outside))
  dir.create(file.path(t$root, ".warmstart"), showWarnings = FALSE)
  out <- run_r(c(
    "library(warmstart)",
    sprintf('st <- ws_open("%s", size_budget = 1024^2, ttl = 60)', t$root),
    sprintf('tmp <- file.path("%s", ".warmstart", sprintf("sweep.tmp.%%d.%%s", Sys.getpid(), warmstart:::ws_host_token()))', t$root),
    sprintf('stopifnot(file.link("%s", tmp))', outside),
    "invisible(ws_evict(st))",
    "unlink(tmp)",
    sprintf('system2("%s", shQuote(tmp))', mkfifo),
    "invisible(ws_evict(st))",
    "cat('swept\\n')"), timeout = 30)
  expect_identical(attr(out, "status"), 0L)
  expect_identical(as.vector(out), "swept")
  expect_identical(readLines(outside), "not the store's")
})

test_that("without /proc's boot id and pid namespace, every process has a token of its own", {
  skip_on_os(c("windows", "mac"))
  unshare <- Sys.which("unshare")
  skip_if(!nzchar(unshare), "unshare is not installed")
  probe <- suppressWarnings(system2(unshare, c("--mount", "--pid", "--fork", "true"),
                                    stdout = FALSE, stderr = FALSE))
  skip_if(probe != 0, "unshare --mount --pid is not permitted here")
  script <- tempfile(fileext = ".R")
  writeLines(c(sprintf(".libPaths(%s)", deparse(.libPaths(), width.cutoff = 500L)),
               "cat(warmstart:::ws_host_token(), '\\n')"), script)
  withr::defer(unlink(script))
  token_in_sandbox <- function() {
    inner <- sprintf("mount -t tmpfs none /proc && %s --vanilla %s",
                     file.path(R.home("bin"), "Rscript"), shQuote(script))
    trimws(system2(unshare, c("--mount", "--pid", "--fork", "sh", "-c", shQuote(inner)),
                   stdout = TRUE))
  }
  a <- token_in_sandbox()
  b <- token_in_sandbox()
  expect_match(a, "^p[0-9a-f]{15}$")
  expect_false(identical(a, b))
  expect_false(identical(a, warmstart:::ws_host_token()))
})

test_that("labels come only from metas whose digest verified", {
  t <- temp_store()
  cache <- ws_cachem(t$store)
  cache$set("right", 1)
  meta <- entry_files(key_dir(t, ws_key(what = "ws_cachem", key = "right")), "\\.json$")
  text <- readChar(meta, 1e5, useBytes = TRUE)
  writeChar(sub("cachem:right", "cachem:wrong", text, fixed = TRUE), meta,
            eos = NULL, useBytes = TRUE)
  expect_false("wrong" %in% cache$keys())
  expect_false("wrong" %in% .Call(warmstart:::C_ws_list, t$store, NULL, TRUE)$label)
})
