# Single flight (ws_compute(), ws_memoise()): of several processes that miss
# one key, one computes and the others wait for its entry.

# A computation that records who ran it, then takes `seconds`.
slow_value <- function(log, seconds, value = "the value") {
  cat(Sys.getpid(), "\n", file = log, append = TRUE)
  Sys.sleep(seconds)
  value
}

runs <- function(log) if (file.exists(log)) length(readLines(log)) else 0L

test_that("of 4 and of 8 workers missing one key, one computes and all get its value", {
  skip_if_no_fork()
  for (workers in c(4L, 8L)) {
    t <- temp_store()
    key <- key_for(paste("single flight", workers))
    log <- tempfile()
    started <- Sys.time()
    res <- parallel::mclapply(seq_len(workers), function(i) {
      st <- ws_open(t$root, size_budget = 1024^2, ttl = 3600)
      got <- warmstart:::compute_once(st, key, function() slow_value(log, 2), 60)
      list(value = got$value, how = got$how)
    }, mc.cores = test_cores(workers))
    elapsed <- as.numeric(Sys.time() - started, units = "secs")
    how <- vapply(res, `[[`, "", "how")
    expect_identical(runs(log), 1L)
    expect_identical(sum(how == "computed"), 1L)
    expect_true(all(how %in% c("computed", "waited", "hit")))
    expect_true(all(vapply(res, function(r) identical(r$value, "the value"), TRUE)))
    # Close to one computation (2 s), not one per worker and core.
    expect_lt(elapsed, 2 * 2 + 3)
    record_figure(sprintf("single flight: %d workers, computations, waited, seconds", workers),
                  c(runs(log), sum(how == "waited"), round(elapsed, 1)))
  }
})

test_that("a waiter takes over within a couple of seconds when the holder is killed", {
  skip_if_no_fork()
  t <- temp_store()
  key <- key_for("single flight, killed holder")
  log <- tempfile()
  holder <- parallel::mcparallel({
    st <- ws_open(t$root, size_budget = 1024^2, ttl = 3600)
    ws_compute(st, key, slow_value(log, 600, "never stored"))
  }, silent = TRUE)
  withr::defer(tools::pskill(holder$pid, tools::SIGKILL))
  deadline <- Sys.time() + 30
  while (runs(log) == 0 && Sys.time() < deadline) Sys.sleep(0.02)
  expect_identical(runs(log), 1L)
  waiter <- parallel::mcparallel({
    st <- ws_open(t$root, size_budget = 1024^2, ttl = 3600)
    got <- warmstart:::compute_once(st, key, function() slow_value(log, 0, "taken over"), 600)
    list(value = got$value, how = got$how, at = Sys.time())
  }, silent = TRUE)
  Sys.sleep(1) # the waiter waits for the holder's entry by now
  killed <- Sys.time()
  tools::pskill(holder$pid, tools::SIGKILL)
  res <- parallel::mccollect(waiter, wait = TRUE)[[1]]
  expect_identical(res$value, "taken over")
  expect_identical(res$how, "computed")
  expect_lt(as.numeric(res$at - killed, units = "secs"), 2)
  expect_identical(runs(log), 2L)
})

test_that("when the holder fails, the waiters compute themselves", {
  skip_if_no_fork()
  t <- temp_store()
  key <- key_for("single flight, failing holder")
  log <- tempfile()
  res <- parallel::mclapply(1:3, function(i) {
    st <- ws_open(t$root, size_budget = 1024^2, ttl = 3600)
    # The failing one holds the claim: the others start once it computes
    # (on a busy machine a waiter could otherwise claim first and succeed).
    deadline <- Sys.time() + 30
    while (i != 1L && !file.exists(log) && Sys.time() < deadline) Sys.sleep(0.01)
    tryCatch(
      warmstart:::compute_once(st, key, function() {
        cat(Sys.getpid(), "\n", file = log, append = TRUE)
        Sys.sleep(0.5)
        if (i == 1L) stop("the first one fails")
        "from a waiter"
      }, 60)$value,
      error = function(e) "failed")
  }, mc.cores = test_cores(3))
  values <- unlist(res)
  # Everyone who did not fail got the value, computed once more at most
  # per failure (the first failing holder, then one waiter).
  expect_true(all(values[-1] == "from a waiter"))
  expect_true(values[1] %in% c("failed", "from a waiter"))
  expect_gte(runs(log), 2L)
  expect_identical(ws_lookup(t$store, key)$payload, "from a waiter")
})

test_that("a waiter never waits forever: after the timeout it computes", {
  skip_if_no_fork()
  t <- temp_store()
  key <- key_for("single flight, timeout")
  log <- tempfile()
  holder <- parallel::mcparallel({
    st <- ws_open(t$root, size_budget = 1024^2, ttl = 3600)
    ws_compute(st, key, slow_value(log, 600))
  }, silent = TRUE)
  withr::defer(tools::pskill(holder$pid, tools::SIGKILL))
  deadline <- Sys.time() + 30
  while (runs(log) == 0 && Sys.time() < deadline) Sys.sleep(0.02)
  started <- Sys.time()
  got <- warmstart:::compute_once(t$store, key, function() "did not wait", 1)
  expect_identical(got$how, "computed")
  expect_identical(got$value, "did not wait")
  expect_lt(as.numeric(Sys.time() - started, units = "secs"), 5)
})

test_that("ws_compute() returns a stored value without computing, and checks its arguments", {
  t <- temp_store()
  key <- key_for("ws_compute hit")
  n <- 0
  expect_identical(ws_compute(t$store, key, {n <- n + 1; "v"}), "v")
  expect_identical(ws_compute(t$store, key, {n <- n + 1; "other"}), "v")
  expect_identical(n, 1)
  expect_error(ws_compute(t$store, "nope", 1), class = "ws_bad_argument")
  expect_error(ws_compute(t$store, key, 1, timeout = -1), class = "ws_bad_argument")
  # No claim files are left behind.
  expect_length(list.files(file.path(t$root, ".warmstart", "claims")), 0L)
})

test_that("on a store that cannot hold claims, every process computes", {
  skip_on_os("windows")
  t <- temp_store()
  key <- key_for("unclaimable")
  # A claims "directory" that is a file: claims fail, computing does not.
  dir.create(file.path(t$root, ".warmstart"), showWarnings = FALSE)
  writeLines("x", file.path(t$root, ".warmstart", "claims"))
  expect_identical(ws_compute(t$store, key, "computed anyway"), "computed anyway")
  expect_identical(ws_lookup(t$store, key)$payload, "computed anyway")
})

test_that("ws_memoise() memoises by the function and every argument, defaults included", {
  t <- temp_store()
  calls <- 0
  f <- function(x, y = 2, ...) {
    calls <<- calls + 1
    x * y + length(list(...))
  }
  m <- ws_memoise(f, t$store)
  expect_identical(names(formals(m)), c("x", "y", "..."))
  expect_identical(m(3), 6)
  expect_identical(m(3), 6)
  expect_identical(m(x = 3, y = 2), 6)
  expect_identical(calls, 1)
  expect_identical(m(3, 3), 9)
  expect_identical(m(3, 3, "extra"), 10)
  expect_identical(calls, 3)
  # Another definition is another function.
  g <- function(x, y = 3, ...) x * y
  expect_identical(ws_memoise(g, t$store)(3), 9)
  # The store keeps it for other processes: the same definition there is
  # the same function (its environment is not part of the key).
  skip_if_no_fork()
  res <- parallel::mclapply(1:2, function(i) {
    child_calls <- 0
    same <- function(x, y = 2, ...) {
      calls <<- calls + 1
      x * y + length(list(...))
    }
    other <- function(x, y = 2, ...) {
      child_calls <<- child_calls + 1
      -1
    }
    st <- ws_open(t$root, size_budget = 1024^2, ttl = 60)
    c(ws_memoise(same, st)(3), ws_memoise(other, st)(3), child_calls)
  }, mc.cores = test_cores(2))
  for (r in res) expect_identical(r[1:2], c(6, -1))
  # `other` is new to the store: of the two processes, one called it.
  expect_identical(sum(vapply(res, `[`, 0, 3)), 1)
  expect_error(ws_memoise("f", t$store), class = "ws_bad_argument")
})
