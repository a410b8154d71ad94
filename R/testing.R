# Internal hooks for the tests; not exported.

# Move this handle's clock forward (the Rust store's test_advance_time), so
# TTL tests never sleep.
ws_advance_time <- function(store, seconds) {
  check_store(store)
  invisible(.Call(C_ws_advance_time, store, seconds))
}

fault_points <- c("after_mkdir", "mid_bin_write", "before_bin_rename",
                  "before_meta_rename", "after_meta_rename", "before_verify")
fault_actions <- c("remove_dir", "enospc", "exit", "stop")

# Make the next `times` saves on this handle fail (or die, or lose their key
# dir) at an exact point of the write sequence.
ws_inject_fault <- function(store, point, action, times = 1L) {
  check_store(store)
  p <- match(point, fault_points)
  a <- match(action, fault_actions)
  if (is.na(p) || is.na(a)) stop("unknown fault point or action")
  invisible(.Call(C_ws_inject_fault, store, p, a, as.integer(times)))
}

ws_value_cache_usage <- function() .Call(C_ws_value_cache_usage)
ws_value_cache_clear <- function() invisible(.Call(C_ws_value_cache_clear))
ws_same_object <- function(x, y) .Call(C_ws_same_object, x, y)
ws_close <- function(store) invisible(.Call(C_ws_close, store))

# What this process knows of a root's sweep schedule (saves, sweeps run,
# the byte estimate...), for tests and benchmarks.
ws_sweep_state <- function(store) {
  st <- .Call(C_ws_sweep_state, store)
  st$adopted_marker <- st$adopted_marker == 1
  st
}

# This process's host token, as its temp file names carry it: processes with
# the same token judge each other's liveness by pid (src/names.c).
ws_host_token <- function() .Call(C_ws_host_token)

# SHA-256 of a raw vector (or a string's bytes) in lowercase hex.
ws_sha256 <- function(x) {
  if (is.character(x)) x <- charToRaw(enc2utf8(x))
  .Call(C_ws_sha256, x)
}

# Whether a payload without a stated format would be read as an R value
# (src/payload.c).
ws_is_r_serialization <- function(bytes) .Call(C_ws_is_r_serialization, bytes)

# The promise guard (src/glue.c): whether verified R serializations are
# checked for promises before unserialize(); on in every R, switched off
# here by tests only. Returns the previous setting.
ws_promise_guard <- function(on = NA) .Call(C_ws_promise_guard, on)

# What rstream.c makes of bytes: "ok", "promise", "malformed", "unsupported".
ws_rstream_check <- function(bytes) .Call(C_ws_rstream_check, bytes)
