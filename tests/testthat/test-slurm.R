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

wait_jobs <- function(reg, ids = NULL, timeout = 300, quiet = FALSE) {
  ok <- suppressMessages(batchtools::waitForJobs(ids, reg = reg, sleep = 0.5,
                                                 timeout = timeout, stop.on.error = FALSE))
  if (!ok && !quiet) {
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

file_sha256 <- function(path) {
  sub(" .*$", "", system2("sha256sum", shQuote(path), stdout = TRUE))
}

# A string field of a meta file (flat JSON, as the store writes it).
meta_field <- function(path, name) {
  txt <- paste(readLines(path, warn = FALSE), collapse = "")
  m <- regmatches(txt, regexec(sprintf('"%s":"([^"]*)"', name), txt))[[1]]
  if (length(m) == 2) m[[2]] else NA_character_
}

# Waits (up to 10 s) until a checkpoint's rewrite by one of `jobs` (first
# attempts) is under way: its payload's temp is in the store.
in_checkpoint <- function(server, jobs) {
  dir <- file.path(server, ws_key("slurm harness", 4L))
  pattern <- sprintf("^ckpt-j(%s)-g1\\.bin\\.tmp\\.", paste(jobs, collapse = "|"))
  deadline <- Sys.time() + 10
  while (Sys.time() < deadline) {
    if (length(list.files(dir, pattern)) > 0) return(TRUE)
    Sys.sleep(0.002)
  }
  FALSE
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
  expect_equal(ev$corrupt, 0)
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

test_that("scancel and a lost node while jobs save: nothing torn, lost or wrong; resubmitted jobs finish", {
  fx <- slurm_fixture()
  logdir <- file.path(fx$base, "saves")
  dir.create(logdir)
  njobs <- 5L
  seconds <- 10
  reg <- slurm_registry(fx)
  batchtools::batchMap(fx$jobs$save_loop, i = seq_len(njobs),
                       more.args = list(seconds = seconds, logdir = logdir), reg = reg)
  # ws_evict(verify = TRUE) as a job of its own, sweeping while the jobs save.
  ev_reg <- slurm_registry(fx)
  batchtools::batchMap(fx$jobs$evict_loop, rounds = 12, every = 0.5, reg = ev_reg)
  submit(ev_reg, 1L, nodelist = "ws-node3")
  submit(reg, seq_len(njobs))
  # Once every job has committed saves: scancel one job on a node that
  # stays, then lose node 1 (SIGKILL to its slurmd, job steps and sshfs
  # client at once).
  deadline <- Sys.time() + 120
  repeat {
    j <- slurm_journals(logdir)
    started <- if (is.null(j$commits)) integer() else unique(j$commits$job)
    if (length(started) == njobs || Sys.time() > deadline) break
    Sys.sleep(0.2)
  }
  expect_length(started, njobs)
  Sys.sleep(1)
  j <- slurm_journals(logdir)
  on_node1 <- j$writers$job[j$writers$node == "ws-node1"]
  victim <- j$writers$job[j$writers$node != "ws-node1"][[1]]
  batch_id <- batchtools::getJobTable(victim, reg = reg)$batch.id
  # Each kill comes while a checkpoint's write is under way.
  expect_true(in_checkpoint(fx$server, victim))
  system2("scancel", batch_id)
  expect_true(in_checkpoint(fx$server, on_node1))
  pidns <- function() Sys.readlink(sprintf("/proc/%d/ns/pid", fx$cl$pids[["ws-node1"]]))
  old_ns <- pidns()
  kill_node(fx$cl, 1L)
  killed <- c(victim, on_node1)
  # The others finish; the killed ones are lost to batchtools (expired).
  wait_jobs(reg, timeout = 120, quiet = TRUE)
  expect_true(wait_jobs(ev_reg))
  ev <- batchtools::loadResult(1L, reg = ev_reg)
  # The verifying sweep finds a corrupt entry only where a job was killed
  # between the two renames of a checkpoint's rewrite (see below).
  j <- slurm_journals(logdir)
  mid_checkpoint <- sum(j$writers$last == "ckbegin")
  expect_lte(ev$corrupt, mid_checkpoint)
  # Temps of the dead jobs. A sweep removes one when its writer is
  # provably gone: by pid, only where the temp's host token (hostname, boot
  # id, pid namespace) is the sweeper's own; otherwise once it is an hour
  # old. So sweeps on nodes 2 and 3 take the temps of their own dead jobs
  # and keep lost node 1's. (Node h's pids are h * host_pid_stride and up:
  # a temp's pid tells its node.)
  temps <- store_temps(fx$server)
  node_of <- function(t) t$pid %/% host_pid_stride
  t1 <- temps$path[node_of(temps) == 1L]
  # Node 1 was lost inside a checkpoint's write: its temp is there.
  expect_gt(length(t1), 0L)
  sweep_on <- function(node) {
    r <- slurm_registry(fx)
    batchtools::batchMap(fx$jobs$evict_loop, rounds = 1, reg = r)
    submit(r, 1L, nodelist = node)
    expect_true(wait_jobs(r))
    batchtools::loadResult(1L, reg = r)
  }
  sweep_on("ws-node2")
  sweep_on("ws-node3")
  after23 <- store_temps(fx$server)
  expect_setequal(after23$path, t1)
  # Node 1 comes back (its pids elsewhere in its range); the jobs that
  # did not finish are resubmitted, and finish.
  start_node(fx$cl, 1L, restart = TRUE)
  wait_nodes_idle(fx$cl, "ws-node1")
  # The kernel may give the new pid namespace the number of the old one
  # (namespace inodes are reused once freed): then node 1 started again
  # has node 1's host token, and its sweeps judge the dead jobs' temps by
  # pid. Otherwise it is another host to the rules.
  same_token <- identical(pidns(), old_ns)
  notdone <- batchtools::findNotDone(reg = reg)$job.id
  expect_setequal(notdone, killed)
  submit(reg, notdone)
  expect_true(wait_jobs(reg))
  expect_identical(nrow(batchtools::findDone(reg = reg)), njobs)

  j <- slurm_journals(logdir)
  keys <- vapply(1:4, function(k) ws_key("slurm harness", k), "")
  # No job saw an error (a live writer's temp swept shows as ENOENT) or
  # read a wrong payload.
  expect_null(j$errors)
  expect_identical(sum(j$lookups$outcome == "wrong"), 0L)
  # Every committed entry is in the store, whole and right.
  commits <- j$commits
  ok <- vapply(seq_len(nrow(commits)), function(r) {
    k <- as.integer(commits$key[[r]])
    bin <- file.path(fx$server, keys[[k]], paste0(commits$run_id[[r]], ".bin"))
    json <- file.path(fx$server, keys[[k]], paste0(commits$run_id[[r]], ".json"))
    if (!file.exists(bin) || !file.exists(json)) return(FALSE)
    h <- read_host_payload(readBin(bin, "raw", file.size(bin) + 1), k)
    b <- j$begins[j$begins$job == commits$job[[r]] & j$begins$gen == commits$gen[[r]] &
                    j$begins$seq == commits$seq[[r]], ]
    !is.null(h) && h[["worker"]] == commits$job[[r]] && h[["gen"]] == commits$gen[[r]] &&
      h[["seq"]] == as.integer(commits$seq[[r]]) && nrow(b) == 1 &&
      h[["len"]] == as.integer(b$len)
  }, TRUE)
  expect_true(all(ok), info = paste(commits$run_id[!ok], collapse = " "))
  # Every entry left (those the killed jobs were writing included) is whole
  # and some job's: no meta without its payload, no payload that is not
  # what its writer began.
  for (k in 1:3) {
    f <- list.files(file.path(fx$server, keys[[k]]))
    metas <- sub("\\.json$", "", grep("^r[0-9a-f]+-[0-9a-f]+\\.json$", f, value = TRUE))
    bins <- sub("\\.bin$", "", grep("^r[0-9a-f]+-[0-9a-f]+\\.bin$", f, value = TRUE))
    expect_identical(setdiff(metas, bins), character())
    for (r in intersect(metas, bins)) {
      bin <- file.path(fx$server, keys[[k]], paste0(r, ".bin"))
      h <- read_host_payload(readBin(bin, "raw", file.size(bin) + 1), k)
      expect_false(is.null(h), info = bin)
    }
  }
  # Each job's checkpoint, rewritten in place on every round, holds its
  # last committed round; for a job killed in its next rewrite, that round
  # or the old one, or nothing: an overwrite renames the new payload over
  # the old, then the new meta over the old, and a writer killed between
  # the two leaves a payload that its meta does not describe, never
  # returned and removed by the next verifying sweep (src/core/write.c).
  w <- j$writers
  ck_state <- vapply(seq_len(nrow(w)), function(r) {
    mine <- function(d) d[d$job == w$job[[r]] & d$gen == w$gen[[r]], ]
    cc <- mine(j$ckcommits)
    if (nrow(cc) == 0) return("none")
    cb <- mine(j$ckbegins)
    killed_in_rewrite <- w$last[[r]] == "ckbegin"
    allowed <- max(as.integer(cc$seq))
    if (killed_in_rewrite) allowed <- c(allowed, max(as.integer(cb$seq)))
    bin <- file.path(fx$server, keys[[4]], sprintf("ckpt-j%d-g%d.bin", w$job[[r]], w$gen[[r]]))
    json <- sub("\\.bin$", ".json", bin)
    if (!file.exists(bin) && !file.exists(json)) {
      return(if (killed_in_rewrite) "lost in rewrite" else "lost")
    }
    if (!file.exists(bin) || !file.exists(json)) return("half")
    # A payload its meta does not describe is not an entry: never returned.
    if (!identical(file_sha256(bin), meta_field(json, "checksum_hex"))) {
      return(if (killed_in_rewrite) "lost in rewrite" else "mismatch")
    }
    h <- read_host_payload(readBin(bin, "raw", file.size(bin) + 1), 4L)
    ok <- !is.null(h) && h[["seq"]] %in% allowed &&
      h[["len"]] == as.integer(cb$len[as.integer(cb$seq) == h[["seq"]]])
    if (ok) "ok" else "wrong"
  }, "")
  expect_true(all(ck_state %in% c("ok", "none", "lost in rewrite")),
              info = paste(w$job, w$gen, w$last, ck_state, collapse = "; "))
  store <- ws_open(fx$server)
  for (k in 1:3) {
    expect_false(is.null(read_host_payload(ws_lookup(store, keys[[k]])$payload, k)))
  }

  # Node 1 started again: with node 1's token its sweep takes the dead
  # jobs' temps (their pids are gone); with another, it keeps them until
  # they are an hour old, and then any host's sweep takes them.
  sweep_on("ws-node1")
  kept_by_new_node1 <- store_temps(fx$server)$path
  if (same_token) {
    expect_identical(kept_by_new_node1, character())
  } else {
    expect_setequal(kept_by_new_node1, t1)
    Sys.setFileTime(file.path(fx$server, t1), Sys.time() - 2 * 3600)
    sweep_on("ws-node2")
    expect_identical(store_temps(fx$server)$path, character())
  }
  res <- ws_evict(store, verify = TRUE)
  expect_equal(res$corrupt, 0)

  dead <- w[w$gen == 1 & w$job %in% killed, ]
  record_figure("scancel and node loss: jobs, entries committed, checkpoint rewrites committed, lookups (wrong), errors",
                sprintf("%d, %d, %d, %d (%d), %d", njobs, nrow(commits), nrow(j$ckcommits), nrow(j$lookups),
                        sum(j$lookups$outcome == "wrong"), NROW(j$errors)))
  record_figure("scancel and node loss: jobs killed (scancel, node 1 lost), of them mid-save; resubmitted and finished",
                sprintf("%d (1, %d), %d; %d", nrow(dead), length(on_node1),
                        sum(dead$last %in% c("begin", "ckbegin")), length(notdone)))
  record_figure("scancel and node loss: temps left by dead jobs once the others finished (of lost node 1), removed by sweeps on nodes 2-3, kept by them (node 1's); node 1 started again: same host token, temps its sweep kept",
                sprintf("%d (%d), %d, %d; %s, %d", nrow(temps), length(t1),
                        nrow(temps) - nrow(after23), nrow(after23), same_token,
                        length(kept_by_new_node1)))
  record_figure("scancel and node loss: checkpoints rewritten in place whose job was killed in the rewrite: kept (old or new), lost (killed between the payload's and the meta's rename)",
                sprintf("%d, %d", sum(ck_state == "ok" & w$last == "ckbegin"),
                        sum(ck_state == "lost in rewrite")))
  record_figure("scancel and node loss: ws_evict(verify = TRUE) job during the saves: removed, temps removed, corrupt",
                sprintf("%g, %g, %g", ev$removed, ev$temps_removed, ev$corrupt))
})

test_that("future.batchtools with future.apply: resamples warm across nodes, their rerun all hits", {
  fx <- slurm_fixture()
  withr::local_options(future.cache.path = file.path(fx$base, "future"))
  old <- future::plan(
    future.batchtools::batchtools_custom,
    cluster.functions = batchtools::makeClusterFunctionsSlurm(
      fx$template, array.jobs = FALSE, scheduler.latency = 0.2, fs.latency = 0),
    resources = list(warmstart_dir = fx$mnt), workers = 6L)
  withr::defer(future::plan(old))
  boot_fit <- fx$jobs$boot_fit
  # The data's own fit (a hit when the batchtools test ran first), then
  # six resamples that no job has fitted yet, each a Slurm job.
  first <- future::value(future::future(boot_fit(1L), seed = TRUE))
  expect_true(first$how %in% c("hit", "cold"))
  ids <- 101:106
  r <- do.call(rbind, lapply(future.apply::future_lapply(ids, boot_fit, future.seed = TRUE),
                             as.data.frame))
  expect_identical(r$how, rep("warm", length(ids)))
  rel <- abs(r$score - r$cold_score) / abs(r$cold_score)
  expect_true(all(rel < 1e-6 | r$score < r$cold_score),
              info = paste(signif(rel, 3), collapse = " "))
  expect_true(length(unique(r$node)) >= 2, info = paste(r$node, collapse = " "))
  again <- do.call(rbind, lapply(future.apply::future_lapply(ids, boot_fit, future.seed = TRUE),
                                 as.data.frame))
  expect_identical(again$how, rep("hit", length(ids)))
  expect_identical(again$score, r$score)
  record_figure("future.batchtools + future_lapply: warm resamples, outer iterations warm (mean) and cold (mean), nodes",
                sprintf("%d of %d, %.1f, %.1f, %s", sum(r$how == "warm"), length(ids),
                        mean(r$iter), mean(r$cold_iter), paste(sort(unique(r$node)), collapse = " ")))
  record_figure("future.batchtools + future_lapply: rerun hits, seconds per hit (mean)",
                sprintf("%d of %d, %.3f", sum(again$how == "hit"), length(ids), mean(again$time)))
})
