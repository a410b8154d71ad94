# ws_cachem(): the cachem interface over a store, for memoise::memoise()
# and shiny::bindCache(). Each string key maps to the entry key
# ws_key(what = "ws_cachem", key = key); the string itself is kept in the
# entry's meta ("label"), so keys() returns what was set.

ws_cachem <- function(store = ws_open(), missing = key_missing()) {
  check_store(store)
  missing_ <- missing
  label_prefix <- "cachem:"
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
  labelled <- function() {
    cols <- .Call(C_ws_list, store, NULL, TRUE)
    mine <- !is.na(cols$label) & startsWith(cols$label, label_prefix)
    list(key = cols$key[mine],
         name = substring(cols$label[mine], nchar(label_prefix) + 1L))
  }
  cache_keys <- function() unique(labelled()$name)
  cache <- list(
    get = function(key, missing = missing_) {
      e <- ws_lookup_latest(store, entry_key(key))
      if (is.null(e)) missing else e$payload
    },
    set = function(key, value) {
      k <- entry_key(key)
      run <- save_entry(store, k, value, kind = "final",
                        label = paste0(label_prefix, key))
      # One value per key: drop what this key held before (only older
      # writes, so that of two processes setting it at once the later wins).
      .Call(C_ws_remove, store, k, run)
      invisible(TRUE)
    },
    exists = function(key) {
      length(.Call(C_ws_list, store, entry_key(key), FALSE)$key) > 0L
    },
    remove = function(key) {
      .Call(C_ws_remove, store, entry_key(key), NULL)
      invisible(TRUE)
    },
    reset = function() {
      for (k in unique(labelled()$key)) .Call(C_ws_remove, store, k, NULL)
      invisible(TRUE)
    },
    keys = cache_keys,
    size = function() length(cache_keys()),
    prune = function() {
      ws_evict(store)
      invisible(TRUE)
    },
    info = function() {
      list(store = ws_info(store), missing = missing_)
    }
  )
  structure(cache, class = c("ws_cachem", "cachem"))
}

key_missing <- function() structure(list(), class = "key_missing")

print.ws_cachem <- function(x, ...) {
  info <- x$info()$store
  cat(sprintf("<ws_cachem> %d keys, on:\n", x$size()))
  cat(format_store(info), sep = "\n")
  invisible(x)
}
