# The package installs and works where no system cJSON can be seen: the
# copy in src/cjson/ is built in. The package's own sources (the tarball
# R CMD check unpacked, or this checkout) are installed in a mount namespace
# in which the system cJSON's headers, libraries and pkg-config file are
# hidden under empty ones; there configure must say "bundled", and the
# installed package saves and looks up an R value and reads an entry the
# Rust store wrote. Everything it writes is under tempdir().

# The sources: R CMD check's copy of the unpacked tarball, or this checkout.
package_sources <- function() {
  for (d in c(test_path("..", "..", "00_pkg_src", "warmstart"), test_path("..", ".."))) {
    if (file.exists(file.path(d, "src", "cjson", "cJSON.c")) &&
        file.exists(file.path(d, "configure"))) {
      return(normalizePath(d))
    }
  }
  skip_no_tool("the package's sources (00_pkg_src/warmstart or the checkout)")
}

# What a system cJSON installs: headers, libraries and .pc files, as the
# real files the links lead to (binding over a link binds its target).
system_cjson_files <- function() {
  found <- Sys.glob(c("/usr/include/cjson", "/usr/local/include/cjson",
                      "/usr/lib/libcjson.*", "/usr/lib/*/libcjson.*",
                      "/usr/lib64/libcjson.*", "/usr/local/lib/libcjson.*",
                      "/usr/lib/pkgconfig/libcjson.pc", "/usr/lib/*/pkgconfig/libcjson.pc",
                      "/usr/lib64/pkgconfig/libcjson.pc", "/usr/share/pkgconfig/libcjson.pc",
                      "/usr/local/lib/pkgconfig/libcjson.pc"))
  unique(normalizePath(found))
}

test_that("the tarball installs and works with no system cJSON in sight", {
  skip_on_cran() # compiles the package: about half a minute
  skip_unless_mount_namespace()
  if (!nzchar(Sys.which("mount"))) skip_no_tool("mount (util-linux)")
  src <- package_sources()
  work <- tempfile("bundled-cjson-")
  dir.create(work)
  on.exit(unlink(work, recursive = TRUE), add = TRUE)

  # Only what installing needs, without objects of an earlier build.
  pkg <- file.path(work, "warmstart")
  dir.create(pkg)
  for (f in c("DESCRIPTION", "NAMESPACE", "LICENSE", "configure", "cleanup", "R", "src")) {
    file.copy(file.path(src, f), pkg, recursive = TRUE, copy.date = TRUE)
  }
  unlink(c(list.files(file.path(pkg, "src"), "\\.(o|so|dll)$", recursive = TRUE,
                      full.names = TRUE),
           file.path(pkg, "src", c("Makevars", "Makevars.win"))))
  lib <- file.path(work, "lib")
  dir.create(lib)

  # A store with an entry the Rust store wrote, when it is here.
  root <- file.path(work, "store")
  ws_open(root)
  rust_key <- ws_key("bundled cjson", "rust")
  have_rust <- nzchar(refstore_path())
  if (have_rust) rust_save(root, rust_key, charToRaw("from rust"), 2.5, 7, "final")

  empty_dir <- file.path(work, "empty")
  empty_file <- file.path(work, "empty-file")
  dir.create(empty_dir)
  file.create(empty_file)
  hide <- vapply(system_cjson_files(), function(f) {
    sprintf("mount --bind %s %s", shQuote(if (dir.exists(f)) empty_dir else empty_file),
            shQuote(f))
  }, "")
  script <- file.path(work, "use.R")
  writeLines(c(
    "library(warmstart, lib.loc = commandArgs(TRUE)[1])",
    "store <- ws_open(commandArgs(TRUE)[2])",
    "value <- list(coef = c(a = 1.5, b = -2), note = 'bundled cJSON')",
    "key <- ws_key('bundled cjson', 'r value')",
    "ws_save(store, key, value, objective = 3)",
    "got <- ws_lookup(store, key)",
    "rust <- if (commandArgs(TRUE)[3] == 'yes') ws_lookup(store, ws_key('bundled cjson', 'rust'))",
    "saveRDS(list(identical = identical(got$payload, value), objective = got$objective,",
    "             rust = rust, dll = getLoadedDLLs()[['warmstart']][['path']]),",
    "        commandArgs(TRUE)[4])"), script)
  result <- file.path(work, "result.rds")
  log <- file.path(work, "install.log")
  r <- file.path(R.home("bin"), "R")
  lines <- c(
    "set -e", hide,
    # Hidden: pkg-config no longer finds it, the header is gone.
    "if pkg-config --exists libcjson 2>/dev/null; then echo 'libcjson still visible'; exit 3; fi",
    "if [ -e /usr/include/cjson/cJSON.h ]; then echo 'cJSON.h still visible'; exit 3; fi",
    sprintf("TMPDIR=%s %s CMD INSTALL --no-docs --no-help -l %s %s >%s 2>&1 || { cat %s; exit 4; }",
            shQuote(work), shQuote(r), shQuote(lib), shQuote(pkg), shQuote(log), shQuote(log)),
    sprintf("%s --vanilla %s %s %s %s %s", shQuote(file.path(R.home("bin"), "Rscript")),
            shQuote(script), shQuote(lib), shQuote(root), if (have_rust) "yes" else "no",
            shQuote(result)))
  run <- file.path(work, "run.sh")
  writeLines(lines, run)
  out <- suppressWarnings(system2("unshare", c("-rm", "sh", shQuote(run)),
                                  stdout = TRUE, stderr = TRUE))
  status <- attr(out, "status") %||% 0L
  expect_identical(as.integer(status), 0L, label = paste(c("status", out), collapse = "\n"))
  installed <- readLines(log)
  expect_true(any(grepl("^warmstart: cJSON: bundled", installed)),
              label = paste(installed, collapse = "\n"))
  got <- readRDS(result)
  expect_true(got$identical)
  expect_identical(got$objective, 3)
  expect_identical(normalizePath(dirname(dirname(dirname(got$dll)))), normalizePath(lib))
  if (have_rust) {
    expect_identical(got$rust$payload, charToRaw("from rust"))
    expect_identical(got$rust$objective, 2.5)
    expect_identical(got$rust$kind, "final")
  }
  if (!have_rust) skip_without_refstore() # the save and lookup above have run
})
