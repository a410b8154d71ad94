# Real read-only and full file systems without root: in a new user and
# mount namespace (`unshare -rm`) an unprivileged process may mount a tmpfs
# of a chosen size and remount it read-only. R code runs there in a child
# Rscript; what it finds comes back as an RDS file.

mount_namespace_works <- local({
  works <- NULL
  function() {
    if (is.null(works)) {
      dir <- tempfile("ns-probe-")
      dir.create(dir)
      on.exit(unlink(dir, recursive = TRUE))
      status <- suppressWarnings(system2(
        "unshare", c("-rm", "sh", "-c",
                     shQuote(sprintf("mount -t tmpfs -o size=64k tmpfs %s", shQuote(dir)))),
        stdout = FALSE, stderr = FALSE))
      works <<- identical(as.integer(status), 0L)
    }
    works
  }
})

skip_unless_mount_namespace <- function() {
  skip_on_cran()
  skip_unless_linux()
  if (!nzchar(Sys.which("unshare"))) skip_no_tool("unshare (util-linux)")
  if (!mount_namespace_works()) {
    skip_no_privilege("unshare -rm (user and mount namespaces) is refused here")
  }
}

# Run the shell `lines` in a new user and mount namespace. In them,
# `rscript NAME` runs scripts[[NAME]] (R lines, after child_prelude) with
# this process's library path; each script's last value is saved, and the
# list of them is returned, by name.
in_mount_namespace <- function(lines, scripts) {
  skip_unless_mount_namespace()
  dir <- tempfile("ns-run-")
  dir.create(dir)
  on.exit(unlink(dir, recursive = TRUE))
  rscript <- file.path(R.home("bin"), "Rscript")
  for (name in names(scripts)) {
    writeLines(c(child_prelude, "result <- local({", scripts[[name]], "})",
                 sprintf("saveRDS(result, %s)", lit(file.path(dir, paste0(name, ".rds"))))),
               file.path(dir, paste0(name, ".R")))
  }
  shell <- c(
    "set -e",
    sprintf("rscript() { R_LIBS=%s %s --vanilla %s/\"$1\".R; }",
            shQuote(paste(.libPaths(), collapse = ":")), shQuote(rscript), shQuote(dir)),
    lines)
  writeLines(shell, file.path(dir, "run.sh"))
  out <- suppressWarnings(system2("unshare", c("-rm", "sh", shQuote(file.path(dir, "run.sh"))),
                                  stdout = TRUE, stderr = TRUE))
  status <- attr(out, "status") %||% 0L
  if (status != 0) {
    stop("the namespace run failed (status ", status, "):\n", paste(out, collapse = "\n"))
  }
  res <- lapply(names(scripts), function(name) readRDS(file.path(dir, paste0(name, ".rds"))))
  names(res) <- names(scripts)
  res
}
