# A store in a fresh directory under tempdir(), removed when the calling
# test ends. Defaults match the Rust tests' temp_store(): 1 MiB, 60 s.
temp_store <- function(size_budget = 1024 * 1024, ttl = 60, ...,
                       env = parent.frame()) {
  root <- tempfile("ws-")
  store <- ws_open(root, size_budget = size_budget, ttl = ttl, ...)
  withr::defer(unlink(root, recursive = TRUE), envir = env)
  list(root = root, store = store)
}

key_for <- function(s) ws_key("test", s)

key_dir <- function(t, key) file.path(t$root, key)

entry_files <- function(dir, pattern = NULL) {
  list.files(dir, pattern = pattern, full.names = TRUE, all.files = TRUE,
             no.. = TRUE)
}

# Every file under the root with its size and mtime: "nothing on disk
# changed" means this is identical before and after.
snapshot <- function(root) {
  f <- list.files(root, recursive = TRUE, all.files = TRUE,
                  include.dirs = TRUE, no.. = TRUE)
  info <- file.info(file.path(root, f))
  paste(f, info$size, format(info$mtime, "%OS6"))
}

# Bytes in key dirs (what the budget counts; the root also holds the
# sweep's small marker file).
bytes_on_disk <- function(root) {
  f <- list.files(root, recursive = TRUE, all.files = TRUE)
  f <- f[grepl("^[0-9a-f]{32,128}/", f)]
  # A file removed since the listing counts nothing (while writers run).
  sum(file.size(file.path(root, f)), na.rm = TRUE)
}

temp_files <- function(root) {
  grep("\\.tmp\\.", list.files(root, recursive = TRUE, all.files = TRUE),
       value = TRUE)
}

# The pid of a process that has exited and been reaped: a shell that
# prints its own pid, waited for by system2().
dead_pid <- function() {
  skip_on_os("windows") # sh, /proc
  pid <- as.integer(system2("sh", c("-c", shQuote("echo $$")), stdout = TRUE))
  wait_gone(pid)
  pid
}

# dead_pid() on any system: on Windows (no sh, no /proc), the pid of an
# Rscript that printed it and has exited, system2() having waited for it.
dead_pid_portable <- function() {
  if (.Platform$OS.type != "windows") return(dead_pid())
  out <- system2(file.path(R.home("bin"), "Rscript"),
                 c("--vanilla", "-e", shQuote("cat(Sys.getpid())")),
                 stdout = TRUE)
  pid <- as.integer(out[length(out)])
  stopifnot(length(pid) == 1L, !is.na(pid))
  pid
}

# A child that does not exit (or never started) is a failure of the test,
# never a reason to skip it. One that exited but was never reaped (a
# zombie) still counts as alive to kill(pid, 0), and so to the store.
wait_gone <- function(pid, seconds = 60) {
  skip_on_os("windows") # /proc
  deadline <- Sys.time() + seconds
  while (file.exists(file.path("/proc", pid)) && Sys.time() < deadline) {
    Sys.sleep(0.01)
  }
  if (file.exists(file.path("/proc", pid))) {
    state <- tryCatch(grep("^State:", readLines(file.path("/proc", pid, "status")),
                           value = TRUE), error = function(e) "")
    stop(sprintf(paste0("child process %d did not exit within %d s (%s)%s"),
                 pid, seconds, sub("^State:\\s*", "", state),
                 if (any(grepl("zombie", state)))
                   paste0(": exited but never reaped; was processx loaded in",
                          " this process? its SIGCHLD handler leaves",
                          " parallel's children unreaped") else ""))
  }
}

# The pid of a process that lives until the calling test ends (then it is
# killed and reaped): a stand-in for a live writer, however slowly the
# test runs (a sleep of fixed length ran out under valgrind).
live_pid <- function(env = parent.frame()) {
  skip_on_os("windows") # fork
  job <- parallel::mcparallel(repeat Sys.sleep(1), silent = TRUE)
  withr::defer({
    tools::pskill(job$pid, tools::SIGKILL)
    suppressWarnings(parallel::mccollect(job, wait = TRUE))
  }, envir = env)
  job$pid
}

# Wait out the window in which file stamps are too fresh to prove anything
# (the cache's racy-stamp rule), so the next lookup can be served hot.
settle <- function() Sys.sleep(0.1)

skip_if_no_fork <- function() {
  skip_on_os("windows")
  skip_if_not_installed("parallel")
}

# Worker processes for mclapply: R CMD check --as-cran allows two.
test_cores <- function(n) {
  limit <- Sys.getenv("_R_CHECK_LIMIT_CORES_", "")
  if (nzchar(limit) && !identical(tolower(limit), "false")) min(n, 2L) else n
}

# Figures a test measured (e.g. how many kills landed mid-write), appended
# to the file named by WARMSTART_FIGURES when it is set: the README's
# RELIABILITY section quotes them.
record_figure <- function(name, value) {
  path <- Sys.getenv("WARMSTART_FIGURES")
  if (nzchar(path)) {
    cat(sprintf("%s: %s\n", name, paste(format(value), collapse = " ")),
        file = path, append = TRUE)
  }
  invisible(value)
}

# A meta of ours for other payload bytes (and other text edits), its
# digest made again: what a writer of ours would have written.
reseal <- function(meta_path, bytes = NULL, edit = identity) {
  text <- readChar(meta_path, 1e5, useBytes = TRUE)
  body <- sub(',"meta_sha256":"[0-9a-f]{64}"}$', "}", text)
  if (!is.null(bytes)) {
    body <- sub('"checksum_hex":"[0-9a-f]{64}"',
                sprintf('"checksum_hex":"%s"', warmstart:::ws_sha256(bytes)), body)
    body <- sub('"payload_bytes":[0-9]+', sprintf('"payload_bytes":%d', length(bytes)),
                body)
  }
  body <- edit(body)
  sealed <- paste0(substr(body, 1, nchar(body) - 1),
                   sprintf(',"meta_sha256":"%s"}', warmstart:::ws_sha256(body)))
  writeChar(sealed, meta_path, eos = NULL, useBytes = TRUE)
}
