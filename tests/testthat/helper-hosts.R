# The multi-host harness: "hosts" are processes in their own pid namespace
# (and, unless they play containers sharing one hostname, their own UTS
# namespace and hostname), all working on one store. Each runs
# hosts/host.R: workers doing saves, lookups, lookup_latest and sweeps
# under a tight budget, SIGKILLed at random. Meanwhile inotifywait records
# every file removed under the store, in order. Afterwards the journals, the
# removals and the store itself are checked; see host_results().

source(test_path("hosts", "payload.R"), local = TRUE)

# Host h's processes get pids from h * host_pid_stride + 1 on (set through
# ns_last_pid in its new pid namespace): pid ranges of different hosts
# never meet, as on separate machines, and a pid in a temp name tells whose
# it is.
host_pid_stride <- 5000L

# NULL when this machine can run hosts in namespaces, else the reason not.
hosts_unavailable <- function() {
  if (Sys.info()[["sysname"]] != "Linux") return("no tool: Linux (pid namespaces)")
  if (!nzchar(Sys.which("unshare"))) return("unshare (util-linux) is not installed")
  probe <- sprintf(
    "hostname ws-probe && echo %d > /proc/sys/kernel/ns_last_pid && sh -c 'echo $$'",
    host_pid_stride)
  out <- suppressWarnings(system2(
    "unshare", c("--uts", "--pid", "--fork", "--mount-proc", "sh", "-c",
                 shQuote(probe)), stdout = TRUE, stderr = TRUE))
  if (!identical(out, as.character(host_pid_stride + 1L))) {
    return(paste("no privilege: unshare --uts --pid --mount-proc (as root) is refused here:",
                 paste(out, collapse = " ")))
  }
  NULL
}

skip_if_no_hosts <- function() {
  skip_on_cran()
  why <- hosts_unavailable()
  if (!is.null(why)) skip(why)
}

# inotifywait -m -r on the directories `dirs`, logging removals and renames
# ("EVENT path" lines, in the order the kernel saw them); NULL (and the
# removal checks are skipped) where inotify-tools is missing.
start_monitor <- function(dirs, base) {
  if (!nzchar(Sys.which("inotifywait"))) return(NULL)
  m <- list(events = file.path(base, "removed.txt"),
            err = file.path(base, "inotify.err"),
            pid = file.path(base, "inotify.pid"))
  script <- sprintf(
    "inotifywait -m -r -e delete -e moved_from -e moved_to --format '%%e %%w%%f' %s > %s 2> %s & echo $! > %s",
    paste(shQuote(dirs), collapse = " "), shQuote(m$events), shQuote(m$err),
    shQuote(m$pid))
  system2("sh", c("-c", shQuote(script)), wait = TRUE)
  deadline <- Sys.time() + 20
  while (!any(grepl("Watches established", read_lines(m$err))) &&
         Sys.time() < deadline) Sys.sleep(0.05)
  if (!any(grepl("Watches established", read_lines(m$err)))) {
    stop_monitor(m)
    return(NULL)
  }
  m
}

stop_monitor <- function(m) {
  if (is.null(m)) return(invisible())
  pid <- as.integer(read_lines(m$pid)[1])
  # Let the last removals reach the log before stopping it.
  Sys.sleep(0.5)
  if (!is.na(pid)) {
    tools::pskill(pid)
    wait_gone(pid)
  }
  invisible()
}

read_lines <- function(path) {
  if (!file.exists(path)) return(character())
  suppressWarnings(readLines(path))
}

# Starts the shell line `command` as host h: in its own pid namespace (its
# pids from h * host_pid_stride + 1 on) and mount namespace; in mode
# "hostnames" also its own UTS namespace and hostname "ws-host-<h>", in mode
# "containers" the machine's hostname. `mount` is a shell line run there
# first (the network harness mounts the store in each host). Returns the
# files to wait on (wait_hosts()).
start_host <- function(h, command, base, mode = c("hostnames", "containers"),
                       mount = NULL) {
  mode <- match.arg(mode)
  f <- function(x) file.path(base, sprintf("host%d.%s", h, x))
  inner <- c(
    sprintf("echo %d > /proc/sys/kernel/ns_last_pid || exit 90",
            h * host_pid_stride),
    if (mode == "hostnames") sprintf("hostname ws-host-%d || exit 91", h),
    if (!is.null(mount)) paste(mount, "|| exit 92"),
    command)
  writeLines(inner, f("inner.sh"))
  ns <- c("--kill-child", "--pid", "--fork", "--mount-proc",
          if (mode == "hostnames") "--uts")
  outer <- c(
    sprintf("unshare %s sh %s > %s 2>&1 &", paste(ns, collapse = " "),
            shQuote(f("inner.sh")), shQuote(f("out"))),
    sprintf("echo $! > %s", shQuote(f("pid"))),
    "wait $!",
    sprintf("echo $? > %s", shQuote(f("status"))))
  writeLines(outer, f("outer.sh"))
  system2("sh", f("outer.sh"), wait = FALSE)
  list(status = f("status"), out = f("out"), pid = f("pid"))
}

# Waits for hosts started by start_host(); one still running after
# `timeout` seconds is killed (--kill-child takes its namespace down).
# Returns each host's exit status (NA when killed) and output.
wait_hosts <- function(handles, timeout) {
  deadline <- Sys.time() + timeout
  done <- function() file.exists(vapply(handles, `[[`, "", "status"))
  while (!all(done()) && Sys.time() < deadline) Sys.sleep(0.1)
  for (hd in handles[!done()]) {
    pid <- as.integer(read_lines(hd$pid)[1])
    if (!is.na(pid)) tools::pskill(pid, tools::SIGKILL)
  }
  list(status = vapply(handles, function(hd) {
    s <- as.integer(read_lines(hd$status)[1])
    if (length(s) == 0 || is.na(s)) NA_integer_ else s
  }, 1L), output = lapply(handles, function(hd) read_lines(hd$out)))
}

# The shell line that runs an R script of the harness in a host.
host_rscript <- function(script, args) {
  rscript <- file.path(R.home("bin"), "Rscript")
  paste(c("unset R_TESTS;",
          sprintf("R_LIBS=%s", shQuote(paste(.libPaths(), collapse = ":"))),
          shQuote(c(rscript, "--vanilla",
                    normalizePath(test_path("hosts", script)), args))),
        collapse = " ")
}

host_keys <- function(nkeys) {
  vapply(seq_len(nkeys), function(k) ws_key("multi-host harness", k), "")
}

# Runs `hosts` hosts at once (hosts/host.R: the concurrency mix with
# SIGKILLs) on the store at `root`, as the hosts see it, and waits for them.
# `server_root` is the same store as this process sees it (the server's
# side of a network store): inotify watches it, and the checks read it.
run_hosts <- function(root, mode = c("hostnames", "containers"), hosts = 3L,
                      workers = 3L, seconds = 12, budget = 512 * 1024,
                      nkeys = 4L, server_root = root, mount = NULL,
                      base = tempfile("hosts-")) {
  mode <- match.arg(mode)
  logdir <- file.path(base, "logs")
  # A host removes a file named by a worker's pid here just before it
  # kills that worker: in the monitor's log, a temp removed before that
  # mark was removed while its writer lived.
  killdir <- file.path(base, "kills")
  dir.create(logdir, recursive = TRUE)
  dir.create(killdir)
  dir.create(server_root, recursive = TRUE, showWarnings = FALSE)
  monitor <- start_monitor(c(server_root, killdir), base)
  payload_r <- normalizePath(test_path("hosts", "payload.R"))
  handles <- lapply(seq_len(hosts), function(h) {
    start_host(h, host_rscript("host.R", c(root, logdir, h, workers, seconds,
                                           budget, nkeys, payload_r, killdir)),
               base, mode, mount)
  })
  done <- wait_hosts(handles, seconds + 120)
  stop_monitor(monitor)
  list(root = server_root, killdir = killdir, mode = mode, hosts = hosts,
       budget = budget,
       nkeys = nkeys, logdir = logdir, status = done$status,
       output = done$output,
       removed = if (is.null(monitor)) NULL else removals(read_lines(monitor$events)),
       keys = host_keys(nkeys))
}

# The paths removed, in order, from the monitor's log. A FUSE mount (sshfs)
# does not unlink a file that a process on the same mount holds open: it
# renames it to .fuse_hidden* and removes that on the last close. Such a
# rename is the removal of the name.
removals <- function(lines) {
  event <- sub(" .*$", "", lines)
  path <- sub("^[^ ]+ ", "", lines)
  hidden <- c(grepl("^MOVED_TO", event[-1]) &
                startsWith(basename(path[-1]), ".fuse_hidden"), FALSE)
  moved <- startsWith(event, "MOVED_FROM") & hidden
  structure(path[(event == "DELETE") | moved], hidden = sum(moved))
}

# Tab-separated journal lines of one type, as a character matrix.
journal_rows <- function(lines, type, width) {
  parts <- strsplit(lines, "\t", fixed = TRUE)
  keep <- vapply(parts, function(p) length(p) >= width && p[[1]] == type, TRUE)
  if (!any(keep)) return(matrix(character(), 0, width))
  do.call(rbind, lapply(parts[keep], function(p) p[seq_len(width)]))
}

# "<key>/<run_id>" of every whole entry (meta and payload) left in the store.
final_ids <- function(run) {
  unlist(lapply(run$keys, function(key) {
    f <- list.files(file.path(run$root, key))
    metas <- sub("\\.json$", "", grep("^r[0-9a-f]+-[0-9a-f]+\\.json$", f, value = TRUE))
    bins <- sub("\\.bin$", "", grep("^r[0-9a-f]+-[0-9a-f]+\\.bin$", f, value = TRUE))
    if (length(intersect(metas, bins)) == 0) return(character())
    paste(key, intersect(metas, bins), sep = "/")
  }))
}

# Everything the journals, the removal log and the store show, checked.
host_results <- function(run) {
  files <- list.files(run$logdir, "^h[0-9]+w[0-9]+g[0-9]+\\.log$")
  id <- regmatches(files, regexec("^h([0-9]+)w([0-9]+)g([0-9]+)", files))
  writers <- data.frame(
    file = files,
    host = as.integer(vapply(id, `[`, "", 2)),
    worker = as.integer(vapply(id, `[`, "", 3)),
    gen = as.integer(vapply(id, `[`, "", 4)))
  writers$name <- sprintf("h%dw%dg%d", writers$host, writers$worker, writers$gen)
  lines <- lapply(file.path(run$logdir, files), read_lines)
  writers$pid <- vapply(lines, function(l) {
    s <- journal_rows(l, "start", 2)
    if (nrow(s) == 0) NA_integer_ else as.integer(s[1, 2])
  }, 1L)
  writers$nodename <- vapply(lines, function(l) {
    s <- journal_rows(l, "start", 3)
    if (nrow(s) == 0) NA_character_ else s[1, 3]
  }, "")
  writers$last <- vapply(lines, function(l) {
    if (length(l) == 0) "" else strsplit(l[[length(l)]], "\t")[[1]][[1]]
  }, "")
  per_writer <- function(type, width, cols) {
    rows <- lapply(seq_along(lines), function(i) {
      m <- journal_rows(lines[[i]], type, width)
      if (nrow(m) == 0) return(NULL)
      d <- as.data.frame(m[, -1, drop = FALSE], stringsAsFactors = FALSE)
      names(d) <- cols
      d$writer <- writers$name[[i]]
      d$host <- writers$host[[i]]
      d
    })
    rows <- do.call(rbind, rows)
    if (is.null(rows)) {
      rows <- as.data.frame(setNames(rep(list(character()), length(cols)), cols))
      rows$writer <- character()
      rows$host <- integer()
    }
    rows
  }
  begins <- per_writer("begin", 4, c("seq", "key", "len"))
  commits <- per_writer("commit", 5, c("seq", "key", "run_id", "check"))
  errors <- per_writer("error", 9, c("op", "seq", "key", "class", "code",
                                     "path", "message"))
  lookups <- per_writer("lookup", 5, c("op", "key", "outcome", "from"))
  evicts <- per_writer("evict", 3, c("removed", "temps_removed"))

  host_logs <- lapply(seq_len(run$hosts), function(h) {
    read_lines(file.path(run$logdir, sprintf("host%d.log", h)))
  })
  kills <- do.call(rbind, lapply(seq_len(run$hosts), function(h) {
    m <- journal_rows(host_logs[[h]], "kill", 4)
    if (nrow(m) == 0) return(NULL)
    data.frame(host = h, name = sprintf("h%dw%sg%s", h, m[, 2], m[, 3]),
               pid = as.integer(m[, 4]))
  }))
  if (is.null(kills)) kills <- data.frame(host = integer(), name = character(),
                                          pid = integer())
  kills$mid_save <- writers$last[match(kills$name, writers$name)] %in% "begin"

  # ---- removals, in the order they happened ----
  removed <- run$removed
  lost_by_order <- character()
  live_temps <- character()
  live_saves <- character()
  killed_temps <- 0L
  unknown_temps <- character()
  marker_temps <- 0L
  if (!is.null(removed)) {
    name <- basename(removed)
    at <- seq_along(removed)
    is_kill <- dirname(removed) == run$killdir
    kill_at <- at[is_kill][match(kills$pid, as.integer(name[is_kill]))]
    # The sweep's marker (.warmstart/sweep) is written through a temp
    # named by pid alone; count those removed while their writer lived.
    is_marker <- grepl("^sweep\\.tmp\\.[0-9]+$", name)
    marker_pid <- as.integer(sub("^sweep\\.tmp\\.", "", name[is_marker]))
    marker_owner <- writers$name[match(marker_pid, writers$pid)]
    marker_kill_at <- kill_at[match(marker_owner, kills$name)]
    marker_temps <- sum(!is.na(marker_owner) &
                          (is.na(marker_kill_at) | at[is_marker] < marker_kill_at))
    temp <- grepl("\\.tmp\\.", name) & !is_marker & !is_kill
    pid <- as.integer(sub("^.*\\.tmp\\.([0-9]+).*$", "\\1", name[temp]))
    owner <- writers$name[match(paste(pid %/% host_pid_stride, pid),
                                paste(writers$host, writers$pid))]
    # A temp removed before its writer's kill mark (or of a writer never
    # killed) was removed while its writer lived.
    owner_kill_at <- kill_at[match(owner, kills$name)]
    live <- !is.na(owner) & (is.na(owner_kill_at) | at[temp] < owner_kill_at)
    killed_temps <- sum(!is.na(owner) & !live)
    # Every temp removed must be a harness writer's: otherwise the temp
    # names changed shape and this check would silently see nothing.
    unknown_temps <- removed[temp][is.na(owner)]
    live_temps <- removed[temp][live]
    # Per save: the run id and nonce in the temp's name.
    live_saves <- unique(sub("^(r[0-9a-f]+-[0-9a-f]+)\\.(bin|json)\\.tmp\\.[0-9]+\\.([0-9]+).*$",
                             "\\1 \\3", name[temp][live]))
    entry <- sub("^(.*/)?([0-9a-f]+)/(r[0-9a-f]+-[0-9a-f]+)\\.(bin|json)$",
                 "\\2/\\3 \\4", removed)
    is_entry <- grepl("^[0-9a-f]+/r[0-9a-f]+-[0-9a-f]+ (bin|json)$", entry)
    ids <- paste(run$keys[as.integer(commits$key)], commits$run_id, sep = "/")
    last_at <- function(x) {
      i <- at[is_entry]
      m <- match(x, rev(entry[is_entry]))
      rev(i)[m]
    }
    bin_at <- last_at(paste(ids, "bin"))
    json_at <- last_at(paste(ids, "json"))
    # Every whole-entry removal (eviction, TTL, damage) takes the meta
    # first. A committed entry whose last removal was its meta, after its
    # payload, lost the payload to a sweep that took it for a dead writer's
    # orphan (the meta was then removed as alone). Only the last removals
    # count: a save retried after a failed attempt removed its own payload
    # before it wrote it again under the same run id.
    present <- ids %in% final_ids(run)
    lost_by_order <- ids[!present & !is.na(bin_at) &
                           (is.na(json_at) | json_at > bin_at)]
  }

  # ---- the store as it is left ----
  final_entries <- 0L
  final_wrong <- character()
  final_meta_alone <- character()
  begun <- paste(begins$writer, begins$seq, begins$key, begins$len)
  for (k in seq_len(run$nkeys)) {
    dir <- file.path(run$root, run$keys[[k]])
    f <- list.files(dir)
    metas <- sub("\\.json$", "", grep("^r[0-9a-f]+-[0-9a-f]+\\.json$", f, value = TRUE))
    bins <- sub("\\.bin$", "", grep("^r[0-9a-f]+-[0-9a-f]+\\.bin$", f, value = TRUE))
    final_meta_alone <- c(final_meta_alone, setdiff(metas, bins))
    for (r in intersect(metas, bins)) {
      path <- file.path(dir, paste0(r, ".bin"))
      bytes <- readBin(path, "raw", file.size(path) + 1)
      h <- read_host_payload(bytes, k)
      ok <- !is.null(h) && sprintf("h%dw%dg%d %d %d %d", h[["host"]],
        h[["worker"]], h[["gen"]], h[["seq"]], k, h[["len"]]) %in% begun
      final_entries <- final_entries + 1L
      if (!ok) final_wrong <- c(final_wrong, path)
    }
  }
  committed_ids <- paste(run$keys[as.integer(commits$key)], commits$run_id, sep = "/")

  count <- function(x, by) vapply(seq_len(run$hosts), function(h) sum(x & by == h), 1L)
  per_host <- data.frame(
    host = seq_len(run$hosts),
    nodename = vapply(seq_len(run$hosts), function(h) {
      n <- unique(stats::na.omit(writers$nodename[writers$host == h]))
      if (length(n) == 0) NA_character_ else paste(n, collapse = ",")
    }, ""),
    saves = count(rep(TRUE, nrow(commits)), commits$host),
    lookups = count(lookups$op == "lookup", lookups$host),
    latest = count(lookups$op == "latest", lookups$host),
    evicts = count(rep(TRUE, nrow(evicts)), evicts$host),
    errors = count(rep(TRUE, nrow(errors)), errors$host),
    kills = count(rep(TRUE, nrow(kills)), kills$host),
    kills_mid_save = count(kills$mid_save, kills$host))
  list(
    per_host = per_host,
    writers = writers,
    commits = commits,
    errors = errors,
    checks = table(factor(commits$check, c("ok", "bin_missing", "json_missing",
                                           "both_missing", "wrong_bytes"))),
    lookups_found = sum(lookups$outcome != "miss"),
    lookups_wrong = sum(lookups$outcome == "wrong"),
    lost_at_commit = committed_ids[commits$check == "bin_missing"],
    lost_by_order = lost_by_order,
    live_temps = live_temps,
    live_saves = live_saves,
    killed_temps = killed_temps,
    unknown_temps = unknown_temps,
    marker_temps = marker_temps,
    removals_seen = if (is.null(removed)) 0L else
      sum(dirname(removed) != run$killdir),
    hidden = if (is.null(removed)) 0L else attr(removed, "hidden"),
    monitored = !is.null(removed),
    final_entries = final_entries,
    final_wrong = final_wrong,
    final_meta_alone = final_meta_alone,
    save_enoent = sum(errors$op == "save" & errors$code == "ENOENT"))
}

# What must hold after a run of run_hosts(), on any filesystem.
expect_hosts_correct <- function(run, res) {
  info <- describe_lost(res)
  expect_identical(run$status, rep(0L, run$hosts),
                   info = paste(unlist(run$output), collapse = "\n"))
  # The mix ran on every host, and kills landed inside saves.
  expect_true(all(res$per_host$saves >= 20), info = info)
  expect_true(all(res$per_host$lookups + res$per_host$latest >= 20), info = info)
  expect_true(all(res$per_host$kills >= 3), info = info)
  expect_gt(sum(res$per_host$kills_mid_save), 0)
  expect_gt(res$lookups_found, 0)
  # Nothing wrong was ever read: right after a save, by a lookup, at the end.
  expect_identical(res$checks[["wrong_bytes"]], 0L, info = info)
  expect_identical(res$lookups_wrong, 0L, info = info)
  expect_identical(res$final_wrong, character(), info = info)
  # Nothing committed was lost: the payload is there right after ws_save()
  # returns, and an entry removed later went meta first (an eviction), not
  # payload first (a sweep that took it for a dead writer's orphan).
  expect_identical(res$lost_at_commit, character(), info = info)
  expect_identical(res$final_meta_alone, character(), info = info)
  # No save failed (a swept temp shows as ENOENT), nothing else did either.
  expect_identical(res$save_enoent, 0L, info = info)
  expect_identical(nrow(res$errors), 0L, info = info)
  if (!res$monitored) {
    skip("inotifywait (inotify-tools) is not installed: removals not checked")
  }
  expect_gt(res$removals_seen, 0)
  expect_identical(res$unknown_temps, character(), info = info)
  expect_identical(res$lost_by_order, character(), info = info)
  expect_identical(res$live_temps, character(), info = info)
}

# A few lines that say what went wrong, for the expectations' info.
describe_lost <- function(res) {
  err <- if (nrow(res$errors) > 0) {
    utils::head(paste(res$errors$writer, res$errors$op, res$errors$code,
                      res$errors$message), 3)
  }
  paste(c(
    sprintf("post-commit checks: %s", paste(names(res$checks), res$checks,
                                            sep = "=", collapse = " ")),
    sprintf("payload removed before its meta (first 3): %s",
            paste(utils::head(res$lost_by_order, 3), collapse = ", ")),
    sprintf("live writers' temps removed (first 3): %s",
            paste(utils::head(basename(res$live_temps), 3), collapse = ", ")),
    err), collapse = "\n")
}

# Figures of one run for the README (WARMSTART_FIGURES).
record_host_figures <- function(label, res, seconds) {
  ph <- res$per_host
  for (h in seq_len(nrow(ph))) {
    record_figure(sprintf("%s: host %d (%s) saves, lookups, latest, sweeps, errors, kills (mid-save) in %gs",
                          label, h, ph$nodename[h], seconds),
                  sprintf("%d, %d, %d, %d, %d, %d (%d)", ph$saves[h], ph$lookups[h],
                          ph$latest[h], ph$evicts[h], ph$errors[h], ph$kills[h],
                          ph$kills_mid_save[h]))
  }
  record_figure(sprintf("%s: entries checked (at commit, returned by lookups, left at the end)", label),
                c(sum(res$checks), res$lookups_found, res$final_entries))
  record_figure(sprintf("%s: lost (payload gone at commit, payload removed before meta, meta alone at end)", label),
                c(length(res$lost_at_commit), length(res$lost_by_order),
                  length(res$final_meta_alone)))
  record_figure(sprintf("%s: wrong payloads (at commit, lookups, at the end)", label),
                c(res$checks[["wrong_bytes"]], res$lookups_wrong,
                  length(res$final_wrong)))
  record_figure(sprintf("%s: temps removed of killed writers, of live writers (saves hit); sweep marker temps of live writers removed; saves failed with ENOENT; files removed seen (of them hidden by FUSE)", label),
                sprintf("%d, %d (%d); %d; %d; %d (%d)", res$killed_temps, length(res$live_temps),
                        length(res$live_saves), res$marker_temps, res$save_enoent,
                        res$removals_seen, res$hidden))
}
