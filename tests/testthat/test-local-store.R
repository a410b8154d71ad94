# local_ws_store(): the chosen store (the CI cache) or a throwaway one that
# goes when the calling frame ends.

not_chosen <- c(WARMSTART_DIR = NA)

test_that("without a chosen root, the store is under tempdir() and goes with the frame", {
  withr::local_envvar(not_chosen)
  withr::local_options(list(warmstart.dir = NULL))
  seen <- NULL
  use_store <- function() {
    store <- local_ws_store()
    root <- ws_info(store)$root
    seen <<- root
    ws_save(store, key_for("local-a"), 1:3, objective = 1, kind = "final")
    expect_true(dir.exists(root))
    ws_lookup(store, key_for("local-a"))$payload
  }
  expect_identical(use_store(), 1:3)
  expect_identical(dirname(seen), normalizePath(tempdir(), winslash = "/"))
  expect_false(file.exists(seen))
  # Each call gets its own store: nothing carries over.
  first <- seen
  check_empty <- function() {
    store <- local_ws_store()
    seen <<- ws_info(store)$root
    ws_lookup(store, key_for("local-a"))
  }
  expect_null(check_empty())
  expect_false(identical(seen, first))
  expect_false(file.exists(seen))
})

test_that("a throwaway store in an evaluated block lasts for the block", {
  withr::local_envvar(not_chosen)
  withr::local_options(list(warmstart.dir = NULL))
  root <- NULL
  # test_that() evaluates its code as local() does: the block's end is the
  # frame's end.
  local({
    store <- local_ws_store()
    root <<- ws_info(store)$root
    ws_save(store, key_for("local-b"), "x", objective = 1)
    expect_true(dir.exists(root))
  })
  expect_false(file.exists(root))
})

test_that("with WARMSTART_DIR the store is that directory, and it is kept", {
  ci <- tempfile("ci-cache-")
  withr::defer(unlink(ci, recursive = TRUE))
  withr::local_envvar(c(WARMSTART_DIR = ci))
  withr::local_options(list(warmstart.dir = NULL))
  run <- function(value) {
    store <- local_ws_store()
    expect_identical(ws_info(store)$root, normalizePath(ci, winslash = "/"))
    old <- ws_lookup(store, key_for("local-c"))
    ws_save(store, key_for("local-c"), value, objective = 1, kind = "final")
    old$payload
  }
  expect_null(run("first run"))
  expect_true(dir.exists(ci))
  # The next "CI run" finds what the last one saved.
  expect_identical(run("second run"), "first run")
  expect_identical(nrow(ws_list(ws_open(ci))), 2L)
})

test_that("the option is a choice too, and wins over WARMSTART_DIR", {
  opt <- tempfile("ci-opt-")
  env <- tempfile("ci-env-")
  withr::defer(unlink(c(opt, env), recursive = TRUE))
  withr::local_envvar(c(WARMSTART_DIR = env))
  withr::local_options(list(warmstart.dir = opt))
  f <- function() ws_info(local_ws_store())$root
  expect_identical(f(), normalizePath(opt, winslash = "/"))
  expect_true(dir.exists(opt))
  expect_false(file.exists(env))
})

test_that("bad arguments name themselves and create nothing", {
  withr::local_envvar(not_chosen)
  withr::local_options(list(warmstart.dir = NULL))
  before <- list.files(tempdir(), all.files = TRUE, no.. = TRUE)
  err <- expect_error(local_ws_store(.local_envir = "here"),
                      class = "ws_bad_argument")
  expect_identical(err$argument, ".local_envir")
  err <- expect_error(local_ws_store(size_budget = -1),
                      class = "ws_bad_argument")
  expect_identical(err$argument, "size_budget")
  err <- expect_error(local_ws_store(durable = NA), class = "ws_bad_argument")
  expect_identical(err$argument, "durable")
  expect_identical(list.files(tempdir(), all.files = TRUE, no.. = TRUE), before)
})

test_that("at top level nothing is deferred: the store lasts the session", {
  withr::local_envvar(not_chosen)
  withr::local_options(list(warmstart.dir = NULL))
  ran <- FALSE
  expect_false(warmstart:::defer(ran <- TRUE, globalenv()))
  expect_false(ran)
  store <- local_ws_store(.local_envir = globalenv())
  root <- ws_info(store)$root
  withr::defer(unlink(root, recursive = TRUE))
  f <- function() NULL
  f()
  expect_true(dir.exists(root))
  expect_identical(dirname(root), normalizePath(tempdir(), winslash = "/"))
})

test_that("ws_gam() fits are hits in the next run only when the CI store is kept", {
  skip_if_not_installed("mgcv")
  set.seed(3)
  d <- data.frame(x = runif(200))
  d$y <- sin(2 * pi * d$x) + rnorm(200, sd = 0.3)
  run <- function() {
    store <- local_ws_store()
    attr(ws_gam(y ~ s(x), d, method = "REML", store = store), "warmstart")
  }
  withr::with_envvar(not_chosen, withr::with_options(list(warmstart.dir = NULL), {
    expect_identical(run(), "cold")
    expect_identical(run(), "cold")
  }))
  ci <- tempfile("ci-cache-")
  withr::defer(unlink(ci, recursive = TRUE))
  withr::with_envvar(c(WARMSTART_DIR = ci), withr::with_options(list(warmstart.dir = NULL), {
    expect_identical(run(), "cold")
    expect_identical(run(), "hit")
  }))
})
