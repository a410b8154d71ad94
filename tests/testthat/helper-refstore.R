# The Rust reference store (store.rs of the gam crate, 0.3.122) as a
# command-line driver, built by ../shared/reference/refstore/build.sh;
# tools/check.sh builds it when that folder is there and passes its path in
# WARMSTART_REFSTORE. Tests that use it skip with a message elsewhere.

refstore_path <- function() {
  path <- Sys.getenv("WARMSTART_REFSTORE")
  if (nzchar(path) && file.exists(path)) path else ""
}

skip_without_refstore <- function() {
  if (!nzchar(refstore_path())) {
    skip_no_tool("the Rust reference store (refstore, WARMSTART_REFSTORE; see ../shared/README.md)")
  }
}

# refstore's own keys are 64 hex digits; ours can be used as they are.
refstore <- function(...) {
  out <- suppressWarnings(system2(refstore_path(), c(...), stdout = TRUE,
                                  stderr = TRUE))
  status <- attr(out, "status")
  if (!is.null(status) && status != 0) {
    stop("refstore failed: ", paste(out, collapse = "\n"))
  }
  out
}

rust_save <- function(root, key, payload, objective = NULL, iteration = NULL,
                      kind = "checkpoint") {
  f <- tempfile()
  on.exit(unlink(f))
  writeBin(payload, f)
  refstore("save", shQuote(root), key, shQuote(f),
           if (is.null(objective)) "none" else format(objective, digits = 17),
           if (is.null(iteration)) "none" else format(iteration, scientific = FALSE),
           kind)
}

# What the Rust store returns: NULL, or list(payload, objective, iteration,
# kind, written) as refstore prints them.
rust_lookup <- function(root, key, latest = FALSE) {
  f <- tempfile()
  on.exit(unlink(f))
  out <- refstore("lookup", shQuote(root), key, shQuote(f),
                  if (latest) "latest" else "best")
  if (identical(out, "none")) return(NULL)
  parts <- strsplit(out, " ")[[1]]
  num <- function(x) if (x == "none") NA_real_ else as.numeric(x)
  list(payload = readBin(f, "raw", file.size(f) + 1),
       objective = num(parts[1]), iteration = num(parts[2]),
       kind = parts[3], written = as.numeric(parts[4]))
}
