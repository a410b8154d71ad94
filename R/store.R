#' Open (or create) a warm-start store
#'
#' @description
#' Opens the store rooted at `root`, creating the directory and its
#' parents if needed. Every handle on the same root in one process shares its
#' bookkeeping (key dir listings, byte counter, sweep schedule), and many
#' processes may use one root at once.
#'
#' A store holds R values, and reading an R value can run code (see
#' *Who may write to a store* below): by default a store is private to
#' its user, and `ws_open()` refuses one that others can write.
#'
#' @param root Directory of the store: a single string. Created with its
#' parents; must not be an existing file. `NULL` (the default) picks the
#' location by the rules in Details.
#' @param size_budget Bytes the store may use on disk (payloads plus metadata),
#' a number `>= 0`; `Inf` means unlimited. When exceeded, entries are
#' removed oldest write first (under `semantics = "access"`, entries no
#' lookup has read first).
#' @param ttl Seconds an entry lives after it was written (under
#' `semantics = "access"`, after it was written or last read, whichever
#' is later), a number `>= 0`; `0` (or `Inf`) means entries
#' never expire.
#' @param durable If `TRUE`, every save syncs its files and directories
#' to disk before returning, so a saved entry survives a power loss. With
#' `FALSE` writes are still atomic (a crash never leaves a half-written
#' entry visible) but a power loss can lose recent saves.
#' @param memory_cache If `TRUE`, lookups through this handle use the
#' process-wide value cache (in memory): a repeated lookup of an unchanged
#' entry returns the cached R value without reading the disk. The cache
#' holds at most `getOption("warmstart.cache_max_entries", 128)` entries and
#' `getOption("warmstart.cache_max_bytes", 256 * 1024^2)` bytes of
#' payload (the bounds are read by every `ws_open()`); the least
#' recently used entry goes first.
#' @param semantics Which of the gam crate's stores this handle behaves
#' like: `"0.3.122"` (the default) or `"access"`, its later stores;
#' see \dQuote{The gam crate's stores}. Each handle on a root may choose its
#' own: the files are the same.
#' @param trust Who besides you may write to the store: `"user"` (no
#' one but you and root), `"group"` (the members of the root's group) or
#' `"any"` (anyone; no check). `NULL` (the default) takes
#' `getOption("warmstart.trust")`, then the environment variable
#' \env{WARMSTART_TRUST}, then `"user"`. See \emph{Who may write to a
#' store}.
#' @param secret A shared secret that authenticates entries: a string (its
#' UTF-8 bytes) or a raw vector, at least 16 bytes (\command{openssl rand -hex
#' 32} makes a good one). Saves through this handle are signed with it, and
#' lookups return R values only from entries signed with it. `NULL` (the
#' default) takes the environment variable \env{WARMSTART_SECRET}; an empty
#' string means none. It is kept in this process's memory only, never in the
#' store.
#' @param x A `ws_store`.
#' @param ... Ignored.
#'
#' @details
#' Where the store lives, by priority:
#'
#' 1. the `root` argument;
#' 2. `getOption("warmstart.dir")`;
#' 3. the environment variable \env{WARMSTART_DIR};
#' 4. `tools::R_user_dir("warmstart", "cache")`, except during
#'   \command{R CMD check} and testthat runs (when \env{_R_CHECK_PACKAGE_NAME_}
#'   is set or \env{TESTTHAT} is `"true"`), where a directory under
#'   `tempdir()` takes its place.
#'
#' The first three are choices someone made, and always win: a CI job that
#' sets \env{WARMSTART_DIR} (and caches that directory) keeps its fits from
#' one run of \command{R CMD check} to the next. Only the implicit default is
#' replaced during checks, so that a check never writes into the user's home
#' unasked. Give \env{WARMSTART_DIR} as an absolute path: a relative one is
#' taken from the working directory of each R process, which
#' \command{R CMD check} changes. For tests, [local_ws_store()]
#' opens the chosen store or else a throwaway one.
#'
#' @section The gam crate's stores:
#' The on-disk format is schema version 1 of the Rust \pkg{gam} crate's
#' warm-start store, which both sides read and write. Its rules changed after
#' 0.3.122 without a new schema version, and `semantics` picks a set:
#' \describe{
#' \item{`"0.3.122"`}{The best entry has the lowest objective (within
#'   `1e-12` a final entry beats a checkpoint, then the newer write); the
#'   TTL counts from the write; over budget, the oldest write goes first.
#'   Lookups change nothing on disk.}
#' \item{`"access"`}{As the gam crate's later stores: any final entry
#'   ranks before any checkpoint, and of two finals the newer wins; checkpoints
#'   rank among themselves as above. A final entry whose producer is not
#'   warmstart (one of the gam crate's, or of a Rust store that wrote none) is
#'   read as a checkpoint: the gam crate lets a final certify a fit only to the
#'   build that wrote it. Finals of warmstart, of any version, stay finals: what
#'   a payload certifies is decided by the R code and the key that saved it.
#'   Every lookup records the access in the entry's metadata (rewritten by
#'   temporary file and rename, every other field kept; nothing is done on a
#'   store it may not write); the TTL counts from the later of write and last
#'   access; over budget, entries never read go first, then the oldest write.}
#' }
#' The default stays `"0.3.122"`: a lookup that writes costs a file write
#' and rename (and a sync with `durable = TRUE`), bypasses the memory
#' cache, and does not work on a read-only store; and ranking every final above
#' every checkpoint is right for resuming the gam crate's fits, but not for
#' every use of `ws_lookup()`. [ws_cachem()] opens its default
#' store with `"access"`.
#'
#' Every metadata file warmstart writes names its producer
#' (`"warmstart <version>"`), shown by [ws_lookup()] and
#' [ws_list()]. The later gam stores' lookups rewrite an entry's
#' metadata with only their own fields, which drops warmstart's (its payload
#' format, its checksum of the metadata, a [ws_cachem()] key); an
#' R value saved here is then still read as one, by the header of its
#' serialization (raw bytes that fail to unserialize are returned as raw
#' bytes), and raw payloads are read byte for byte as before. Run ids are any
#' name the Rust store can write (the gam crate's checkpoints are
#' `"ckpt-r<pid>-<nanos>"`). `vignette("interop", package = "warmstart")`
#' lists what each Rust version sees of warmstart's entries, and warmstart
#' of theirs.
#'
#' @section Who may write to a store:
#' Checksums protect against accidents, not against people: anyone who can
#' write to the root, to a key directory in it or to its \file{.warmstart}
#' directory can put an R value there, with a matching checksum, whose use
#' runs their code in every R session that reads it. `unserialize()`
#' runs code hidden in a promise as soon as the value is used
#' (CVE-2024-27322; R 4.4.0 refuses a promise that is the value itself, not
#' one inside it), and in any version a [ws_gam()] hit is an
#' object whose functions run in `predict()`.
#'
#' So, the way ssh treats \file{~/.ssh}, a store refuses what someone it does
#' not trust can write. With `trust = "user"` (the default):
#'
#' * a new root is made private: mode 0700 whatever the umask, with key
#'   directories 0700 and files 0600 inside;
#' * `ws_open()` refuses a root, and every lookup and save refuses a
#'   key directory or entry file, that belongs to another user (root
#'   excepted) or that others can write: writable by all, or by a group
#'   other than your own private group (the group named like you whose only
#'   member is you, as on systems with a umask of 002);
#' * refusing is an error of class `"ws_untrusted_store"` (which
#'   inherits `"ws_error"`), with fields `path` and `reason`
#'   (`"owner"`, `"group"` or `"others"`); nothing is read or
#'   unserialized from what is refused, and nothing is removed. Listings and
#'   sweeps pass over such key directories.
#'
#' What the path to the root leads through is your choice: a link is followed
#' when the store is opened, and the directory it leads to is judged. What a
#' store reads later is judged on the very descriptor it reads through, so
#' whoever controls a directory above the root can hide the store, but not
#' substitute their own entries.
#'
#' `trust = "group"` is for a team sharing a store: the group that owns
#' the root (when the store is opened) is trusted, and the owners and group of
#' key directories and files may be any member of it. New directories are made
#' `02770` and files `0640`, so that members can add entries to each
#' other's keys. Make the root yourself with the group you mean
#' (\command{install -d -m 2770 -g team /shared/store}): a root that
#' `ws_open()` creates takes its parent's group or your primary group.
#' Every member can then run code in every other member's sessions.
#'
#' `trust = "any"` checks nothing, as earlier versions did. Use it
#' only with a secret, or on a filesystem whose owners do not mean anything
#' (such as some network filesystems that map every user to one).
#'
#' With a `secret`, saves add an HMAC-SHA256 (the member
#' `"hmac_sha256"` of the entry's metadata) over the metadata, which
#' holds the payload's SHA-256, and lookups return R values only from entries
#' whose tag this secret verifies; others are passed over, never removed
#' (another secret may sign them: a team can share a store across several
#' secrets). Raw payloads need no tag: entries written by the Rust store or
#' without a secret are still returned as bytes, with
#' `authenticated = FALSE` (see [ws_lookup()]). Within a
#' private store a secret adds nothing; it is what makes a shared or restored
#' store (a CI cache from another branch) safe to read from.
#'
#' Every R value is also read by a parser of R's
#' serialization format before `unserialize()`: a value holding a
#' promise anywhere but in an environment's frame (where R itself keeps
#' unevaluated arguments) is skipped with a warning of class
#' `"ws_unsafe_payload"` and left on disk. This closes the
#' CVE-2024-27322 vector, not every way code can hide in an R value: trust is
#' what protects you.
#'
#' @return An object of class `ws_store`: a handle closed automatically
#' when it is garbage collected. A handle does not survive `saveRDS()` or
#' a saved workspace; open the root again instead.
#'
#' @seealso [ws_save()], [ws_lookup()],
#' [ws_evict()], [ws_key()],
#' [local_ws_store()]
#' @family store functions
#'
#' @examples
#' store <- ws_open(file.path(tempdir(), "warmstart-example"),
#'                  size_budget = 100 * 1024^2, ttl = 7 * 86400)
#' store
#'
#' # A team's store: the root's group is trusted, and entries are signed
#' # with a secret every member has (here an example; keep yours out of code,
#' # e.g. in WARMSTART_SECRET).
#' team <- file.path(tempdir(), "warmstart-team")
#' shared <- ws_open(team, trust = "group",
#'                   secret = "an example secret, 32 bytes long")
#' ws_save(shared, ws_key("team example"), list(sp = 1))
#' ws_lookup(shared, ws_key("team example"))$authenticated
#' @aliases ws_store
#' @export
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
  # The value cache is process-wide: its bounds come from options, read
  # at every open so a change takes effect with the next handle.
  .Call(C_ws_value_cache_limits,
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

#' Save a warm-start entry
#'
#' @description
#' Writes one entry under `key`: the payload, its objective value, the
#' iteration it was reached at, and whether it is a mid-fit checkpoint or the
#' final result. The write is atomic: the payload and its metadata go to
#' temporary files, are synced (when the store is durable) and renamed into
#' place, payload first, so readers only ever see whole entries.
#'
#' @param store A store from [ws_open()].
#' @param key The entry's key: 32 to 128 lowercase hexadecimal characters,
#' usually from [ws_key()].
#' @param payload What to keep. A raw vector without attributes is stored byte
#' for byte and comes back as the same raw vector; any other R value is
#' serialized (R serialization version 3, native binary: twice as fast to write
#' and read as XDR) and comes back unserialized. A raw vector that itself
#' begins like such a serialization is stored serialized too (it still comes
#' back as the same raw vector): a payload whose metadata no longer says how
#' it was stored is read as an R value by that header alone (see
#' [ws_open()], \dQuote{The gam crate's stores}).
#' @param objective The value being minimised, a single number, or
#' `NULL`. Non-finite values (`NA`, `NaN`, `Inf`) are
#' stored as absent.
#' @param iteration A single whole number `>= 0`, or `NULL`.
#' @param kind `"checkpoint"` (a fit still in progress) or
#' `"final"` (a finished fit). At equal objectives a final entry wins.
#' @param run_id `NULL` to write a new entry, or the run id of an
#' entry (one `ws_save()` returned, or one the gam crate wrote, such as
#' `"ckpt-r1a2-17f0c3d2e4a5b6c7"`) to replace that entry (for
#' periodic checkpoints of one fit). A replacement renames the new payload
#' over the old one, then the new metadata over the old: no lookup ever
#' returns a mix of the two, but between the two renames no lookup returns
#' the entry, and a writer killed there loses it (its payload no longer
#' matches its metadata; it is removed as damaged once its writer is known
#' to be gone, see [ws_evict()]). Any name the Rust
#' store can write is a run id: 1 to 128 bytes of UTF-8 without control
#' characters, `/` or `.`.
#'
#' @details
#' Saving also keeps the store within its size budget and TTL: a full sweep
#' (see [ws_evict()]) runs whenever the process's estimate of the
#' store's size passes the budget (it counts its own saves and is resynced by
#' every sweep); on the first save to a root in a process, unless another
#' process swept it in the last 10 minutes (a sweep leaves a small marker,
#' \file{.warmstart/sweep}, in the root); and every \eqn{W/8} saves (32 at
#' least), \eqn{W} being what the last sweep walked: key directories plus
#' entries. A walk is thus shared by the saves between two walks, and a save
#' costs the same in a store of 100 keys or 10,000. An eviction goes down to 90% of the
#' budget, so that a full store is not swept again by the next save. Expired
#' entries are never returned: every lookup checks the TTL.
#'
#' A failed save (full disk, read-only store) raises an error, leaves no
#' temporary files and keeps the entries saved before. If the failure comes
#' after the entry became visible (only the final directory sync failed), the
#' error says so and the entry is readable.
#'
#' @return The run id of the entry, invisibly.
#'
#' @seealso [ws_lookup()]
#' @family store functions
#'
#' @examples
#' store <- ws_open(file.path(tempdir(), "warmstart-example"))
#' key <- ws_key("my model", "fold 1")
#' id <- ws_save(store, key, list(coef = c(1.5, -2)), objective = 10.2,
#'               iteration = 3)
#' # Update the same checkpoint in place as the fit goes on:
#' ws_save(store, key, list(coef = c(1.4, -2.1)), objective = 9.8,
#'         iteration = 4, run_id = id)
#' ws_save(store, key, list(coef = c(1.41, -2.08)), objective = 9.7,
#'         iteration = 7, kind = "final")
#' ws_lookup(store, key)$payload
#' @export
ws_save <- function(store, key, payload, objective = NULL, iteration = NULL,
                    kind = c("checkpoint", "final"), run_id = NULL) {
  check_store(store)
  .Call(C_ws_check_key, key)
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
#' Find the best or the latest entry for a key
#'
#' @description
#' `ws_lookup()` returns the best entry: the lowest objective; within
#' `1e-12` a final entry beats a checkpoint, then the newer write wins; an
#' entry with an objective beats one without; when none has an objective, the
#' newest. (A store opened with `semantics = "access"` ranks any final
#' entry first, and reads a final entry of another producer as a checkpoint:
#' see [ws_open()].) Use it to resume the same fit.
#'
#' `ws_lookup_latest()` returns the newest entry, ignoring objectives. Use
#' it for near-match seeds whose objectives are not comparable (other folds,
#' other data).
#'
#' @param store A store from [ws_open()].
#' @param key The key, as given to [ws_save()].
#' @param x A `ws_entry`.
#' @param ... Ignored.
#'
#' @details
#' Every payload is checked against its SHA-256 checksum before it is
#' returned, and serialized R values are unserialized only after that check.
#' Entries that fail it, whose metadata is malformed or of another schema
#' version, whose payload is missing, or that are older than the TTL are
#' removed in passing and never returned.
#'
#' A checksum proves the bytes are the ones written, not who wrote them. A
#' lookup refuses (an error of class `"ws_untrusted_store"`) a key
#' directory or entry file that someone the store does not trust can write;
#' with a secret it passes over R values without a tag that secret verifies;
#' and it passes over a value whose serialization holds a
#' promise outside an environment's frame (a warning of class
#' `"ws_unsafe_payload"`). Passed-over entries stay on disk, and the
#' lookup goes on to the next best. See *Who may write to a store* in
#' [ws_open()].
#'
#' With the value cache on (`memory_cache = TRUE`), a repeated lookup of an
#' unchanged entry returns the very entry (and R value) the first lookup
#' built (no R object is made for it), so it costs the same for 1 KB and 100 MB. On
#' every hit the cache checks the key directory's stamp (device, inode,
#' size, and nanosecond modification and change times): every save,
#' removal or metadata rewrite by any process, of this store or the Rust
#' one, renames or removes a file there and so is seen at once. A file
#' changed in place, outside the store, is not; the cached value is then
#' still the one verified when it was read. The returned entry and value
#' are marked shared: modifying them makes a copy and leaves the cached
#' ones unchanged. Values holding environments or closures are decoded
#' afresh from verified bytes at each hit.
#' Lookups that record an access (`semantics = "access"`) rewrite the
#' entry's metadata and so do not use the value cache.
#'
#' A payload whose metadata states no format (an entry the Rust store wrote,
#' or one of ours after one of the gam crate's later stores rewrote its
#' metadata) is returned as an R value when it begins with the header of an R
#' serialization and unserializes, and as raw bytes otherwise.
#'
#' @return `NULL` when the key has no valid entry; otherwise a
#' `ws_entry`, a list with
#' \item{payload}{the raw vector or R value that was saved;}
#' \item{objective}{a number, `NA` when absent;}
#' \item{iteration}{a number, `NA` when absent;}
#' \item{kind}{`"checkpoint"` or `"final"`;}
#' \item{written}{the write time, a `POSIXct` with sub-second
#' precision;}
#' \item{run_id}{the entry's run id (see [ws_save()]);}
#' \item{bytes}{the payload's size on disk;}
#' \item{key}{the key;}
#' \item{producer}{who wrote the entry, as its metadata says
#' (`"warmstart <version>"`, or the gam crate's build identity);
#' `NA` when it does not say;}
#' \item{accessed}{when a lookup that records accesses (\code{semantics =
#' "access"}, or one of the gam crate's later stores) last read the entry,
#' before this lookup; `NA` when none has.}
#' \item{authenticated}{`TRUE` when the store has a secret and the
#' entry carries a tag it verifies (always, for an R value returned through
#' such a store); `FALSE` otherwise.}
#'
#' @family store functions
#' @examples
#' store <- ws_open(file.path(tempdir(), "warmstart-example"))
#' key <- ws_key("lookup example")
#' ws_save(store, key, charToRaw("good"), objective = 1, kind = "final")
#' ws_save(store, key, charToRaw("newer but worse"), objective = 5)
#' rawToChar(ws_lookup(store, key)$payload)
#' rawToChar(ws_lookup_latest(store, key)$payload)
#' ws_lookup(store, ws_key("never saved"))
#' @aliases ws_entry
#' @export
ws_lookup <- function(store, key) {
  check_store(store)
  .Call(C_ws_lookup, store, key, FALSE, NA, FALSE)
}

#' @rdname ws_lookup
#' @export
ws_lookup_latest <- function(store, key) {
  check_store(store)
  .Call(C_ws_lookup, store, key, TRUE, NA, FALSE)
}

# The entry whose value an API returns as its own (ws_compute(),
# ws_memoise(), ws_gam()'s hits and seeds): with a secret, only an
# authenticated one, so that a writer without the secret cannot choose it
# (a raw payload without a tag is ws_lookup()'s to return, flagged).
lookup_value <- function(store, key, latest = FALSE) {
  .Call(C_ws_lookup, store, key, latest, NA, TRUE)
}

#' Sweep the store now
#'
#' @description
#' Runs the full sweep at once: removes expired entries (older than the TTL),
#' corrupt or half-written entries, temporary files of writers that are gone,
#' and empty key directories; then, while the store is over its size budget,
#' removes entries oldest write first.
#'
#' @param store A store from [ws_open()].
#' @param verify If `TRUE`, also read every payload and check it against
#' its SHA-256, removing entries whose bytes do not match. A lookup checks the
#' entry it returns, so a damaged entry that is never the best is otherwise
#' kept until it expires or the budget takes it; this finds it at once, at
#' the cost of reading the whole store.
#'
#' @details
#' Temporary files are named
#' `<runid>.<bin|json>.tmp.<pid>.<nonce>.<attempt>.<host>`. One is removed
#' only when its writer is provably gone (its pid is no live process on this
#' host) or when it is more than an hour old (a writer on another host, or a
#' hung one), so a sibling process's write in progress is never disturbed. A
#' payload without its metadata follows the same rule, with the pid taken from
#' its run id. Only directories named like keys are touched: other files under
#' the root are left alone.
#'
#' Saves run this sweep themselves, on a schedule, so calling it is needed
#' only to reclaim space at a chosen moment.
#'
#' @return Invisibly, a list: `entries` and `bytes` that remain,
#' `removed` (entries and half entries removed), `temps_removed`,
#' and `corrupt` (entries removed because their payload failed its
#' checksum; always 0 without `verify`).
#'
#' @family store functions
#' @examples
#' store <- ws_open(file.path(tempdir(), "warmstart-example"))
#' ws_evict(store)$entries
#' ws_evict(store, verify = TRUE)$corrupt
#' @export
ws_evict <- function(store, verify = FALSE) {
  check_store(store)
  check_flag(verify, "verify")
  invisible(.Call(C_ws_evict, store, verify))
}

#' @rdname ws_open
#' @export
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

#' @rdname ws_lookup
#' @export
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

#' @rdname ws_lookup
#' @export
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
