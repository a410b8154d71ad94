ws_key <- function(...) {
  .Call(C_ws_key, list(...))
}
