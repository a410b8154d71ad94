# The multi-host harness over a real network filesystem (issue 13, part 2):
# three hosts, each with its own sshfs client, on one store served by our
# own sshd on 127.0.0.1. Runs with `make test-network` (about 2 minutes);
# skipped otherwise. sshfs has no locks across clients (the kernel keeps a
# FUSE mount's flock to itself), renames through OpenSSH's posix-rename
# extension (atomic on the server), and caches attributes and directory
# listings in each client (sshfs dir_cache, 20 s by default; FUSE
# attr_timeout, 1 s).

sshfs_profiles <- list(
  "sshfs defaults" = character(),
  "sshfs no caches" = c("dir_cache=no", "attr_timeout=0", "entry_timeout=0",
                        "negative_timeout=0")
)
network_seconds <- 20

network_fixture <- function(env = parent.frame()) {
  skip_if_no_network()
  base <- tempfile("ws-net-")
  withr::defer(unlink(base, recursive = TRUE), envir = env)
  srv <- start_sshd(file.path(base, "sshd"))
  if (is.null(srv)) skip_no_tool("an sshd that starts on 127.0.0.1")
  withr::defer(stop_sshd(srv), envir = env)
  mnt <- file.path(base, "mnt")
  dir.create(mnt)
  dir.create(file.path(base, "server"))
  # Whether a FUSE mount is allowed here at all.
  probe <- start_host(1L, "true", base, "hostnames",
                      sshfs_mount_line(srv, file.path(base, "server"), mnt))
  st <- wait_hosts(list(probe), 30)
  if (!identical(st$status, 0L)) {
    skip_no_privilege(paste("mounting sshfs:", paste(unlist(st$output), collapse = " ")))
  }
  list(base = base, srv = srv, mnt = mnt)
}

for (profile in names(sshfs_profiles)) {
  test_that(sprintf("three hosts on %s lose nothing and read nothing wrong", profile), {
    fx <- network_fixture()
    server <- file.path(fx$base, "server", "store")
    run <- run_hosts(
      fx$mnt, "hostnames", seconds = network_seconds, server_root = server,
      mount = sshfs_mount_line(fx$srv, server, fx$mnt, sshfs_profiles[[profile]]),
      base = file.path(fx$base, "run"))
    res <- host_results(run)
    record_host_figures(profile, res, network_seconds)
    expect_hosts_correct(run, res)
  })
}

test_that("a new entry from another sshfs client is seen once its caches expire", {
  fx <- network_fixture()
  delays <- list()
  lost <- list()
  for (profile in names(sshfs_profiles)) {
    server <- file.path(fx$base, "server", make.names(profile))
    dir.create(server, recursive = TRUE)
    p <- run_probe(fx$mnt, sshfs_mount_line(fx$srv, server, fx$mnt,
                                            sshfs_profiles[[profile]]),
                   base = file.path(fx$base, make.names(profile)))
    expect_identical(p$status, c(0L, 0L),
                     info = paste(unlist(p$output), collapse = "\n"))
    expect_identical(p$saved, 4L)
    expect_identical(p$lost, integer())
    delays[[profile]] <- p$delay
    lost[[profile]] <- p$lost
    record_figure(sprintf("%s: seconds until another host saw each new entry (NA: a newer one came first); entries lost",
                          profile), c(round(p$delay, 2), length(p$lost)))
  }
  # Every entry that was not lost is seen in the end; without caches at
  # once (the reader polls every 20 ms).
  expect_false(is.na(delays[["sshfs defaults"]][4]))
  kept <- setdiff(1:4, lost[["sshfs no caches"]])
  expect_false(anyNA(delays[["sshfs no caches"]][kept]))
  expect_lt(max(delays[["sshfs no caches"]][kept]), 1.5)
})
