# Slurm jobs sharing a store (issue 31): a real Slurm cluster started here
# (helper-slurm.R: munged, slurmctld and three slurmd nodes, each its own
# host in namespaces), jobs submitted through batchtools (with the
# package's template, inst/templates/slurm-warmstart.tmpl) and through
# future.batchtools with future.apply. Node 1 sees the store through its own
# sshfs client, nodes 2 and 3 through bind mounts of the server's directory.
# Runs with `make test-slurm`; skipped otherwise.

skip_if_no_slurm()

slurm_fixture <- local({
  fx <- NULL
  function() {
    if (!is.null(fx)) return(fx)
    base <- if (nzchar(Sys.getenv("WARMSTART_SLURM_KEEP"))) Sys.getenv("WARMSTART_SLURM_KEEP") else tempfile("ws-slurm-")
    dir.create(base)
    if (!nzchar(Sys.getenv("WARMSTART_SLURM_KEEP"))) {
      withr::defer(unlink(base, recursive = TRUE), teardown_env())
    }
    server <- file.path(base, "store")
    mnt <- file.path(base, "mnt")
    dir.create(server)
    dir.create(mnt)
    bind <- sprintf("mount --bind %s %s", shQuote(server), shQuote(mnt))
    mounts <- list(bind, bind, bind)
    fs1 <- "bind mount"
    if (is.null(network_unavailable())) {
      srv <- start_sshd(file.path(base, "sshd"))
      if (!is.null(srv)) {
        slurm_note_pid(srv$pid)
        withr::defer(stop_sshd(srv), teardown_env())
        mounts[[1]] <- sshfs_mount_line(srv, server, mnt)
        fs1 <- "sshfs"
      }
    }
    if (fs1 != "sshfs") message("sshfs is not available: node 1 uses a bind mount too")
    # batchtools lists a user's jobs with squeue --user=$USER, which a
    # shell without USER (a container, CI) turns into no jobs at all:
    # every job then looks expired.
    if (!nzchar(Sys.getenv("USER"))) Sys.setenv(USER = Sys.info()[["user"]])
    started <- Sys.time()
    cl <- start_slurm(file.path(base, "cluster"), nodes = 3L, mounts = mounts)
    withr::defer(stop_slurm(cl), teardown_env())
    record_figure("seconds to start munged, slurmctld and 3 slurmd nodes",
                  round(as.numeric(difftime(Sys.time(), started, units = "secs")), 1))
    jobs <- new.env(parent = globalenv())
    sys.source(test_path("hosts", "payload.R"), jobs)
    sys.source(test_path("slurm", "jobs.R"), jobs)
    template <- system.file("templates", "slurm-warmstart.tmpl", package = "warmstart")
    fx <<- list(base = base, server = server, mnt = mnt, cl = cl, jobs = jobs,
                template = template, fs = c(fs1, "bind mount", "bind mount"),
                nreg = 0L)
    fx
  }
})

# A new batchtools registry on the Slurm cluster.
slurm_registry <- function(fx) {
  dir <- file.path(fx$base, sprintf("registry-%d", length(list.files(fx$base, "^registry-")) + 1L))
  reg <- suppressMessages(batchtools::makeRegistry(dir, seed = 1))
  reg$cluster.functions <- batchtools::makeClusterFunctionsSlurm(
    fx$template, array.jobs = TRUE, scheduler.latency = 0.2, fs.latency = 0)
  reg
}

submit <- function(reg, ids, ...) {
  res <- list(warmstart_dir = slurm_fixture()$mnt, chunks.as.arrayjobs = TRUE, ...)
  ids <- batchtools::findJobs(ids = ids, reg = reg)
  ids$chunk <- 1L
  suppressMessages(batchtools::submitJobs(ids, resources = res, reg = reg))
}

wait_jobs <- function(reg, ids = NULL, timeout = 300) {
  ok <- suppressMessages(batchtools::waitForJobs(ids, reg = reg, sleep = 0.5,
                                                 timeout = timeout, stop.on.error = FALSE))
  if (!ok) {
    print(batchtools::getStatus(reg = reg))
    print(batchtools::getErrorMessages(reg = reg))
    for (id in batchtools::findNotDone(reg = reg)$job.id) {
      log <- tryCatch(batchtools::getLog(id, reg = reg), error = function(e) conditionMessage(e))
      cat(sprintf("job %d's log:\n", id), utils::tail(log, 15), sep = "\n")
    }
    system2("squeue")
    cat(utils::tail(read_lines(file.path(slurm_fixture()$cl$base, "log", "slurmctld.log")), 30),
        sep = "\n")
  }
  ok
}

results <- function(reg, ids = NULL) {
  do.call(rbind, lapply(batchtools::reduceResultsList(ids, reg = reg),
                        as.data.frame))
}

node_fs <- function(fx, node) fx$fs[as.integer(sub("^ws-node", "", node))]

test_that("a bootstrap job array warm-starts across nodes, and its rerun is all hits", {
  fx <- slurm_fixture()
  reg <- slurm_registry(fx)
  nboot <- 10L
  batchtools::batchMap(fx$jobs$boot_fit, i = seq_len(nboot), reg = reg)
  ev_reg <- slurm_registry(fx)
  batchtools::batchMap(fx$jobs$evict_loop, rounds = 8, reg = ev_reg)
  # The fit of the data itself first: its seed is what the others start from.
  submit(reg, 1L)
  expect_true(wait_jobs(reg, 1L))
  # Then the resamples as one job array, with ws_evict() as a job of its own.
  submit(ev_reg, 1L)
  submit(reg, 2:nboot)
  expect_true(wait_jobs(reg))
  expect_true(wait_jobs(ev_reg))
  r <- results(reg, seq_len(nboot))
  ev <- batchtools::loadResult(1L, reg = ev_reg)
  expect_identical(ev$corrupt, 0)
  expect_identical(r$how, c("cold", rep("warm", nboot - 1L)))
  expect_true(length(unique(r$node)) >= 2, info = paste(r$node, collapse = " "))
  rel <- abs(r$score - r$cold_score) / abs(r$cold_score)
  expect_true(all(rel < 1e-6 | r$score < r$cold_score),
              info = paste(signif(rel, 3), collapse = " "))
  warm <- r[r$how == "warm", ]
  cat("\n")
  print(r[, c("i", "node", "how", "iter", "cold_iter", "time", "cold_time", "load_time")], row.names = FALSE)
  record_figure("batchtools bootstrap array: warm fits, their outer iterations (mean), cold's (mean)",
                sprintf("%d, %.1f, %.1f", nrow(warm), mean(warm$iter), mean(warm$cold_iter)))
  record_figure("batchtools bootstrap array: seconds per fit, warm (mean) and cold (mean)",
                sprintf("%.3f, %.3f", mean(warm$time), mean(warm$cold_time)))
  for (node in sort(unique(r$node))) {
    w <- warm[warm$node == node, ]
    record_figure(sprintf("batchtools bootstrap array on %s (%s): fits, warm iterations, cold iterations, warm s, cold s",
                          node, node_fs(fx, node)),
                  sprintf("%d, %s, %s, %.3f, %.3f", nrow(w), paste(w$iter, collapse = "/"),
                          paste(w$cold_iter, collapse = "/"), sum(w$time), sum(w$cold_time)))
  }
  record_figure("batchtools bootstrap array: seconds to load mgcv in each job (mean)",
                sprintf("%.2f", mean(r$load_time)))
  record_figure("batchtools bootstrap array: score of warm relative to cold (max)",
                signif(max(rel), 3))

  # The rerun, as one array: every fit is a hit, on every node.
  batchtools::resetJobs(seq_len(nboot), reg = reg)
  submit(reg, seq_len(nboot))
  expect_true(wait_jobs(reg))
  again <- results(reg, seq_len(nboot))
  expect_identical(again$how, rep("hit", nboot))
  expect_identical(again$score, r$score)
  record_figure("batchtools rerun of the array: hits, seconds per hit (mean), nodes",
                sprintf("%d of %d, %.3f, %s", sum(again$how == "hit"), nboot,
                        mean(again$time), paste(sort(unique(again$node)), collapse = " ")))
})

test_that("many jobs missing one key compute it once per lock domain", {
  fx <- slurm_fixture()
  reg <- slurm_registry(fx)
  logdir <- file.path(fx$base, "flight")
  dir.create(logdir)
  njobs <- 6L
  batchtools::batchMap(fx$jobs$flight, i = seq_len(njobs),
                       more.args = list(tag = "one key", logdir = logdir, seconds = 4),
                       reg = reg)
  submit(reg, seq_len(njobs))
  expect_true(wait_jobs(reg))
  r <- results(reg)
  computed <- list.files(logdir, "^computed-")
  by_node <- sub("^computed-[0-9]+-(ws-node[0-9]+)-[0-9]+$", "\\1", computed)
  expect_true(length(computed) >= 1)
  # Nodes 2 and 3 share the server's filesystem and its locks: one claim.
  expect_lte(sum(by_node %in% c("ws-node2", "ws-node3")), 1L)
  # Node 1's sshfs client keeps its locks to itself: at most one there.
  expect_lte(sum(by_node == "ws-node1"), 1L)
  expect_true(all(vapply(seq_len(nrow(r)), function(j) {
    identical(batchtools::loadResult(j, reg = reg)$value, list(answer = 42, tag = "one key"))
  }, TRUE)))
  record_figure("single flight: jobs, nodes, computed (by node)",
                sprintf("%d, %s, %d (%s)", nrow(r), paste(sort(unique(r$node)), collapse = " "),
                        length(computed), paste(sort(by_node), collapse = " ")))
})
