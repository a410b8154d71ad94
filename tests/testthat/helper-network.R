# The network harness (make test-network): the multi-host harness over a
# real network filesystem, sshfs, each host mounting the store through its
# own FUSE client from an sshd that listens on 127.0.0.1 only. The sshd is
# ours: its own config, host key and user key in a temp dir, a free port,
# started and stopped here; the system's sshd and its config are never
# touched. (It runs in a private mount namespace with a tmpfs over /run, so
# that even its privilege separation directory is its own.)

network_requested <- function() {
  identical(Sys.getenv("WARMSTART_TEST_NETWORK"), "true")
}

# NULL when sshfs can be tried here, else why not.
network_unavailable <- function() {
  why <- hosts_unavailable()
  if (!is.null(why)) return(why)
  if (!file.exists("/dev/fuse")) return("no /dev/fuse")
  tools <- c(sshfs = "sshfs", sshd = "/usr/sbin/sshd",
             "ssh-keygen" = "ssh-keygen", ssh = "ssh")
  missing <- names(tools)[!nzchar(Sys.which(tools))]
  if (length(missing) > 0) {
    return(paste("not installed:", paste(missing, collapse = ", "),
                 "(Debian: sshfs openssh-server)"))
  }
  NULL
}

skip_if_no_network <- function() {
  if (!network_requested()) {
    skip("the sshfs harness runs with `make test-network` (WARMSTART_TEST_NETWORK=true)")
  }
  why <- network_unavailable()
  if (!is.null(why)) skip(why)
}

# Starts an sshd on 127.0.0.1 at a free port; NULL with a message when it
# cannot. The result is what sshfs_mount_line() and stop_sshd() need.
start_sshd <- function(dir) {
  dir.create(dir, recursive = TRUE, showWarnings = FALSE)
  f <- function(x) file.path(dir, x)
  for (k in c("host_key", "user_key")) {
    st <- system2("ssh-keygen", c("-q", "-t", "ed25519", "-N", "''", "-f",
                                  shQuote(f(k))), stdout = FALSE, stderr = FALSE)
    if (st != 0) return(NULL)
  }
  file.copy(f("user_key.pub"), f("authorized_keys"))
  user <- Sys.info()[["user"]]
  for (attempt in 1:10) {
    port <- sample(20000:60000, 1)
    writeLines(c(
      sprintf("Port %d", port),
      "ListenAddress 127.0.0.1",
      sprintf("HostKey %s", f("host_key")),
      sprintf("PidFile %s", f("sshd.pid")),
      sprintf("AuthorizedKeysFile %s", f("authorized_keys")),
      sprintf("AllowUsers %s", user),
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      "StrictModes no",
      "UsePAM no",
      "X11Forwarding no",
      "AllowTcpForwarding no",
      "Subsystem sftp internal-sftp"), f("sshd_config"))
    unlink(c(f("sshd.pid"), f("sshd.log")))
    inner <- sprintf(
      "mount -t tmpfs -o size=1m,mode=0755 ws-sshd /run && mkdir -m 0755 /run/sshd && exec /usr/sbin/sshd -D -e -f %s",
      f("sshd_config"))
    system2("sh", c("-c", shQuote(sprintf(
      "unshare --mount --propagation private sh -c %s > %s 2>&1 &",
      shQuote(inner), shQuote(f("sshd.log"))))), wait = TRUE)
    deadline <- Sys.time() + 10
    repeat {
      log <- read_lines(f("sshd.log"))
      if (any(grepl("Server listening", log)) && file.exists(f("sshd.pid"))) break
      if (any(grepl("Address already in use|fatal|error", log, ignore.case = TRUE)) ||
          Sys.time() > deadline) break
      Sys.sleep(0.05)
    }
    if (!any(grepl("Server listening", log))) {
      pid <- as.integer(read_lines(f("sshd.pid"))[1])
      if (length(pid) == 1 && !is.na(pid)) tools::pskill(pid)
      if (any(grepl("Address already in use", log))) next
      message("sshd did not start: ", paste(log, collapse = " "))
      return(NULL)
    }
    host_pub <- read_lines(f("host_key.pub"))
    writeLines(sprintf("[127.0.0.1]:%d %s", port, host_pub), f("known_hosts"))
    return(list(dir = dir, port = port, user = user,
                pid = as.integer(read_lines(f("sshd.pid"))[1]),
                key = f("user_key"), known_hosts = f("known_hosts")))
  }
  NULL
}

stop_sshd <- function(srv) {
  if (is.null(srv) || is.na(srv$pid)) return(invisible())
  tools::pskill(srv$pid)
  wait_gone(srv$pid)
  invisible()
}

# The shell line that mounts the server's `remote` directory at `mountpoint`
# (run in each host's own mount namespace, so each host is its own client
# with its own caches). `options`: extra sshfs/FUSE mount options.
sshfs_mount_line <- function(srv, remote, mountpoint, options = character()) {
  opts <- c(sprintf("IdentityFile=%s", srv$key),
            sprintf("UserKnownHostsFile=%s", srv$known_hosts),
            "StrictHostKeyChecking=yes", "BatchMode=yes", "LogLevel=ERROR",
            options)
  paste(c("sshfs", "-p", srv$port, "-o", shQuote(paste(opts, collapse = ",")),
          shQuote(sprintf("%s@127.0.0.1:%s", srv$user, remote)),
          shQuote(mountpoint)), collapse = " ")
}

# Runs the visibility probe (hosts/probe.R) between two hosts: host 1
# saves a new entry every `interval` seconds, host 2 polls
# ws_lookup_latest(). Returns per entry the delay (seconds) until host 2
# saw it (NA for one it never saw before a newer one), and which entries
# were lost (their payload gone right after the save returned).
run_probe <- function(root, mount = NULL, rounds = 4L, interval = 2.5,
                      base = tempfile("probe-")) {
  logdir <- file.path(base, "logs")
  dir.create(logdir, recursive = TRUE)
  payload_r <- normalizePath(test_path("hosts", "payload.R"))
  roles <- c("writer", "reader")
  handles <- lapply(1:2, function(h) {
    start_host(h, host_rscript("probe.R", c(root, logdir, roles[[h]], rounds,
                                            interval, payload_r)),
               base, "hostnames", mount)
  })
  done <- wait_hosts(handles, 120 + rounds * interval)
  saved <- journal_rows(read_lines(file.path(logdir, "writer.log")), "saved", 4)
  seen <- journal_rows(read_lines(file.path(logdir, "reader.log")), "seen", 3)
  delay <- rep(NA_real_, rounds)
  at <- match(saved[, 2], seen[, 2])
  delay[as.integer(saved[, 2])] <- as.numeric(seen[at, 3]) - as.numeric(saved[, 3])
  list(status = done$status, output = done$output, saved = nrow(saved),
       delay = delay, lost = as.integer(saved[saved[, 4] != "TRUE", 2]))
}
