# `make gctorture`: every .Call entry point of the package on small stores,
# once normally and once under gctorture(TRUE) (a garbage collection at
# every allocation, so an object the C code forgot to PROTECT is collected
# while still in use). The two runs must give identical results. Run by
# tools/gctorture.sh against a build of the package.
library(warmstart)

root <- file.path(tempdir(), "gctorture-store")

# Returns everything the entry points return on a fresh store; same inputs,
# same outputs, whether tortured or not.
exercise <- function() {
  unlink(root, recursive = TRUE)
  warmstart:::ws_value_cache_clear()
  # Not durable: fsync has nothing to do with the glue, and costs time.
  st <- ws_open(root, size_budget = 1e6, ttl = 3600, durable = FALSE)
  k1 <- ws_key("gc", 1L)
  k2 <- ws_key("gc", list(a = 1, b = "x", f = function(x) x + 1, d = 1:3))
  id <- ws_save(st, k1, charToRaw("raw payload"), objective = 1.5, iteration = 3)
  ws_save(st, k1, charToRaw("replaced"), objective = 1, iteration = 4,
          kind = "final", run_id = id)
  env <- new.env()
  env$n <- 1
  ws_save(st, k2, list(v = 1:5, e = env), objective = NULL)
  # A signed store, a promise the guard refuses (src/glue.c; a warning from C),
  # a key dir others can write (an untrusted-store error from C).
  signed <- ws_open(root, durable = FALSE, secret = strrep("s", 32))
  ks <- ws_key("gc", "signed")
  ws_save(signed, ks, list(1, "x"))
  h <- serialize(NULL, NULL, xdr = FALSE)
  h <- h[seq_len(length(h) - 4L)]
  ints <- function(...) writeBin(as.integer(c(...)), raw(), size = 4L)
  promise <- c(h, ints(5L + 1024L, 253L, 252L),
               serialize(quote(1 + 1), NULL, xdr = FALSE)[-seq_along(h)])
  kp <- ws_key("gc", "promise")
  .Call(warmstart:::C_ws_save, st, kp, promise, TRUE, NULL, NULL, 0L, NULL, NULL)
  ku <- ws_key("gc", "untrusted")
  ws_save(st, ku, "x")
  Sys.chmod(file.path(root, ku), "0777", use_umask = FALSE)
  # Room for both: set() prunes on a throttle that is random (its counter
  # starts anywhere) and timed (5 s, which gctorture's slowness passes), so
  # a set() that prunes is not the same call in both runs. The prune is
  # asked for below, of a handle that keeps one entry.
  cache <- ws_cachem(st, max_n = 100)
  cache$set("a", list(1, "b"))
  cache$set("b", 2)
  # The access semantics: lookups rewrite the meta with an access stamp.
  acc <- ws_open(file.path(root, "access"), semantics = "access", durable = FALSE)
  ws_save(acc, k1, list(fit = 1:3), objective = 1, kind = "final")
  gone <- ws_save(acc, k2, as.raw(1:3))
  out <- list(
    lookup_cold = ws_lookup(st, k1),
    lookup_hot = ws_lookup(st, k1),
    latest = ws_lookup_latest(st, k2)$payload$v,
    decoded_again = ws_lookup_latest(st, k2)$payload$e$n,
    list_labels = .Call(warmstart:::C_ws_list, st, NULL, TRUE),
    list = ws_list(st),
    # (Not bytes: metas carry stamps, whose digits vary between runs.)
    info = unclass(ws_info(st))[c("entries", "keys")],
    keys = sort(cache$keys()),
    get = cache$get("a"),
    exists = cache$exists("b"),
    pruned = {ws_cachem(st, max_n = 1)$prune(); cache$keys()},
    accessed = ws_lookup(acc, k1)$payload,
    accessed_again = is.na(ws_lookup_latest(acc, k1)$accessed),
    remove_entry = {.Call(warmstart:::C_ws_remove_entry, acc, k2, gone); nrow(ws_list(acc))},
    is_r = warmstart:::ws_is_r_serialization(serialize(1, NULL, xdr = FALSE)),
    store_info = .Call(warmstart:::C_ws_store_info, st),
    signed = ws_lookup(signed, ks)[c("payload", "authenticated")],
    unsigned_passed_over = is.null(ws_lookup(signed, k2)),
    rstream = c(warmstart:::ws_rstream_check(promise),
                warmstart:::ws_rstream_check(serialize(list(1), NULL))),
    guard = {
      old <- warmstart:::ws_promise_guard(TRUE)
      w <- tryCatch(ws_lookup(st, kp), ws_unsafe_payload = function(w) class(w))
      warmstart:::ws_promise_guard(old)
      w
    },
    untrusted = tryCatch(ws_lookup(st, ku), ws_untrusted_store = function(e) e$reason),
    evict = ws_evict(st, verify = TRUE)[c("entries", "removed", "corrupt")],
    removed = ws_remove(st, k2),
    after = nrow(ws_list(st)),
    key_error = tryCatch(ws_key(new.env()), ws_bad_argument = function(e) e$argument),
    arg_error = tryCatch(ws_lookup(st, "nope"), ws_bad_argument = function(e) e$argument),
    io_error = tryCatch(ws_open(file.path(root, k1, paste0(id, ".bin"), "x")),
                        ws_io_error = function(e) e$code),
    # Its counts are the process's, which differ between the runs.
    sweep_state = names(warmstart:::ws_sweep_state(st)),
    cache_usage = names(warmstart:::ws_value_cache_usage())
  )
  # Written times differ between the runs: compare their shape only (a
  # meta's size moves with the number of digits of its nanoseconds).
  out$list_labels$disk_bytes <- NULL
  # (One string: a data frame's column takes it whatever its rows.)
  shape <- function(x) paste(class(x), collapse = "/")
  out$lookup_cold$written <- shape(out$lookup_cold$written)
  out$lookup_hot$written <- shape(out$lookup_hot$written)
  out$list_labels$written <- shape(out$list_labels$written)
  out$list$written <- shape(out$list$written)
  out$list_labels$run_id <- NULL
  # Nor sizes of metas: their stamps' digits vary between the runs.
  out$list_labels$disk_bytes <- NULL
  out$list$run_id <- NULL
  out$lookup_cold$run_id <- out$lookup_hot$run_id <- NULL
  out
}

calm <- exercise()
started <- Sys.time()
gctorture(TRUE)
tortured <- exercise()
gctorture(FALSE)
seconds <- as.numeric(Sys.time() - started, units = "secs")
same <- vapply(names(calm), function(n) identical(calm[[n]], tortured[[n]]), TRUE)
cat(sprintf("gctorture: %d of %d results identical under gctorture (%.0f s)\n",
            sum(same), length(same), seconds))
if (!all(same)) {
  for (n in names(calm)[!same]) {
    cat("differs:", n, "\n")
    str(calm[[n]])
    str(tortured[[n]])
  }
  quit(status = 1)
}
