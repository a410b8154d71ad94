# A second user for the trust tests: root runs the test and plants files as
# an unprivileged user with setpriv (util-linux), by default nobody (65534).

skip_unless_second_user <- function() {
  skip_on_cran()
  skip_on_os(c("windows", "mac", "solaris"))
  if (system2("id", "-u", stdout = TRUE) != "0") {
    skip("needs root, to act as a second user (setpriv --reuid)")
  }
  if (!nzchar(Sys.which("setpriv"))) skip("needs setpriv (util-linux)")
  if (length(suppressWarnings(system2("getent", c("passwd", "65534"),
                                      stdout = TRUE))) == 0) {
    skip("needs an unprivileged user 65534 (nobody)")
  }
}

# A directory under tempdir() that other users can reach (they need to
# search every directory above it): tempdir() is 0700, so it is opened to
# searching (0711) until the calling test ends. So is an R temporary
# directory of this user's above it: R CMD check --as-cran runs the tests
# with TMPDIR in its own tempdir() (<TMPDIR>/RtmpXXXXXX/working_dir), which
# is 0700 too. Any other directory that others cannot search skips the test.
reachable_dir <- function(env = parent.frame()) {
  td <- normalizePath(tempdir())
  open_to_search <- function(dir) {
    old <- file.info(dir)$mode
    Sys.chmod(dir, "0711", use_umask = FALSE)
    withr::defer(Sys.chmod(dir, old, use_umask = FALSE), envir = env)
  }
  open_to_search(td)
  me <- Sys.info()[["effective_user"]]
  up <- dirname(td)
  while (up != dirname(up)) {
    info <- file.info(up, extra_cols = TRUE)
    if (bitwAnd(as.integer(info$mode), 1L) == 0L) {
      if (grepl("^Rtmp[A-Za-z0-9.]{6}$", basename(up)) && identical(info$uname, me)) {
        open_to_search(up)
      } else {
        skip(paste("other users cannot search", up))
      }
    }
    up <- dirname(up)
  }
  dir <- tempfile("trust-", tmpdir = td)
  dir.create(dir, mode = "0755")
  Sys.chmod(dir, "0755", use_umask = FALSE)
  withr::defer(unlink(dir, recursive = TRUE), envir = env)
  dir
}

# Runs a shell command as uid:gid without supplementary groups; stdin (a
# path) is opened by root first, so the user needs no access to it.
as_user <- function(command, uid = 65534L, gid = 65534L, stdin = "") {
  status <- suppressWarnings(system2(
    "setpriv", c(sprintf("--reuid=%d", uid), sprintf("--regid=%d", gid),
                 "--clear-groups", "--", "sh", "-c", shQuote(command)),
    stdin = stdin, stdout = FALSE, stderr = FALSE))
  if (!identical(as.integer(status), 0L)) {
    stop(sprintf("as user %d: `%s` failed (%s)", uid, command, status))
  }
  invisible(TRUE)
}

# One entry's two files, as written by a store of our own (valid checksum,
# valid meta) for key: list(run_id, bin = <path>, json = <path>). A tag
# binds the key: a signed entry verifies only under the key it was made for.
staged_entry <- function(value, objective = NULL, secret = NULL,
                         key = key_for("staged"), env = parent.frame()) {
  root <- tempfile("staging-")
  withr::defer(unlink(root, recursive = TRUE), envir = env)
  st <- ws_open(root, secret = secret)
  run <- ws_save(st, key, value, objective = objective)
  dir <- file.path(root, key)
  list(run_id = run, bin = file.path(dir, paste0(run, ".bin")),
       json = file.path(dir, paste0(run, ".json")))
}

# Another user writes a staged entry into dir (made if missing): payload
# first, then its meta, as a store does.
plant <- function(entry, dir, uid = 65534L, gid = 65534L) {
  for (ext in c("bin", "json")) {
    target <- file.path(dir, paste0(entry$run_id, ".", ext))
    as_user(sprintf("mkdir -p %s && cat > %s", shQuote(dir), shQuote(target)),
            uid, gid, stdin = entry[[ext]])
  }
  invisible(dir)
}

owner_of <- function(path) {
  as.integer(system2("stat", c("-c", "%u", shQuote(path)), stdout = TRUE))
}

# Counts calls of base::unserialize(), which the lookups use, while expr runs.
count_unserialize <- function(expr) {
  counter <- new.env()
  counter$n <- 0L
  suppressMessages(trace("unserialize", where = baseenv(), print = FALSE,
                         tracer = bquote(assign("n", .(counter)$n + 1L,
                                                envir = .(counter)))))
  on.exit(suppressMessages(untrace("unserialize", where = baseenv())))
  value <- withVisible(expr)
  list(n = counter$n, value = value$value)
}

# A serialization stream (native, version 3) built by hand: R has no way
# to serialize a promise as the value itself (the CVE's trick), so its
# bytes are put together from R's own pieces.
stream_header <- function() {
  h <- serialize(NULL, NULL, xdr = FALSE, version = 3L)
  h[seq_len(length(h) - 4L)] # drops the NULL (NILVALUE_SXP) that follows
}
stream_int <- function(...) {
  writeBin(as.integer(c(...)), raw(), size = 4L, endian = .Platform$endian)
}
# The item of a value, without the header.
stream_item <- function(x) {
  serialize(x, NULL, xdr = FALSE, version = 3L)[-seq_along(stream_header())]
}
# A promise item: flags PROMSXP (5) with a tag (bit 10), its environment
# (the global one, GLOBALENV_SXP 253), no value yet (UNBOUNDVALUE_SXP 252),
# and its code.
promise_item <- function(code) {
  c(stream_int(5L + 1024L, 253L, 252L), stream_item(code))
}

# Code whose evaluation leaves a mark in the global environment.
marking_code <- function(mark) {
  bquote(assign(.(mark), TRUE, envir = globalenv()))
}

# Hex SHA-256 of a string's bytes (coreutils' sha256sum).
digest_sha256 <- function(text) {
  skip_if(!nzchar(Sys.which("sha256sum")), "needs sha256sum")
  f <- tempfile()
  on.exit(unlink(f))
  writeBin(charToRaw(text), f)
  sub(" .*$", "", system2("sha256sum", shQuote(f), stdout = TRUE))
}

# The value of expr and whether it warned of class cls (muffled).
with_warning_of <- function(expr, cls) {
  warned <- FALSE
  value <- withCallingHandlers(expr, warning = function(w) {
    if (inherits(w, cls)) {
      warned <<- TRUE
      invokeRestart("muffleWarning")
    }
  })
  list(value = value, warned = warned)
}
