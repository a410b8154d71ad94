# Looking into a store: its entries, totals, and removing a key.

#' What a store holds
#'
#' @description
#' `ws_list()` lists the store's entries, `ws_info()` sums them up,
#' and `summary()` of a store adds the kinds of entries, when they were
#' written and the process-wide value cache.
#'
#' @param store,object A store from [ws_open()].
#' @param ... Ignored.
#'
#' @details
#' Listing reads every key directory and metadata file (not the payloads). It
#' cleans up in passing what a lookup would: expired, corrupt and
#' half-written entries are removed and not listed.
#'
#' @return `ws_list()`: a data frame with one row per entry, oldest write first,
#' and columns `key`, `run_id`, `kind` (`"checkpoint"` or
#' `"final"`, as the store's semantics read it), `objective` and
#' `iteration` (`NA` when absent), `written` (POSIXct),
#' `bytes` (of the payload), `producer` (who wrote it, `NA` when
#' unsaid) and `accessed` (the last recorded access, POSIXct,
#' `NA` when none).
#'
#' `ws_info()`: a list of class `ws_info` with `root`,
#' `entries`, `keys`, `bytes` (on disk, payloads and metadata:
#' what the size budget counts), `size_budget`, `ttl`,
#' `durable`, `memory_cache` and `semantics`.
#'
#' @seealso [ws_remove()], [ws_evict()]
#' @family store functions
#'
#' @examples
#' store <- ws_open(file.path(tempdir(), "ws-list-example"))
#' ws_save(store, ws_key("fold", 1), list(theta = 1:3), objective = 2.5,
#'         kind = "final")
#' ws_save(store, ws_key("fold", 2), list(theta = 4:6), objective = 1.5)
#' ws_list(store)
#' ws_info(store)
#' summary(store)
#' @export
ws_list <- function(store) {
  check_store(store)
  cols <- .Call(C_ws_list, store, NULL, FALSE)
  entries_frame(cols)
}

entries_frame <- function(cols) {
  df <- data.frame(key = cols$key, run_id = cols$run_id, kind = cols$kind,
                   objective = cols$objective, iteration = cols$iteration,
                   written = cols$written, bytes = cols$bytes,
                   producer = cols$producer, accessed = cols$accessed,
                   stringsAsFactors = FALSE)
  df <- df[order(df$written, df$key, df$run_id), , drop = FALSE]
  rownames(df) <- NULL
  df
}

#' @rdname ws_list
#' @export
ws_info <- function(store) {
  check_store(store)
  cols <- .Call(C_ws_list, store, NULL, FALSE)
  opts <- .Call(C_ws_store_info, store)
  structure(list(
    root = opts$root,
    entries = length(cols$key),
    keys = length(unique(cols$key)),
    bytes = sum(cols$disk_bytes),
    size_budget = opts$size_budget,
    ttl = opts$ttl,
    durable = opts$durable,
    memory_cache = opts$memory_cache,
    semantics = opts$semantics,
    trust = opts$trust,
    secret = opts$secret
  ), class = "ws_info")
}

#' @rdname ws_list
#' @usage NULL
#' @export
print.ws_info <- function(x, ...) {
  cat(format_store(x), sep = "\n")
  invisible(x)
}

#' Remove one key's entries
#'
#' @description
#' Removes every entry saved under `key`, then its directory when that is
#' empty. Temporary files of saves still in progress in other processes are
#' left alone (such a save still lands).
#'
#' @param store A store from [ws_open()].
#' @param key A key, as made by [ws_key()].
#'
#' @return Invisibly, the number of entries removed.
#'
#' @seealso [ws_list()], [ws_evict()]
#' @family store functions
#'
#' @examples
#' store <- ws_open(file.path(tempdir(), "ws-remove-example"))
#' key <- ws_key("obsolete model")
#' ws_save(store, key, 1:10)
#' ws_remove(store, key)
#' ws_lookup(store, key)   # NULL
#' @export
ws_remove <- function(store, key) {
  check_store(store)
  .Call(C_ws_check_key, key)
  invisible(.Call(C_ws_remove, store, key, NULL))
}

#' @rdname ws_list
#' @export
summary.ws_store <- function(object, ...) {
  check_store(object, sys.call())
  cols <- .Call(C_ws_list, object, NULL, FALSE)
  info <- ws_info(object)
  structure(list(
    info = info,
    kinds = table(factor(cols$kind, levels = c("checkpoint", "final"))),
    oldest = if (length(cols$written)) min(cols$written) else NULL,
    newest = if (length(cols$written)) max(cols$written) else NULL,
    largest = if (length(cols$bytes)) max(cols$bytes) else NULL,
    cache = ws_value_cache_usage()
  ), class = "summary.ws_store")
}

#' @rdname ws_list
#' @usage NULL
#' @export
print.summary.ws_store <- function(x, ...) {
  cat(format_store(x$info), sep = "\n")
  if (x$info$entries > 0) {
    cat(sprintf("  kinds:        %d checkpoint, %d final\n",
                x$kinds[["checkpoint"]], x$kinds[["final"]]))
    cat(sprintf("  written:      %s to %s\n",
                format(x$oldest, "%Y-%m-%d %H:%M:%S"),
                format(x$newest, "%Y-%m-%d %H:%M:%S")))
    cat(sprintf("  largest:      %s\n", format_bytes(x$largest)))
  }
  cat(sprintf("  memory cache: %d entries, %s (process-wide)\n",
              as.integer(x$cache$entries), format_bytes(x$cache$bytes)))
  invisible(x)
}

format_store <- function(info) {
  used <- if (is.finite(info$size_budget) && info$size_budget > 0)
    sprintf(" (%.1f%% of %s)", 100 * info$bytes / info$size_budget,
            format_bytes(info$size_budget)) else
    sprintf(" (budget %s)", format_bytes(info$size_budget))
  c(sprintf("<ws_store> %s", info$root),
    sprintf("  contents:     %d %s under %d %s, %s%s", info$entries,
            if (info$entries == 1) "entry" else "entries", info$keys,
            if (info$keys == 1) "key" else "keys", format_bytes(info$bytes),
            used),
    sprintf("  ttl:          %s", if (info$ttl == 0) "never expires" else
      format_seconds(info$ttl)),
    sprintf("  durable:      %s   memory cache: %s", info$durable,
            info$memory_cache),
    sprintf("  semantics:    %s", info$semantics),
    if (!is.null(info$trust))
      sprintf("  trusts:       %s%s", switch(info$trust, user = "its user",
                                              group = "its group",
                                              any = "anyone"),
              if (isTRUE(info$secret)) "; signs and checks entries" else ""))
}
