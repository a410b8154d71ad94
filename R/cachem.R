# ws_cachem(): the cachem interface over a store, for memoise::memoise()
# and shiny::bindCache(), with cache_disk()'s semantics: LRU or FIFO
# eviction by max_size, max_n and max_age when pruned, pruning throttled
# by prune_rate, a `missing` value evaluated at each miss. Each string key
# maps to the entry key ws_key(what = "ws_cachem", key = key); the string
# itself is kept in the entry's meta ("label"), so keys() returns what was
# set.

#' A cachem-compatible cache backed by a store
#'
#' @description
#' Returns an object with the interface of the \pkg{cachem} caches
#' (`get`, `set`, `exists`, `remove`, `reset`,
#' `keys`, `size`, `prune`, `destroy`,
#' `is_destroyed`, `info`) and the semantics of
#' `cachem::cache_disk()`, so that a warmstart store can back
#' `memoise::memoise()` or `shiny::bindCache()`, with the store's
#' atomic writes, checksums and size budget, shared by many processes.
#'
#' @param store A store from [ws_open()]. The default is the
#' default root, opened with no TTL (as cachem's caches, entries never expire
#' by age unless `max_age` says so) and `semantics = "access"`. The
#' store's own `size_budget` and `ttl` still apply to everything in
#' it, this cache's entries included.
#' @param max_size Bytes the cache's values may take, as counted by
#' `prune()`: the sum of the entries' payloads (the serialized values;
#' `cache_disk()` counts its compressed \file{.rds} files), not their
#' metadata. `Inf`: no limit.
#' @param max_age Seconds an entry is kept after it was set (with
#' `evict = "lru"`, after it was last got or set). `Inf`: no
#' limit.
#' @param max_n Entries the cache may hold. `Inf`: no limit.
#' @param evict Which entries `prune()` removes first when over
#' `max_n` or `max_size`: `"lru"` the least recently used (got
#' or set), `"fifo"` the oldest set.
#' @param missing What `get()` returns for a key it does not hold: an
#' expression evaluated at each miss, in the caller's environment (so
#' `missing = stop("...")` raises an error at a miss), or, as in
#' \pkg{cachem}, `!!q` for a quosure `q`. By default a
#' `key_missing` object.
#' @param prune_rate `set()` prunes the cache at every
#' `prune_rate`-th call, or when the last prune is more than 5 seconds
#' old.
#' @param warn_ref_objects If `TRUE`, `set()` warns when the value
#' holds a reference object (an environment, external pointer or weak
#' reference), which the cache stores as a copy.
#' @param destroy_on_finalize If `TRUE`, the cache is destroyed when it
#' is garbage collected.
#' @param logfile A file to append one line per operation to, or
#' `NULL`.
#'
#' @details
#' Keys are single strings (cachem restricts them to lowercase letters,
#' digits, `_` and `-`; any string up to 1024 bytes works here).
#' Each maps to the entry key `ws_key(what = "ws_cachem", key = key)`,
#' and the string itself is kept in the entry's metadata, so `keys()`
#' returns the strings that were set. `set()` replaces the key's value:
#' it saves a new entry, then removes the key's older ones (of two processes
#' setting one key at once, the later write wins). Values are stored as
#' [ws_save()] stores payloads: raw vectors byte for byte, anything
#' else serialized.
#'
#' With `evict = "lru"`, `get()` records the access in the entry's
#' metadata (on any store, whatever its semantics), so the order is shared by
#' every process using the store; `prune()` removes entries older than
#' `max_age`, then, newest first, those past `max_n` entries or
#' past `max_size` bytes, as `cache_disk()` does. A `get()` of
#' an entry older than `max_age` removes it and misses.
#'
#' `destroy()` removes the cache's entries, and the store's root too when
#' nothing else is in it (empty key directories and the sweep's marker
#' aside); other entries of the store stay. Afterwards every method but
#' `is_destroyed()` and `info()` raises an error of class
#' `ws_cache_destroyed`. `info()$dir` is the store's root.
#'
#' Run against `ws_cachem()`, cachem's own \file{test-cache-disk.R}
#' passes except its test of `cache_disk()`'s file format
#' (`read_fn`, `write_fn`, `extension`), which have no
#' counterpart here, and memoise's test suite passes (the package's
#' \file{tests/testthat/test-suites.R}).
#'
#' @return An object of class `c("ws_cachem", "cachem")`: a list of
#' functions.
#'
#' @seealso [ws_open()]
#' @family caching functions
#'
#' @examples
#' cache <- ws_cachem(ws_open(file.path(tempdir(), "ws-cachem-example"), ttl = 0),
#'                    max_n = 100)
#' cache$set("answer", 42)
#' cache$get("answer")
#' cache$exists("question")
#' cache$keys()
#' if (requireNamespace("memoise", quietly = TRUE)) {
#'   slow_square <- function(x) { Sys.sleep(0.1); x^2 }
#'   fast_square <- memoise::memoise(slow_square, cache = cache)
#'   fast_square(4)   # computed
#'   fast_square(4)   # from the store
#' }
#' @export
ws_cachem <- function(store = ws_open(ttl = 0, semantics = "access"),
                      max_size = 1024 * 1024^2, max_age = Inf, max_n = Inf,
                      evict = c("lru", "fifo"), missing = key_missing(),
                      prune_rate = 20, warn_ref_objects = FALSE,
                      destroy_on_finalize = FALSE, logfile = NULL) {
  # cachem's idiom: `missing` is an expression evaluated at each miss (so
  # missing = stop("...") raises there, not here).
  missing_ <- if (base::missing(missing)) {
    list(expr = quote(key_missing()), env = environment(ws_cachem))
  } else {
    lazy_value(substitute(missing), parent.frame())
  }
  check_store(store)
  check_nonneg(max_size, "max_size")
  check_nonneg(max_age, "max_age")
  check_nonneg(max_n, "max_n")
  if (identical(evict, c("lru", "fifo"))) evict <- "lru"
  if (!is.character(evict) || length(evict) != 1L || is.na(evict) ||
      !evict %in% c("lru", "fifo")) {
    stop_arg(sprintf("`evict` must be \"lru\" or \"fifo\", not %s",
                     describe(evict)), "evict", sys.call())
  }
  if (!is.numeric(prune_rate) || length(prune_rate) != 1L ||
      is.na(prune_rate) || prune_rate < 1) {
    stop_arg(sprintf("`prune_rate` must be a single number >= 1, not %s",
                     describe(prune_rate)), "prune_rate", sys.call())
  }
  check_flag(warn_ref_objects, "warn_ref_objects")
  check_flag(destroy_on_finalize, "destroy_on_finalize")
  if (!is.null(logfile)) check_string(logfile, "logfile")

  root_ <- ws_info(store)$root
  label_prefix <- "cachem:"
  lru <- evict == "lru"
  destroyed_ <- FALSE
  # As cache_disk(): prune at every prune_rate-th set(), or at a set() more
  # than 5 seconds after the last prune. The counter starts at a random
  # value, so that caches made together do not prune together.
  PRUNE_THROTTLE_TIME_LIMIT <- 5
  prune_throttle_counter_ <- sample.int(prune_rate, 1L) - 1L
  prune_last_time_ <- as.numeric(Sys.time())

  # What cache_disk(logfile =) logs: one line per operation.
  log_ <- function(text) {
    if (is.null(logfile)) return(invisible())
    cat(format(Sys.time(), "[%Y-%m-%d %H:%M:%OS3] ws_cachem "), text, "\n",
        sep = "", file = logfile, append = TRUE)
  }
  # The store handle; after a saved session or at finalization (when R may
  # have finalized the handle first) one opened afresh on the same root.
  live_store <- function() {
    open <- tryCatch({
      .Call(C_ws_store_info, store)
      TRUE
    }, ws_bad_argument = function(e) FALSE)
    if (!open) store <<- ws_open(root_, ttl = 0, semantics = "access")
    store
  }
  entry_key <- function(key) {
    if (!is.character(key) || length(key) != 1L || is.na(key)) {
      stop_arg(sprintf("`key` must be a single non-NA string, not %s",
                       describe(key)), "key", NULL)
    }
    # The key is kept in the entry's label, at most 1024 bytes.
    if (nchar(enc2utf8(key), type = "bytes") > 1024L - nchar(label_prefix)) {
      stop_arg(sprintf("`key` must be at most %d bytes in UTF-8",
                       1024L - nchar(label_prefix)), "key", NULL)
    }
    ws_key(what = "ws_cachem", key = key)
  }
  # This cache's entries: key, run_id, the string key (name), payload
  # bytes, and the time eviction goes by (the last set(), or under LRU the
  # later of that and the last get()).
  entries <- function() {
    cols <- .Call(C_ws_list, live_store(), NULL, TRUE)
    # Under a secret, only the entries get() may return (authenticated).
    mine <- !is.na(cols$label) & startsWith(cols$label, label_prefix) &
      cols$serves_value
    written <- as.numeric(cols$written[mine])
    accessed <- as.numeric(cols$accessed[mine])
    list(key = cols$key[mine], run_id = cols$run_id[mine],
         name = substring(cols$label[mine], nchar(label_prefix) + 1L),
         bytes = cols$bytes[mine],
         time = if (lru) pmax(written, accessed, na.rm = TRUE) else written)
  }
  drop <- function(e, which) {
    for (i in which(which)) {
      .Call(C_ws_remove_entry, live_store(), e$key[i], e$run_id[i])
    }
  }
  is_destroyed <- function(throw = FALSE) {
    if (!dir.exists(root_)) destroyed_ <<- TRUE
    if (throw && destroyed_) {
      stop(ws_condition("ws_cache_destroyed",
                        sprintf("this ws_cachem() cache was destroyed (%s)",
                                root_), sys.call(-1)))
    }
    destroyed_
  }
  keys <- function() {
    is_destroyed(throw = TRUE)
    unique(entries()$name)
  }

  get <- function(key, missing) {
    log_(sprintf("get: key \"%s\"", key))
    is_destroyed(throw = TRUE)
    k <- entry_key(key)
    # Under LRU the lookup records the access in the entry's meta; it
    # returns the entry as it was before (its last access until now).
    e <- .Call(C_ws_lookup, live_store(), k, TRUE, lru, TRUE)
    if (!is.null(e) && is.finite(max_age)) {
      since <- as.numeric(e$written)
      if (lru && !is.na(e$accessed)) since <- max(since, as.numeric(e$accessed))
      if (as.numeric(Sys.time()) - since > max_age) {
        .Call(C_ws_remove_entry, live_store(), k, e$run_id)
        e <- NULL
      }
    }
    if (!is.null(e)) return(e$payload)
    if (base::missing(missing)) eval(missing_$expr, missing_$env) else missing
  }
  set <- function(key, value) {
    log_(sprintf("set: key \"%s\"", key))
    is_destroyed(throw = TRUE)
    k <- entry_key(key)
    ref_object <- FALSE
    hook <- if (warn_ref_objects) function(x) {
      ref_object <<- TRUE
      NULL
    }
    st <- live_store()
    run <- save_entry(st, k, value, kind = "final",
                      label = paste0(label_prefix, key), refhook = hook)
    # One value per key: drop what this key held before (only older
    # writes, so that of two processes setting it at once the later wins).
    .Call(C_ws_remove, st, k, run)
    if (ref_object) {
      warning("A reference object was cached in a serialized format. ",
              "The restored object may not work as expected.", call. = FALSE)
    }
    prune_throttled()
    invisible(TRUE)
  }
  exists <- function(key) {
    is_destroyed(throw = TRUE)
    # As get() sees it: under a secret, an unsigned entry is not there.
    any(.Call(C_ws_list, live_store(), entry_key(key), TRUE)$serves_value)
  }
  remove <- function(key) {
    is_destroyed(throw = TRUE)
    .Call(C_ws_remove, live_store(), entry_key(key), NULL)
    invisible(TRUE)
  }
  reset <- function() {
    is_destroyed(throw = TRUE)
    for (k in unique(entries()$key)) .Call(C_ws_remove, live_store(), k, NULL)
    invisible(TRUE)
  }
  # cache_disk()'s prune: entries older than max_age go; then, newest
  # first, what is past max_n entries or past max_size bytes. Bytes are the
  # entries' payloads (the serialized values; cache_disk() counts its
  # compressed .rds files), not their metas.
  prune <- function() {
    log_("prune")
    is_destroyed(throw = TRUE)
    now <- as.numeric(Sys.time())
    e <- entries()
    if (is.finite(max_age)) {
      old <- now - e$time > max_age
      drop(e, old)
      e <- lapply(e, `[`, !old)
    }
    e <- lapply(e, `[`, order(e$time, decreasing = TRUE))
    if (is.finite(max_n) && length(e$key) > max_n) {
      over <- seq_along(e$key) > max_n
      drop(e, over)
      e <- lapply(e, `[`, !over)
    }
    if (is.finite(max_size) && sum(e$bytes) > max_size) {
      drop(e, cumsum(e$bytes) > max_size)
    }
    prune_last_time_ <<- now
    invisible(TRUE)
  }
  prune_throttled <- function() {
    prune_throttle_counter_ <<- prune_throttle_counter_ + 1L
    if (prune_throttle_counter_ >= prune_rate ||
        as.numeric(Sys.time()) - prune_last_time_ > PRUNE_THROTTLE_TIME_LIMIT) {
      prune()
      prune_throttle_counter_ <<- 0L
    }
  }
  size <- function() length(keys())
  info <- function() {
    list(dir = root_, max_size = max_size, max_age = max_age, max_n = max_n,
         evict = evict, destroy_on_finalize = destroy_on_finalize,
         logfile = logfile,
         missing = missing_$expr, prune_rate = prune_rate,
         prune_throttle_counter = prune_throttle_counter_,
         prune_last_time = as.POSIXct(prune_last_time_, origin = "1970-01-01"),
         store = if (!is_destroyed()) ws_info(live_store()))
  }
  # This cache's entries go; the root too when nothing else is in it (as
  # cache_disk() removes its directory), else other entries stay.
  destroy <- function() {
    if (is_destroyed()) return(invisible(FALSE))
    reset()
    remove_root_if_unused(root_)
    destroyed_ <<- TRUE
    invisible(TRUE)
  }
  if (destroy_on_finalize) {
    reg.finalizer(environment(), function(e) e$destroy())
  }
  structure(list(get = get, set = set, exists = exists, keys = keys,
                 remove = remove, reset = reset, prune = prune, size = size,
                 destroy = destroy, is_destroyed = is_destroyed, info = info),
            class = c("ws_cachem", "cachem"))
}

# `missing` as given: an expression, or (rlang's `!!x`, as cachem accepts)
# the value of x: a quosure's expression in its environment, another
# expression in the caller's, or a constant. Base R only: warmstart does
# not import rlang.
lazy_value <- function(expr, env) {
  bang <- function(x) is.call(x) && identical(x[[1L]], as.name("!"))
  if (bang(expr) && bang(expr[[2L]])) {
    value <- eval(expr[[2L]][[2L]], env)
    if (inherits(value, "quosure")) {
      return(list(expr = unclass(value)[[2L]],
                  env = attr(value, ".Environment")))
    }
    return(list(expr = value, env = env))
  }
  list(expr = expr, env = env)
}

# Removes root when all it holds is what the store itself left there: empty
# key dirs and the sweep's marker. Only empty directories and the marker
# are removed (never recursively), and nothing through a link.
remove_root_if_unused <- function(root) {
  names <- list.files(root, all.files = TRUE, no.. = TRUE)
  paths <- file.path(root, names)
  is_link <- nzchar(Sys.readlink(paths))
  is_dir <- dir.exists(paths) & !is_link
  key_dirs <- is_dir & .Call(C_ws_is_key, names)
  marker <- names == ".warmstart" & is_dir
  if (!all(key_dirs | marker)) return(invisible(FALSE))
  for (p in paths[key_dirs]) {
    if (length(list.files(p, all.files = TRUE, no.. = TRUE)) > 0L) {
      return(invisible(FALSE))
    }
  }
  marker_dir <- file.path(root, ".warmstart")
  # A writer that got in meanwhile makes a removal fail: then it all stays.
  quietly <- function(p) suppressWarnings(file.remove(p))
  if (any(marker)) {
    inside <- list.files(marker_dir, all.files = TRUE, no.. = TRUE)
    if (!all(grepl("^sweep(\\.tmp\\..*)?$", inside))) return(invisible(FALSE))
    quietly(file.path(marker_dir, inside))
    quietly(marker_dir)
  }
  quietly(paths[key_dirs])
  invisible(quietly(root))
}

key_missing <- function() structure(list(), class = "key_missing")

#' @rdname ws_cachem
#' @usage NULL
#' @export
print.ws_cachem <- function(x, ...) {
  if (x$is_destroyed()) {
    cat("<ws_cachem> (destroyed)\n")
    return(invisible(x))
  }
  info <- x$info()$store
  cat(sprintf("<ws_cachem> %d keys, on:\n", x$size()))
  cat(format_store(info), sep = "\n")
  invisible(x)
}
