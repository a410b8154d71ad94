# The package's own help page (?warmstart), and the package-wide NAMESPACE
# directives: the compiled core, called by its registered symbols (C_ws_*).

#' warmstart: a crash-safe, multi-process warm-start store
#'
#' @description
#' Repeated model fits (cross-validation, bootstrap, refits on updated data,
#' continuous integration) can start from the best earlier solution instead of
#' from scratch. warmstart keeps those solutions on disk, safe when many
#' processes read and write at once and never wrong after a crash.
#'
#' @details
#' **Entries.** A store ([ws_open()]) holds entries under keys
#' ([ws_key()]). Each entry is a payload (raw bytes or any R value)
#' with an objective, an iteration count and a kind: a `"checkpoint"`
#' written while a fit runs, or the `"final"` result
#' ([ws_save()]).
#'
#' **Best and latest.** [ws_lookup()] returns the entry with
#' the lowest objective (a final entry wins a tie): resume the same fit.
#' [ws_lookup_latest()] returns the newest entry: seed a related fit
#' whose objective is not comparable.
#'
#' **Budget and TTL.** Entries expire `ttl` seconds after they were
#' written, and the store is kept within `size_budget` bytes by removing
#' the oldest writes first. Both are enforced by a sweep that saves run
#' themselves ([ws_evict()] runs it on demand); expiry is also
#' checked at every lookup.
#'
#' **Safety.** Writes are atomic (temporary file, sync, rename; payload
#' before metadata), checksums (SHA-256) are verified before any payload is
#' returned or unserialized, corrupt and half-written entries are cleaned up
#' rather than returned, and the temporary files of live writers in other
#' processes are never removed.
#'
#' **mgcv.** [ws_gam()] memoizes and warm-starts GAM fits:
#' the same fit again comes from the store, and a related fit (a bootstrap
#' resample, a cross-validation fold) starts from the latest related fit's
#' smoothing parameters.
#'
#' **Looking inside.** [ws_list()], [ws_info()]
#' and `summary()` show what a store holds; [ws_remove()]
#' removes a key's entries; [ws_cachem()] puts a cachem interface
#' on a store (for \pkg{memoise} and \pkg{shiny}).
#'
#' **Where.** `ws_open()` without a root uses
#' `getOption("warmstart.dir")`, the environment variable
#' \env{WARMSTART_DIR}, or `tools::R_user_dir("warmstart", "cache")`;
#' during \command{R CMD check} the last gives way to a directory under
#' `tempdir()`.
#'
#' **CI.** A CI job that caches the directory named by
#' \env{WARMSTART_DIR} keeps its fits from one run to the next; in tests,
#' [local_ws_store()] opens that store, or a throwaway one when none
#' was chosen. `vignette("ci", package = "warmstart")` has GitHub
#' Actions and GitLab CI set-ups.
#'
#' **Format.** Each key is a directory of `<runid>.bin` (payload)
#' and `<runid>.json` (metadata) pairs: the schema (version 1) of the
#' warm-start store of the Rust `gam` crate, so either can read what the
#' other wrote. Entries written here carry extra fields the Rust reader ignores
#' (`payload_format`, `meta_sha256`, and `label` for
#' `ws_cachem()` keys); the root also holds \file{.warmstart/sweep}, a
#' small marker by which a sweep tells other processes when it ran.
#'
#' @seealso The store: [ws_open()], [ws_save()], [ws_lookup()],
#' [ws_key()], [ws_list()], [ws_evict()]. Caching fits and values:
#' [ws_gam()], [ws_compute()], [ws_cachem()], [local_ws_store()]. The
#' articles: `browseVignettes("warmstart")`.
#'
#' @examples
#' store <- ws_open(file.path(tempdir(), "warmstart-example"))
#' key <- ws_key("package example")
#' ws_save(store, key, list(theta = c(0.1, 0.2)), objective = 3.2,
#'         kind = "final")
#' ws_lookup(store, key)
#'
#' @useDynLib warmstart, .registration = TRUE, .fixes = ""
"_PACKAGE"
