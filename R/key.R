#' A stable key (fingerprint) for any R values
#'
#' @description
#' Returns the SHA-256 of a canonical, typed, length-framed encoding of its
#' arguments: 64 lowercase hexadecimal characters, the same in any R process,
#' session or machine for values that mean the same, and different for values
#' that do not.
#'
#' @param ... Any number of R values, named or not. Argument names and order
#' are part of the key.
#'
#' @details
#' Hashing `serialize()` output gets keys wrong in several ways: its
#' header carries the R version and native encoding, ALTREP compact vectors
#' serialize differently from the same values materialized, attribute order
#' changes the bytes, and formulas and functions drag their environments (and
#' srcrefs and bytecode) along. `ws_key()` traverses the value in C and
#' streams its memory straight into SHA-256 (OpenSSL, which uses the CPU's SHA
#' instructions where there are any), with these rules:
#'
#' * Argument names and order matter, and nesting is framed:
#'   `list(1, 2)` differs from `list(list(1), 2)`, and
#'   `ws_key("ab", "c")` from `ws_key("a", "bc")`.
#' * Type matters (`1L` differs from `1`); `-0` equals
#'   `0`; `NA_real_` differs from `NaN`; all NaN bit patterns
#'   are one value.
#' * Strings are hashed as UTF-8 whatever their declared encoding;
#'   `NA_character_` differs from `"NA"`.
#' * ALTREP vectors hash like their materialized values and are not
#'   materialized: `ws_key(1:1e9)` does not allocate 4 GB.
#' * Attributes are a set (sorted by name); compact data-frame row names
#'   equal explicit `1:n`.
#' * Formulas and `terms` hash by their expression, without their
#'   environment. Functions hash by formals and body, without environment,
#'   srcref or bytecode. Primitives hash by name.
#' * Any other environment, an external pointer, a weak reference or a
#'   promise is an error naming where in the value it sits
#'   (e.g. \code{`model$env`}). data.table's `.internal.selfref`
#'   attribute is left out.
#'
#' A fitted \pkg{mgcv} `gam` object can be fingerprinted.
#'
#' @section Encoding:
#' Version 1. A key never changes between package versions unless the version
#' byte changes, and NEWS says so. Integers are little-endian; u64 is
#' unsigned 64-bit; a *string* is a u64 byte length and its UTF-8 bytes.
#' \preformatted{
#' "warmstart-key" 0x00, version byte 0x01, u64 number of arguments,
#' then for each argument:
#'   0x00 when unnamed, or 0x01 + string (its name); then its value
#' value: type tag (1 byte), u64 number of attributes, the attributes
#'   sorted by name (string name, value), u64 length, then by tag:
#'   0x00 NULL         length 0
#'   0x08 logical      n x i32 (TRUE 1, FALSE 0, NA -2^31)
#'   0x09 integer      n x i32 (NA -2^31)
#'   0x0A double       n x f64 bits: -0 as 0, NA as 0x7FF00000000007A2,
#'                     every other NaN as 0x7FF8000000000000
#'   0x0B complex      n x (real, imaginary), each as a double
#'   0x10 character    per element 0x00 for NA, or 0x01 + string
#'   0x18 raw          the bytes
#'   0x20 list         n values
#'   0x21 expression   n values
#'   0x28 symbol       length = byte length of the name, then its bytes
#'   0x29 pairlist     n nodes: 0x00, or 0x01 + string (the tag); the value
#'   0x2A call         as a pairlist
#'   0x30 function     length 2: formals (pairlist or NULL), body
#'   0x31 primitive    as a symbol: deparse() of it, e.g. .Primitive("sum")
#'   0x38 S4 object    length 0 (its slots are its attributes)
#' Left out: .Environment of formulas and terms; srcref, srcfile and
#' wholeSrcref of functions, calls and expressions; .internal.selfref.
#' Compact row names c(NA, -n) are hashed as the integers 1:n.
#' }
#'
#' @return A single string of 64 lowercase hexadecimal characters.
#'
#' @family store functions
#'
#' @examples
#' ws_key("gam", "fold 3")
#' ws_key(model = "gam", data = as.raw(1:10))
#' identical(ws_key("ab", "c"), ws_key("a", "bc"))      # FALSE
#'
#' # The same formula made in two places: one key.
#' f1 <- y ~ s(x)
#' f2 <- local(y ~ s(x))
#' identical(ws_key(f1), ws_key(f2))                    # TRUE
#'
#' # Compact and materialized sequences are the same value.
#' identical(ws_key(1:10), ws_key(c(1:10) + 0L))       # TRUE
#'
#' # Keys for a fit: its formula, data and settings.
#' d <- data.frame(x = 1:5, y = c(2.1, 3.9, 6.2, 7.8, 10.1))
#' ws_key(formula = y ~ x, data = d, method = "REML")
#' @export
ws_key <- function(...) {
  .Call(C_ws_key, list(...))
}
