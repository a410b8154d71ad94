ws_open <- function(root = NULL, size_budget = 1024^3, ttl = 30 * 86400,
                    durable = TRUE, memory_cache = TRUE,
                    semantics = c("0.3.122", "access"), trust = NULL,
                    secret = NULL) {
  if (is.null(root)) root <- default_root()
  check_string(root, "root")
  check_nonneg(size_budget, "size_budget")
  check_nonneg(ttl, "ttl")
  check_flag(durable, "durable")
  check_flag(memory_cache, "memory_cache")
  if (identical(semantics, c("0.3.122", "access"))) semantics <- "0.3.122"
  if (!is.character(semantics) || length(semantics) != 1L || is.na(semantics) ||
      !semantics %in% c("0.3.122", "access")) {
    stop_arg(sprintf("`semantics` must be \"0.3.122\" or \"access\", not %s",
                     describe(semantics)), "semantics", sys.call())
  }
  trust <- trust_code(if (is.null(trust)) default_trust() else trust,
                      sys.call())
  secret <- secret_bytes(if (is.null(secret)) Sys.getenv("WARMSTART_SECRET")
                         else secret, sys.call())
  root <- path.expand(root)
  if (file.exists(root) && !dir.exists(root)) {
    stop_arg(sprintf("`root` must be a directory, but '%s' is a file", root),
             "root", sys.call())
  }
  # The lookup cache is process-wide: its bounds come from options, read
  # at every open so a change takes effect with the next handle.
  .Call(C_ws_cache_limits,
        getOption("warmstart.cache_max_entries", 128),
        getOption("warmstart.cache_max_bytes", 256 * 1024^2))
  .Call(C_ws_open, root, as.double(size_budget), as.double(ttl), durable,
        memory_cache, semantics, producer(), trust, secret)
}

# What every meta we write names as its producer (the newer Rust stores'
# field): "warmstart <version>".
producer <- function() {
  paste("warmstart", getNamespaceVersion("warmstart")[[1L]])
}

trust_levels <- c("user", "group", "any")

# Whose writing a store accepts when ws_open() is not told: option
# `warmstart.trust`, then WARMSTART_TRUST, then "user".
default_trust <- function() {
  opt <- getOption("warmstart.trust")
  if (!is.null(opt)) return(opt)
  env <- Sys.getenv("WARMSTART_TRUST")
  if (nzchar(env)) env else "user"
}

trust_code <- function(trust, call) {
  if (!is.character(trust) || length(trust) != 1L || is.na(trust) ||
      !trust %in% trust_levels) {
    stop_arg(sprintf("`trust` must be \"user\", \"group\" or \"any\", not %s",
                     describe(trust)), "trust", call)
  }
  match(trust, trust_levels) - 1L
}

# The secret as bytes (NULL: none). A string counts by its UTF-8 bytes; ""
# means none (an unset WARMSTART_SECRET). Short secrets can be guessed.
secret_bytes <- function(secret, call) {
  if (is.character(secret) && length(secret) == 1L && !is.na(secret)) {
    if (!nzchar(secret)) return(NULL)
    secret <- charToRaw(enc2utf8(secret))
  }
  if (!is.raw(secret) || length(secret) < 16L) {
    stop_arg(paste0("`secret` must be a string or raw vector of at least 16 ",
                    "bytes (e.g. from `openssl rand -hex 32`), not ",
                    if (is.raw(secret)) sprintf("%d bytes", length(secret))
                    else describe(secret)), "secret", call)
  }
  secret
}

ws_save <- function(store, key, payload, objective = NULL, iteration = NULL,
                    kind = c("checkpoint", "final"), run_id = NULL) {
  check_store(store)
  check_key(key)
  if (missing(payload)) stop_arg("`payload` is missing", "payload", sys.call())
  if (!is.null(objective) &&
      (!is.numeric(objective) || length(objective) != 1L)) {
    stop_arg(sprintf("`objective` must be NULL or a single number, not %s",
                     describe(objective)), "objective", sys.call())
  }
  if (!is.null(iteration) &&
      (!is.numeric(iteration) || length(iteration) != 1L || is.na(iteration) ||
       !is.finite(iteration) || iteration < 0 || iteration != trunc(iteration) ||
       iteration > 2^53)) {
    stop_arg(sprintf(paste0("`iteration` must be NULL or a single whole ",
                            "number >= 0, not %s"), describe(iteration)),
             "iteration", sys.call())
  }
  if (identical(kind, c("checkpoint", "final"))) kind <- "checkpoint"
  if (!is.character(kind) || length(kind) != 1L || is.na(kind) ||
      !kind %in% c("checkpoint", "final")) {
    stop_arg(sprintf("`kind` must be \"checkpoint\" or \"final\", not %s",
                     describe(kind)), "kind", sys.call())
  }
  # Checked in C, the one place that knows what a run id may be.
  if (!is.null(run_id)) .Call(C_ws_check_run_id, run_id)
  invisible(save_entry(store, key, payload, objective, iteration, kind,
                       run_id))
}

# The save itself, for arguments already checked.
save_entry <- function(store, key, payload, objective = NULL,
                       iteration = NULL, kind = "checkpoint", run_id = NULL,
                       label = NULL, refhook = NULL) {
  # A bare raw vector is stored byte for byte; anything else (including raw
  # with attributes) is serialized and comes back as the same R object. So
  # is a raw vector that begins like a serialization: a meta that has lost
  # its payload_format (rewritten by a newer Rust store) is read by the
  # payload's header, and raw bytes must never pass for an R value.
  serialized <- !(is.raw(payload) && is.null(attributes(payload)) &&
                    !.Call(C_ws_is_r_serialization, payload))
  # Native binary (xdr = FALSE): twice as fast both ways as XDR, and the
  # header it writes lets unserialize() refuse a host of the other byte
  # order rather than misread it.
  bytes <- if (serialized) serialize(payload, NULL, version = 3L, xdr = FALSE,
                                     refhook = refhook) else payload
  .Call(C_ws_save, store, key, bytes, serialized,
        if (is.null(objective)) NULL else as.double(objective),
        if (is.null(iteration)) NULL else as.double(iteration),
        if (kind == "final") 1L else 0L, run_id, label)
}

# The lookups are the hot path: the store and key are checked in C.
ws_lookup <- function(store, key) {
  .Call(C_ws_lookup, store, key, FALSE, NA)
}

ws_lookup_latest <- function(store, key) {
  .Call(C_ws_lookup, store, key, TRUE, NA)
}

ws_evict <- function(store, verify = FALSE) {
  check_store(store)
  check_flag(verify, "verify")
  invisible(.Call(C_ws_evict, store, verify))
}

print.ws_store <- function(x, ...) {
  info <- tryCatch(ws_info(x), error = function(e) NULL)
  if (is.null(info)) {
    cat("<ws_store> (closed: restored from a saved session; reopen it with",
        "ws_open())\n")
    return(invisible(x))
  }
  cat(format_store(info), sep = "\n")
  invisible(x)
}

format.ws_entry <- function(x, ...) {
  payload <- if (is.raw(x$payload)) sprintf("raw[%d]", length(x$payload)) else
    paste(class(x$payload), collapse = "/")
  c(sprintf("<ws_entry> %s, written %s", x$kind,
            format(x$written, "%Y-%m-%d %H:%M:%OS3 %Z")),
    sprintf("  objective: %s   iteration: %s",
            format(x$objective, digits = 10), format(x$iteration)),
    sprintf("  payload:   %s (%s on disk)", payload, format_bytes(x$bytes)),
    sprintf("  run id:    %s", x$run_id),
    sprintf("  key:       %s", x$key),
    if (!is.null(x$producer) && !is.na(x$producer))
      sprintf("  producer:  %s", x$producer))
}

print.ws_entry <- function(x, ...) {
  cat(format(x, ...), sep = "\n")
  invisible(x)
}

format_bytes <- function(n) {
  if (!is.finite(n)) return("unlimited")
  units <- c("B", "KiB", "MiB", "GiB", "TiB")
  i <- max(1L, min(length(units), floor(log(max(n, 1), 1024)) + 1L))
  if (i == 1L) sprintf("%d B", as.integer(n)) else
    sprintf("%.1f %s", n / 1024^(i - 1L), units[i])
}

format_seconds <- function(s) {
  if (s >= 86400) sprintf("%g days", round(s / 86400, 2)) else
    if (s >= 3600) sprintf("%g hours", round(s / 3600, 2)) else
      sprintf("%g seconds", s)
}

# Where ws_open() keeps a store when no root is given: the root chosen
# explicitly (the option, then the environment variable), else the user's
# cache directory. R CMD check (and so examples and tests) must not write
# into the user's home unasked, so there the user's cache directory gives
# way to a directory under tempdir(). A chosen root still wins: a CI job
# that sets WARMSTART_DIR keeps its fits from one run to the next.
default_root <- function() {
  root <- chosen_root()
  if (!is.null(root)) return(root)
  if (checking()) return(file.path(tempdir(), "warmstart"))
  tools::R_user_dir("warmstart", "cache")
}

# The root the user chose: option `warmstart.dir`, then WARMSTART_DIR;
# NULL when neither is set.
chosen_root <- function() {
  opt <- getOption("warmstart.dir")
  if (!is.null(opt)) {
    if (!is.character(opt) || length(opt) != 1L || is.na(opt) || !nzchar(opt)) {
      stop_arg("option `warmstart.dir` must be a single non-empty string",
               "warmstart.dir", NULL)
    }
    return(opt)
  }
  env <- Sys.getenv("WARMSTART_DIR")
  if (nzchar(env)) env else NULL
}

checking <- function() {
  nzchar(Sys.getenv("_R_CHECK_PACKAGE_NAME_")) ||
    identical(Sys.getenv("TESTTHAT"), "true")
}
