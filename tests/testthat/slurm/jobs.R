# The functions that Slurm jobs run in the Slurm harness (test-slurm.R),
# through batchtools and future.batchtools. test-slurm.R sources this file
# (and hosts/payload.R) into one environment, which batchtools serializes
# with each function. Every job opens the store that WARMSTART_DIR names:
# the job template (inst/templates/slurm-warmstart.tmpl) sets it.

# The generator is named: future (seed = TRUE) runs its jobs under
# L'Ecuyer-CMRG, and the same set.seed() there would make other data.
slurm_seed <- function(seed) {
  set.seed(seed, kind = "Mersenne-Twister", normal.kind = "Inversion",
           sample.kind = "Rejection")
}

slurm_gam_data <- function(n = 800, seed = 3) {
  slurm_seed(seed)
  x <- matrix(runif(3 * n), n, 3, dimnames = list(NULL, paste0("x", 0:2)))
  f <- 2 * sin(pi * x[, 1]) + exp(2 * x[, 2]) +
    0.2 * x[, 3]^11 * (10 * (1 - x[, 3]))^6 + 10 * (10 * x[, 3])^3 * (1 - x[, 3])^10
  data.frame(x, y = f + rnorm(n, sd = 2))
}

# Bootstrap fit i (1: the data itself) through ws_gam(), and the same fit
# cold with mgcv::gam(), for the comparison. mgcv (with Matrix and nlme) is
# loaded first and timed apart: a new R process spends seconds there, on
# its first use of mgcv, whatever the fit.
boot_fit <- function(i, n = 800) {
  t_load <- system.time(loadNamespace("mgcv"))[["elapsed"]]
  d <- slurm_gam_data(n)
  if (i > 1) {
    slurm_seed(i)
    d <- d[sample(nrow(d), replace = TRUE), ]
  }
  store <- warmstart::ws_open()
  t_ws <- system.time(
    fit <- warmstart::ws_gam(y ~ s(x0) + s(x1) + s(x2), d, method = "REML",
                             store = store))[["elapsed"]]
  t_cold <- system.time(
    cold <- mgcv::gam(y ~ s(x0) + s(x1) + s(x2), data = d,
                      method = "REML"))[["elapsed"]]
  list(i = i, node = Sys.info()[["nodename"]], pid = Sys.getpid(),
       how = attr(fit, "warmstart"), iter = attr(fit, "warmstart_iterations"),
       load_time = t_load, time = t_ws, score = fit$gcv.ubre, cold_iter = cold$outer.info$iter,
       cold_time = t_cold, cold_score = cold$gcv.ubre)
}

# Many jobs missing one key: each leaves a file in `logdir` when it is the
# one that computes.
flight <- function(i, tag, logdir, seconds = 4) {
  store <- warmstart::ws_open()
  node <- Sys.info()[["nodename"]]
  start <- Sys.time()
  value <- warmstart::ws_compute(store, warmstart::ws_key("slurm single flight", tag), {
    writeLines(node, file.path(logdir, sprintf("computed-%d-%s-%d", i, node,
                                               Sys.getpid())))
    Sys.sleep(seconds)
    list(answer = 42, tag = tag)
  })
  list(i = i, node = node, value = value,
       seconds = as.numeric(difftime(Sys.time(), start, units = "secs")))
}

# Saves self-describing payloads (hosts/payload.R) for `seconds`: each
# round a new entry under one of `nkeys` keys (20 to 100 kB), then a
# rewrite of the job's own checkpoint (ws_save(run_id =), `big` bytes,
# under key index nkeys + 1), then a lookup; most of a round is the
# checkpoint's write, so a kill lands in a save more often than not. Each
# step is journaled to logdir/j<i>-g<attempt>.log, as the multi-host
# harness's workers do:
#   start    pid nodename
#   begin    seq key len      (just before ws_save of a new entry)
#   commit   seq key run_id   (it returned)
#   ckbegin  seq len          (just before the checkpoint's rewrite)
#   ckcommit seq run_id       (it returned)
#   lookup   key outcome      (ok, miss or wrong)
#   error    seq key class message
#   end      seq
save_loop <- function(i, seconds, logdir, nkeys = 3L, big = 6e6, pause = 0.02) {
  node <- Sys.info()[["nodename"]]
  host <- as.integer(sub("^ws-node", "", node))
  gen <- length(list.files(logdir, sprintf("^j%d-g[0-9]+\\.log$", i))) + 1L
  log <- file.path(logdir, sprintf("j%d-g%d.log", i, gen))
  journal <- function(...) {
    cat(paste(..., sep = "\t"), "\n", file = log, append = TRUE, sep = "")
  }
  journal("start", Sys.getpid(), node)
  store <- warmstart::ws_open()
  keys <- vapply(seq_len(nkeys + 1L), function(k) warmstart::ws_key("slurm harness", k), "")
  ck <- nkeys + 1L
  ck_id <- sprintf("ckpt-j%d-g%d", i, gen)
  failed <- function(seq, k) function(e) {
    journal("error", seq, k, class(e)[[1]], gsub("[\t\n]", " ", conditionMessage(e)))
  }
  seq <- 0L
  end <- Sys.time() + seconds
  while (Sys.time() < end) {
    seq <- seq + 1L
    k <- (seq %% nkeys) + 1L
    len <- sample(20000:100000, 1)
    payload <- make_host_payload(k, host, i, gen, seq, len)
    journal("begin", seq, k, len)
    tryCatch({
      run_id <- warmstart::ws_save(store, keys[[k]], payload)
      journal("commit", seq, k, run_id)
    }, error = failed(seq, k))
    len <- as.integer(big + sample(0:1000, 1))
    payload <- make_host_payload(ck, host, i, gen, seq, len)
    journal("ckbegin", seq, len)
    tryCatch({
      run_id <- warmstart::ws_save(store, keys[[ck]], payload, run_id = ck_id)
      journal("ckcommit", seq, run_id)
    }, error = failed(seq, ck))
    k2 <- sample(nkeys, 1)
    tryCatch({
      e <- warmstart::ws_lookup(store, keys[[k2]])
      outcome <- if (is.null(e)) "miss" else
        if (is.null(read_host_payload(e$payload, k2))) "wrong" else "ok"
      journal("lookup", k2, outcome)
    }, error = failed(seq, k2))
    Sys.sleep(pause)
  }
  journal("end", seq)
  list(i = i, node = node, gen = gen, saves = seq)
}

# ws_evict() as a job of its own: `rounds` sweeps (verify = TRUE), `every`
# seconds apart.
evict_loop <- function(rounds, every = 1) {
  store <- warmstart::ws_open()
  res <- list()
  for (r in seq_len(rounds)) {
    res[[r]] <- warmstart::ws_evict(store, verify = TRUE)
    if (r < rounds) Sys.sleep(every)
  }
  list(node = Sys.info()[["nodename"]],
       removed = sum(vapply(res, `[[`, 0, "removed")),
       temps_removed = sum(vapply(res, `[[`, 0, "temps_removed")),
       corrupt = sum(vapply(res, `[[`, 0, "corrupt")))
}
