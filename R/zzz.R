.onLoad <- function(libname, pkgname) {
  # unserialize() hands out promises before R 4.4.0 (CVE-2024-27322): there
  # the payloads are looked at first (src/rstream.c).
  .Call(C_ws_promise_guard, getRversion() < "4.4.0")
  invisible()
}
