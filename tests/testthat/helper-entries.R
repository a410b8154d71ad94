# Entries written by hand, as the Rust store writes them (no meta_sha256):
# for the format tests, and wherever a test needs a meta whose fields it
# chooses.

sha256_abc <- "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

# An entry as the Rust store writes it: serde_json::to_vec_pretty, no
# payload_format, and (in older writers) no written_nanos.
rust_meta <- function(fields = list()) {
  base <- list(
    schema_version = "1",
    written_unix_secs = format(floor(as.numeric(Sys.time())), scientific = FALSE),
    objective = "1.5",
    iteration = "7",
    kind = '"Final"',
    checksum_hex = sprintf('"%s"', sha256_abc),
    payload_bytes = "3"
  )
  base[names(fields)] <- fields
  base <- base[!vapply(base, is.null, TRUE)]
  paste0("{\n", paste0('  "', names(base), '": ', unlist(base),
                       collapse = ",\n"), "\n}")
}

write_entry <- function(t, key, meta, payload = charToRaw("abc"),
                        run_id = "r1f-17a0") {
  dir <- key_dir(t, key)
  dir.create(dir, showWarnings = FALSE)
  writeBin(payload, file.path(dir, paste0(run_id, ".bin")))
  meta_path <- file.path(dir, paste0(run_id, ".json"))
  # writeChar() warns on an empty string; an empty meta is an empty file.
  if (nzchar(meta)) writeChar(meta, meta_path, eos = NULL) else file.create(meta_path)
  dir
}

# Our own entry's meta, made into one the Rust store could have written
# (no meta_sha256) with another schema_version.
set_schema <- function(meta_path, version) {
  txt <- readChar(meta_path, file.size(meta_path), useBytes = TRUE)
  # Made a meta as the Rust store writes it: without our digest, and so
  # without our format field (a meta that has one is ours, and corrupt
  # without its digest).
  txt <- sub(',"meta_sha256":"[0-9a-f]{64}"', "", txt, useBytes = TRUE)
  txt <- sub(',"payload_format":"raw"', "", txt, useBytes = TRUE)
  txt <- sub('"schema_version":[0-9]+', sprintf('"schema_version":%d', version),
             txt, useBytes = TRUE)
  writeChar(txt, meta_path, eos = NULL, useBytes = TRUE)
}
