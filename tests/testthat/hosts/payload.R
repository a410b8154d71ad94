# Payloads that describe themselves, so the multi-host harness can tell a
# whole, right payload from anything else without trusting the store's
# checksum: eight little-endian integers (magic, key, host, worker,
# generation, sequence, length, fill byte), then `length` fill bytes. The
# fill byte is derived from the writer and sequence, so bytes of another
# save, torn or mixed, do not pass.

host_payload_magic <- 0x57534831L # "WSH1"
host_payload_fields <- c("magic", "key", "host", "worker", "gen", "seq",
                         "len", "fill")

host_payload_fill <- function(host, worker, gen, seq) {
  as.integer((host * 31 + worker * 7 + gen * 3 + seq) %% 251 + 1)
}

make_host_payload <- function(key, host, worker, gen, seq, len) {
  fill <- host_payload_fill(host, worker, gen, seq)
  header <- as.integer(c(host_payload_magic, key, host, worker, gen, seq,
                         len, fill))
  c(writeBin(header, raw(), endian = "little"), rep(as.raw(fill), len))
}

# The header (a named integer vector) of a whole, right payload made for
# key index `key`; NULL for anything else.
read_host_payload <- function(p, key) {
  if (!is.raw(p) || length(p) < 32L) return(NULL)
  h <- readBin(p[1:32], "integer", 8L, endian = "little")
  names(h) <- host_payload_fields
  if (anyNA(h) || h[["magic"]] != host_payload_magic || h[["key"]] != key ||
      h[["len"]] < 0L || length(p) != 32L + h[["len"]] ||
      h[["fill"]] != host_payload_fill(h[["host"]], h[["worker"]], h[["gen"]],
                                       h[["seq"]]) ||
      !all(p[-(1:32)] == as.raw(h[["fill"]]))) {
    return(NULL)
  }
  h
}
