# The Slurm harness (make test-slurm): a real Slurm cluster on this machine,
# started and stopped here. munged and slurmctld run as root with their
# own config, key, state and spool under a temp dir; each compute node is
# a slurmd in its own UTS, pid and mount namespace (the multi-host
# harness's hosts, helper-hosts.R), so it has its own hostname and pid
# range, as a separate machine would. Nodes see the store at one path
# (`mnt`): node 1 through its own sshfs client (helper-network.R's sshd),
# the others through a bind mount of the server's directory, as NFS clients
# of one server and processes on the file server itself would. Slurm's
# "multiple slurmd" mode is not used: its nodes share the machine's hostname
# and pids, and warmstart's temp sweeps decide by host name and pid.

slurm_requested <- function() {
  identical(Sys.getenv("WARMSTART_TEST_SLURM"), "true")
}

slurm_tools <- c(munged = "/usr/sbin/munged", slurmctld = "/usr/sbin/slurmctld",
                 slurmd = "/usr/sbin/slurmd", sbatch = "sbatch", squeue = "squeue",
                 scancel = "scancel", scontrol = "scontrol")

# NULL when a Slurm cluster can be started here, else why not.
slurm_unavailable <- function() {
  if (!identical(unname(Sys.info()[["effective_user"]]), "root")) {
    return("not root: slurmd and munged run as root (SlurmUser=root)")
  }
  why <- hosts_unavailable()
  if (!is.null(why)) return(why)
  missing <- names(slurm_tools)[!nzchar(Sys.which(slurm_tools))]
  if (length(missing) > 0) {
    return(paste("not installed:", paste(missing, collapse = ", "),
                 "(Debian: slurm-wlm munge)"))
  }
  pkgs <- c("batchtools", "future.batchtools", "future.apply", "mgcv")
  missing <- pkgs[!vapply(pkgs, requireNamespace, TRUE, quietly = TRUE)]
  if (length(missing) > 0) {
    return(paste("R packages not installed:", paste(missing, collapse = ", "),
                 "(Debian: r-cran-batchtools r-cran-future.batchtools r-cran-future.apply)"))
  }
  NULL
}

skip_if_no_slurm <- function() {
  if (!slurm_requested()) {
    skip("the Slurm harness runs with `make test-slurm` (WARMSTART_TEST_SLURM=true)")
  }
  why <- slurm_unavailable()
  if (!is.null(why)) skip(why)
}

# Every pid this harness starts is also appended to this file, so that
# tools/test-slurm.sh can stop them (by pid) if R itself dies.
slurm_note_pid <- function(pid) {
  f <- Sys.getenv("WARMSTART_SLURM_PIDS")
  if (nzchar(f)) cat(pid, "\n", file = f, append = TRUE)
  pid
}

# Runs `inner` (shell lines) in new namespaces, in the background; returns
# the pid of the namespace's init process as this process sees it (killing
# it with SIGKILL takes the whole namespace down: that node is lost). The
# init is bash, which reaps the orphans (slurmstepd) that it inherits.
start_in_namespace <- function(name, inner, base) {
  f <- function(x) file.path(base, sprintf("%s.%s", name, x))
  writeLines(inner, f("sh"))
  unlink(f("pid"))
  system2("sh", c("-c", shQuote(sprintf(
    "unshare --uts --pid --fork --mount-proc --mount --propagation private bash %s > %s 2>&1 & echo $! > %s",
    shQuote(f("sh")), shQuote(f("out")), shQuote(f("pid"))))), wait = TRUE)
  outer <- as.integer(read_lines(f("pid"))[1])
  # unshare --fork ignores SIGTERM and SIGINT: the process to stop is its
  # child, the namespace's init.
  deadline <- Sys.time() + 10
  init <- integer()
  while (length(init) == 0 && Sys.time() < deadline) {
    kids <- read_lines(sprintf("/proc/%d/task/%d/children", outer, outer))
    init <- as.integer(strsplit(trimws(paste(kids, collapse = " ")), " +")[[1]])
    init <- init[!is.na(init)]
    if (length(init) == 0) Sys.sleep(0.02)
  }
  if (length(init) == 0) stop("namespace ", name, " did not start: ",
                              paste(read_lines(f("out")), collapse = "\n"))
  slurm_note_pid(init[[1]])
}

pid_alive <- function(pid) {
  !is.na(pid) && file.exists(sprintf("/proc/%d", pid)) &&
    !identical(proc_state(pid), "Z")
}

kill_wait <- function(pid, signal = tools::SIGKILL, seconds = 10) {
  if (is.na(pid) || !pid_alive(pid)) return(invisible(TRUE))
  tools::pskill(pid, signal)
  deadline <- Sys.time() + seconds
  while (pid_alive(pid) && Sys.time() < deadline) Sys.sleep(0.05)
  invisible(!pid_alive(pid))
}

# Starts munged, slurmctld (host ws-ctl) and `nodes` slurmd nodes (hosts
# ws-node<h>), the store's server directory `server` at `mnt` on each
# (`mounts[[h]]`: a shell line run in node h before its slurmd; by default
# a bind mount). Returns the cluster; stop_slurm() stops it.
start_slurm <- function(base, nodes = 3L, cpus = 2L, mounts = list()) {
  dir.create(base, recursive = TRUE, showWarnings = FALSE)
  f <- function(...) file.path(base, ...)
  for (d in c("munge", "state", "log", "spool")) dir.create(f(d), showWarnings = FALSE)
  Sys.chmod(f("munge"), "0700")
  key <- f("munge", "munge.key")
  writeBin(as.raw(sample(0:255, 1024, replace = TRUE)), key)
  Sys.chmod(key, "0400")
  cl <- list(base = base, nodes = nodes, conf = f("slurm.conf"),
             socket = f("munge", "munge.sock"), mounts = mounts,
             # An environment, so that a node started again is stopped too.
             pids = new.env())
  # munged in the foreground, in the background: its pid is ours.
  system2("sh", c("-c", shQuote(sprintf(
    "%s --foreground --force --key-file=%s --socket=%s --pid-file=%s --log-file=%s --seed-file=%s > %s 2>&1 & echo $! > %s",
    slurm_tools[["munged"]], shQuote(key), shQuote(cl$socket),
    shQuote(f("munge", "munged.pid")), shQuote(f("munge", "munged.log")),
    shQuote(f("munge", "seed")), shQuote(f("munge", "out")),
    shQuote(f("munge", "pid"))))), wait = TRUE)
  cl$pids$munged <- slurm_note_pid(as.integer(read_lines(f("munge", "pid"))[1]))
  deadline <- Sys.time() + 10
  while (!file.exists(cl$socket) && Sys.time() < deadline) Sys.sleep(0.05)
  if (!file.exists(cl$socket)) stop("munged did not start: ",
                                    paste(read_lines(f("munge", "out")), collapse = "\n"))
  port <- sample(20000:40000, 1)
  cl$node_names <- sprintf("ws-node%d", seq_len(nodes))
  writeLines(c(
    "ClusterName=warmstart",
    sprintf("SlurmctldHost=ws-ctl(127.0.0.1)"),
    sprintf("SlurmctldPort=%d", port),
    "SlurmUser=root", "SlurmdUser=root",
    "AuthType=auth/munge", sprintf("AuthInfo=socket=%s", cl$socket),
    "CredType=cred/munge",
    sprintf("StateSaveLocation=%s", f("state")),
    sprintf("SlurmdSpoolDir=%s", f("spool", "%n")),
    sprintf("SlurmctldPidFile=%s", f("slurmctld.pid")),
    sprintf("SlurmdPidFile=%s", f("spool", "slurmd.%n.pid")),
    sprintf("SlurmctldLogFile=%s", f("log", "slurmctld.log")),
    sprintf("SlurmdLogFile=%s", f("log", "slurmd.%n.log")),
    "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none",
    "JobAcctGatherType=jobacct_gather/none",
    "AccountingStorageType=accounting_storage/none",
    "MpiDefault=none", "MailProg=/bin/true",
    "SchedulerType=sched/backfill", "SelectType=select/cons_tres",
    "SelectTypeParameters=CR_CPU",
    # A node that comes back registers and is used again at once.
    "ReturnToService=2", "SlurmdTimeout=10", "KillWait=3", "MinJobAge=600",
    # A job whose node is lost fails; batchtools resubmits it (as a user
    # would), rather than Slurm on its own.
    "JobRequeue=0",
    "SlurmdParameters=config_overrides",
    sprintf("NodeName=%s NodeAddr=127.0.0.1 Port=%d CPUs=%d State=UNKNOWN",
            cl$node_names, port + seq_len(nodes), cpus),
    "PartitionName=ws Nodes=ALL Default=YES MaxTime=INFINITE State=UP"),
    cl$conf)
  Sys.setenv(SLURM_CONF = cl$conf)
  cl$pids$slurmctld <- start_in_namespace("slurmctld", c(
    "hostname ws-ctl || exit 91",
    sprintf("exec %s -D -i -f %s", slurm_tools[["slurmctld"]], shQuote(cl$conf))),
    f("log"))
  for (h in seq_len(nodes)) cl <- start_node(cl, h)
  cl <- wait_nodes_idle(cl)
  cl
}

# Starts (or starts again) node h's slurmd. `restart`: its pids begin
# elsewhere in its range, so that a new process does not take a dead job's
# pid (which would keep that job's temps as a live writer's, safely).
start_node <- function(cl, h, restart = FALSE) {
  name <- cl$node_names[[h]]
  dir.create(file.path(cl$base, "spool", name), showWarnings = FALSE)
  mount <- cl$mounts[[h]]
  inner <- c(
    sprintf("echo %d > /proc/sys/kernel/ns_last_pid || exit 90",
            h * host_pid_stride + if (restart) 2000L else 0L),
    sprintf("hostname %s || exit 91", name),
    if (!is.null(mount)) paste(mount, "|| exit 92"),
    # bash as the namespace's init reaps the orphaned slurmstepds.
    sprintf("%s -D -f %s &", slurm_tools[["slurmd"]], shQuote(cl$conf)),
    "wait $!")
  cl$pids[[name]] <- start_in_namespace(name, inner, file.path(cl$base, "log"))
  cl
}

sinfo_states <- function() {
  out <- suppressWarnings(system2("sinfo", c("-h", "-N", "-o", "'%N %t'"),
                                  stdout = TRUE, stderr = TRUE))
  parts <- strsplit(out, " ")
  stats::setNames(vapply(parts, function(p) p[length(p)], ""),
                  vapply(parts, `[`, "", 1))
}

wait_nodes_idle <- function(cl, names = cl$node_names, seconds = 60) {
  deadline <- Sys.time() + seconds
  repeat {
    st <- sinfo_states()
    if (all(names %in% names(st)) &&
        all(st[names] %in% c("idle", "mix", "alloc"))) break
    if (Sys.time() > deadline) {
      stop("Slurm nodes did not come up: ", paste(names(st), st, collapse = ", "),
           "\n", paste(utils::tail(read_lines(file.path(cl$base, "log", "slurmctld.log")), 20),
                       collapse = "\n"))
    }
    Sys.sleep(0.2)
  }
  cl
}

# A node lost: SIGKILL to its namespace's init, which the kernel follows
# by SIGKILL to every process in it (slurmd, slurmstepd, the job steps,
# its sshfs client) at once.
kill_node <- function(cl, h) {
  kill_wait(cl$pids[[cl$node_names[[h]]]])
}

stop_slurm <- function(cl) {
  if (is.null(cl)) return(invisible())
  for (name in c(cl$node_names, "slurmctld", "munged")) {
    if (!is.null(cl$pids[[name]])) kill_wait(cl$pids[[name]])
  }
  invisible()
}

# The jobs' journals (slurm/jobs.R, save_loop()) as data frames of rows by
# type, with the job, attempt (gen), pid and node of each.
slurm_journals <- function(logdir) {
  files <- list.files(logdir, "^j[0-9]+-g[0-9]+\\.log$")
  id <- regmatches(files, regexec("^j([0-9]+)-g([0-9]+)", files))
  lines <- lapply(file.path(logdir, files), read_lines)
  rows <- function(type, width, cols) {
    do.call(rbind, lapply(seq_along(files), function(f) {
      m <- journal_rows(lines[[f]], type, width)
      if (nrow(m) == 0) return(NULL)
      d <- as.data.frame(m[, -1, drop = FALSE], stringsAsFactors = FALSE)
      names(d) <- cols
      d$job <- as.integer(id[[f]][2])
      d$gen <- as.integer(id[[f]][3])
      d
    }))
  }
  starts <- rows("start", 3, c("pid", "node"))
  last <- vapply(lines, function(l) {
    if (length(l) == 0) "" else strsplit(l[[length(l)]], "\t")[[1]][[1]]
  }, "")
  list(
    writers = data.frame(job = as.integer(vapply(id, `[`, "", 2)),
                         gen = as.integer(vapply(id, `[`, "", 3)),
                         pid = as.integer(starts$pid[match(files, sprintf("j%d-g%d.log", starts$job, starts$gen))]),
                         node = starts$node[match(files, sprintf("j%d-g%d.log", starts$job, starts$gen))],
                         last = last, stringsAsFactors = FALSE),
    begins = rows("begin", 4, c("seq", "key", "len")),
    commits = rows("commit", 4, c("seq", "key", "run_id")),
    ckbegins = rows("ckbegin", 3, c("seq", "len")),
    ckcommits = rows("ckcommit", 3, c("seq", "run_id")),
    lookups = rows("lookup", 3, c("key", "outcome")),
    errors = rows("error", 5, c("seq", "key", "class", "message")))
}

# Temps left under the store's key directories, with the pid and host
# token their names carry (<runid>.<bin|json>.tmp.<pid>.<nonce>.<attempt>.<host>;
# the token is a hash of hostname, boot id and pid namespace).
store_temps <- function(root) {
  f <- list.files(root, "\\.tmp\\.", recursive = TRUE)
  f <- f[!startsWith(f, ".warmstart")]
  parts <- strsplit(basename(f), ".", fixed = TRUE)
  data.frame(path = f,
             pid = as.integer(vapply(parts, function(p) p[4], "")),
             host = vapply(parts, function(p) p[length(p)], ""),
             stringsAsFactors = FALSE)
}
