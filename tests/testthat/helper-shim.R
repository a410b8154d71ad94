# Running store code in a child Rscript with fault-shim.c preloaded: the
# shim records the child's file system calls under a watched path and makes
# chosen calls fail (see the comment at the top of fault-shim.c).

# Skips for what a machine may lack. tools/check.sh fails `make test` on
# any other skip reason in a test that runs here, so a test that silently
# stops running is noticed.
skip_no_tool <- function(what) skip(paste("no tool:", what))
skip_no_privilege <- function(what) skip(paste("no privilege:", what))

skip_unless_linux <- function() {
  if (!identical(Sys.info()[["sysname"]], "Linux")) skip_no_tool("Linux")
}

# The shim, compiled once per R session with the compiler R uses.
fault_shim <- local({
  built <- NULL
  function() {
    skip_on_cran() # a compiler run and dozens of child processes
    skip_unless_linux()
    if (!is.null(built) && file.exists(built)) return(built)
    r <- file.path(R.home("bin"), "R")
    cc <- suppressWarnings(system2(r, c("CMD", "config", "CC"), stdout = TRUE,
                                   stderr = FALSE))
    cc <- strsplit(trimws(cc[length(cc)]), "[[:space:]]+")[[1]]
    if (length(cc) == 0 || !nzchar(Sys.which(cc[1]))) {
      skip_no_tool("a C compiler (R CMD config CC)")
    }
    so <- tempfile("fault-shim-", fileext = ".so")
    out <- suppressWarnings(system2(
      cc[1], c(cc[-1], "-shared", "-fPIC", "-O1", "-o", shQuote(so),
               shQuote(test_path("fault-shim.c")), "-ldl"),
      stdout = TRUE, stderr = TRUE))
    # The shim is ours: that it does not build is a failure, not a skip.
    if (!file.exists(so)) stop("fault-shim.c did not build:\n", paste(out, collapse = "\n"))
    built <<- so
    so
  }
})

# Lines run in the child before the caller's code: `catch()` turns an error
# into a plain list (its classes and fields) the parent can inspect.
child_prelude <- c(
  "library(warmstart)",
  "catch <- function(expr) tryCatch(expr, error = function(e)",
  "  list(error = class(e), code = e$code, errno = e$errno, path = e$path,",
  "       message = conditionMessage(e)))",
  "files_under <- function(d) sort(list.files(d, recursive = TRUE, all.files = TRUE))"
)

# The class and errno name of what a child's catch() returned ("none" and
# NA when the call succeeded).
error_class <- function(x) if (is.list(x) && !is.null(x$error)) x$error else "none"
error_code <- function(x) if (is.list(x) && !is.null(x$error)) x$code else NA_character_

# Start `code` (R lines; the value of the last one is the result) in a
# child Rscript with the shim preloaded. `faults`: "op:pattern:nth:action"
# strings; `watch`: fnmatch pattern of the paths to log. Returns a handle
# for shim_wait(); the child is killed when the calling test ends.
shim_start <- function(code, watch = NULL, faults = NULL, env = parent.frame()) {
  so <- fault_shim()
  dir <- tempfile("shim-run-")
  dir.create(dir)
  h <- list(dir = dir, pid_file = file.path(dir, "pid"),
            result = file.path(dir, "result.rds"), log = file.path(dir, "log"),
            out = file.path(dir, "out"))
  script <- file.path(dir, "child.R")
  writeLines(c(
    sprintf("writeLines(as.character(Sys.getpid()), %s)", deparse(h$pid_file)),
    child_prelude,
    "result <- local({", code, "})",
    sprintf("saveRDS(result, %s)", deparse(paste0(h$result, ".tmp"))),
    sprintf("invisible(file.rename(%s, %s))", deparse(paste0(h$result, ".tmp")),
            deparse(h$result))
  ), script)
  vars <- c(LD_PRELOAD = preload_after(so), R_LIBS = paste(.libPaths(), collapse = ":"),
            WS_SHIM_LOG = h$log, WS_SHIM_WATCH = watch %||% "",
            WS_SHIM_FAULTS = paste(faults, collapse = ";"))
  # Under `make sanitize`: with a log_path in ASAN_OPTIONS and the shim
  # preloaded, the child Rscript dies at start-up without a word or a log
  # (seen with ASan's runtime from gcc 12; without log_path it runs). Its
  # reports go to its output instead (abort_on_error still fails the test).
  for (opt in c("ASAN_OPTIONS", "UBSAN_OPTIONS")) {
    if (nzchar(Sys.getenv(opt))) {
      vars[[opt]] <- gsub("(^|:)log_path=[^:]*", "", Sys.getenv(opt))
    }
  }
  rscript <- file.path(R.home("bin"), "Rscript")
  system2(rscript, c("--vanilla", shQuote(script)),
          env = paste0(names(vars), "=", shQuote(vars)),
          stdout = h$out, stderr = h$out, wait = FALSE)
  withr::defer(shim_kill(h), envir = env)
  h
}

`%||%` <- function(a, b) if (is.null(a)) b else a

shim_pid <- function(h, seconds = 60) {
  deadline <- Sys.time() + seconds
  read_pid <- function() {
    if (!file.exists(h$pid_file)) return(NA_integer_)
    pid <- suppressWarnings(as.integer(readLines(h$pid_file, warn = FALSE)))
    if (length(pid) == 1) pid else NA_integer_
  }
  while (is.na(pid <- read_pid()) && Sys.time() < deadline) Sys.sleep(0.01)
  if (is.na(pid)) {
    stop(sprintf("the child Rscript did not start within %d s:\n%s", seconds,
                 paste(readLines(h$out, warn = FALSE), collapse = "\n")))
  }
  pid
}

shim_kill <- function(h) {
  if (file.exists(h$pid_file) && !file.exists(h$result)) {
    pid <- suppressWarnings(as.integer(readLines(h$pid_file, warn = FALSE)))
    if (length(pid) == 1 && !is.na(pid)) {
      tools::pskill(pid, tools::SIGCONT)
      tools::pskill(pid, tools::SIGKILL)
    }
  }
  unlink(h$dir, recursive = TRUE)
}

# The child's result, once it has finished (a failure if it does not).
shim_wait <- function(h, seconds = 120) {
  deadline <- Sys.time() + seconds
  while (!file.exists(h$result) && Sys.time() < deadline) Sys.sleep(0.02)
  if (!file.exists(h$result)) {
    stop(sprintf("the child Rscript gave no result within %d s:\n%s", seconds,
                 paste(readLines(h$out, warn = FALSE), collapse = "\n")))
  }
  readRDS(h$result)
}

# The calls the shim recorded: op, path, extra (flags, or a rename's
# target), result.
shim_log <- function(h) {
  if (!file.exists(h$log)) {
    return(data.frame(op = character(), path = character(),
                      extra = character(), result = numeric()))
  }
  parts <- strsplit(readLines(h$log, warn = FALSE), "\t", fixed = TRUE)
  parts <- lapply(parts, function(p) c(p, rep("", 4 - length(p))))
  data.frame(op = vapply(parts, `[`, "", 1), path = vapply(parts, `[`, "", 2),
             extra = vapply(parts, `[`, "", 3),
             result = as.numeric(vapply(parts, `[`, "", 4)),
             stringsAsFactors = FALSE)
}

# Run to the end and return list(result, log).
run_shimmed <- function(code, watch = NULL, faults = NULL) {
  h <- shim_start(code, watch, faults, env = parent.frame())
  list(result = shim_wait(h), log = shim_log(h))
}

# R source for a value, to paste into a child's code.
lit <- function(x) paste(deparse(x), collapse = " ")

# The state a stopped process is in ("T" stopped, "Z" zombie...), or NA
# when it is gone.
process_state <- function(pid) {
  stat <- tryCatch(readLines(file.path("/proc", pid, "stat"), warn = FALSE),
                   error = function(e) character(), warning = function(w) character())
  if (length(stat) == 0) return(NA_character_)
  substr(sub(".*\\) ", "", stat[1]), 1, 1)
}

wait_stopped <- function(pid, seconds = 60) {
  deadline <- Sys.time() + seconds
  while (!identical(process_state(pid), "T") && Sys.time() < deadline) {
    Sys.sleep(0.01)
  }
  if (!identical(process_state(pid), "T")) {
    stop(sprintf("process %d did not stop within %d s", pid, seconds))
  }
}
