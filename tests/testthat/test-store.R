# The store handle (R/store.R): which root ws_open() uses by default.

test_that("a chosen root wins; only the implicit default yields to checks", {
  home <- tempfile("home-")
  withr::defer(unlink(home, recursive = TRUE))
  dir_arg <- file.path(home, "from-argument")
  dir_opt <- file.path(home, "from-option")
  dir_env <- file.path(home, "from-env")
  root_of <- function(...) ws_info(ws_open(...))$root
  checking <- list(c(TESTTHAT = "true", `_R_CHECK_PACKAGE_NAME_` = NA),
                   c(TESTTHAT = NA, `_R_CHECK_PACKAGE_NAME_` = "pkg"))
  not_checking <- c(TESTTHAT = NA, `_R_CHECK_PACKAGE_NAME_` = NA)
  for (mode in c(checking, list(not_checking))) {
    withr::local_envvar(mode)
    # The argument, then the option, then the variable: in a check too.
    withr::with_options(list(warmstart.dir = dir_opt), {
      withr::with_envvar(c(WARMSTART_DIR = dir_env), {
        expect_identical(root_of(dir_arg), normalizePath(dir_arg, winslash = "/"))
        expect_identical(root_of(), normalizePath(dir_opt, winslash = "/"))
      })
    })
    withr::with_envvar(c(WARMSTART_DIR = dir_env), {
      expect_identical(root_of(), normalizePath(dir_env, winslash = "/"))
    })
  }
  # Nothing chosen (an empty variable is not a choice): during a check a
  # directory under tempdir(), never the user's cache directory.
  user_cache <- file.path(home, "cache")
  for (mode in checking) {
    withr::with_envvar(c(mode, WARMSTART_DIR = "", R_USER_CACHE_DIR = user_cache), {
      expect_identical(warmstart:::default_root(),
                       file.path(tempdir(), "warmstart"))
    })
  }
  expect_false(file.exists(user_cache))
  withr::with_envvar(c(not_checking, WARMSTART_DIR = NA,
                       R_USER_CACHE_DIR = user_cache), {
    expect_identical(warmstart:::default_root(),
                     tools::R_user_dir("warmstart", "cache"))
    expect_identical(warmstart:::default_root(),
                     file.path(user_cache, "R", "warmstart"))
  })
  withr::with_options(list(warmstart.dir = 3), {
    e <- expect_error(ws_open(), class = "ws_bad_argument")
    expect_identical(e$argument, "warmstart.dir")
  })
})
