# Child processes for tests that need another process: one frozen at an
# exact point of a save or sweep (a "stop" fault), or a separate R with
# another environment (locale, LD_PRELOAD, namespaces).

proc_state <- function(pid) {
  stat <- tryCatch(readLines(sprintf("/proc/%d/stat", pid), warn = FALSE),
                   error = function(e) "")
  sub("^.*\\) (.).*$", "\\1", stat)
}

# A process's command line, its arguments joined by spaces ("" once gone).
cmdline <- function(pid) {
  raw <- tryCatch(readBin(sprintf("/proc/%d/cmdline", pid), "raw", 65536),
                  error = function(e) raw())
  raw[raw == as.raw(0)] <- as.raw(32)
  rawToChar(raw)
}

# Runs fun() in a forked child that stops itself at an armed "stop" fault;
# returns the job once the child is stopped there. Fails the test (never
# skips) when the child does not get there.
stopped_child <- function(fun, seconds = 30, env = parent.frame()) {
  skip_on_os("windows") # fork, SIGSTOP, /proc
  job <- parallel::mcparallel(fun(), silent = TRUE)
  withr::defer({
    tools::pskill(job$pid, tools::SIGKILL)
    suppressWarnings(parallel::mccollect(job, wait = TRUE))
  }, envir = env)
  deadline <- Sys.time() + seconds
  while (!identical(proc_state(job$pid), "T") && Sys.time() < deadline) {
    Sys.sleep(0.01)
  }
  if (!identical(proc_state(job$pid), "T")) {
    stop("the child process did not stop at its fault point")
  }
  job
}

# Continues a stopped child and returns what its function returned.
continue_child <- function(job) {
  tools::pskill(job$pid, tools::SIGCONT)
  parallel::mccollect(job, wait = TRUE)[[1L]]
}

# LD_PRELOAD for a child that also loads so: after whatever this process
# preloads (under `make sanitize`, ASan's runtime, which must come first).
preload_after <- function(so) {
  skip_on_os("windows")
  paste(c(Sys.getenv("LD_PRELOAD")[nzchar(Sys.getenv("LD_PRELOAD"))], so),
        collapse = " ")
}

# Runs R code in a new Rscript process with extra environment variables;
# returns its output lines, with the exit status as attribute "status".
run_r <- function(code, env = character(), timeout = 120) {
  script <- tempfile(fileext = ".R")
  writeLines(c(sprintf(".libPaths(%s)", deparse(.libPaths(), width.cutoff = 500L)),
               code), script)
  on.exit(unlink(script))
  rscript <- file.path(R.home("bin"), "Rscript")
  env <- if (length(env)) paste0(names(env), "=", shQuote(env)) else character()
  out <- suppressWarnings(system2(rscript, c("--vanilla", shQuote(script)),
                                  stdout = TRUE, stderr = TRUE, env = env,
                                  timeout = timeout))
  if (is.null(attr(out, "status"))) attr(out, "status") <- 0L
  out
}

# Compiles a small C file from tests/testthat/c/ with the compiler R uses,
# as a shared library in a temporary directory; NULL when it cannot.
build_c_helper <- function(name, extra = character()) {
  skip_on_os("windows") # a .so built with cc, for LD_PRELOAD
  src <- test_path("c", paste0(name, ".c"))
  out <- file.path(tempdir(), paste0("ws-", name, ".so"))
  if (file.exists(out)) return(out)
  cc <- strsplit(system2(file.path(R.home("bin"), "R"), c("CMD", "config", "CC"),
                         stdout = TRUE), " ")[[1]]
  status <- suppressWarnings(system2(cc[1], c(cc[-1], "-shared", "-fPIC", "-O1",
                                              "-o", shQuote(out), shQuote(src),
                                              extra),
                                     stdout = TRUE, stderr = TRUE))
  if (!file.exists(out)) return(NULL)
  out
}
