# Several hosts on one store (issue 13, part 2): three "hosts", each in its
# own pid namespace, run the concurrency mix at once with SIGKILLs. The
# harness is in helper-hosts.R and hosts/host.R. Nothing committed may be
# lost, no payload may be wrong, and no live writer's temp may be swept by
# another host.

hosts_seconds <- 12

test_that("three hosts with their own hostnames lose nothing and read nothing wrong", {
  skip_if_no_hosts()
  root <- tempfile("ws-hosts-")
  withr::defer(unlink(root, recursive = TRUE))
  run <- run_hosts(root, "hostnames", seconds = hosts_seconds)
  withr::defer(unlink(dirname(run$logdir), recursive = TRUE))
  res <- host_results(run)
  record_host_figures("hosts, own hostnames", res, hosts_seconds)
  expect_identical(sort(res$per_host$nodename),
                   sprintf("ws-host-%d", seq_len(run$hosts)))
  expect_hosts_correct(run, res)
})

test_that("three containers sharing one hostname lose nothing and read nothing wrong", {
  skip_if_no_hosts()
  root <- tempfile("ws-containers-")
  withr::defer(unlink(root, recursive = TRUE))
  run <- run_hosts(root, "containers", seconds = hosts_seconds)
  withr::defer(unlink(dirname(run$logdir), recursive = TRUE))
  res <- host_results(run)
  record_host_figures("containers, one hostname", res, hosts_seconds)
  expect_identical(unique(res$per_host$nodename), Sys.info()[["nodename"]])
  expect_hosts_correct(run, res)
})
