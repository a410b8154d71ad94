# Which key a ws_gam() call takes: the symbolic key, where it provably
# covers every input, or the hash of the prepared model.
#
# The symbolic key (exact_key(), R/gam_inputs.R) describes the call's
# inputs: formula, data, arguments, and how the formula's free symbols
# resolve. It is right only where those descriptions cover everything the
# fit depends on, and R has many ways round a description: mgcv finds smooth
# classes by name wherever they are defined, S3 dispatch reaches methods
# defined anywhere, and a closure reads variables (or calls get()) when it
# runs. Chasing each of these one by one does not end. So the symbolic key is
# used only where the call provably stays inside what it describes:
#
# * the fitter is a package's function;
# * every function the formula calls is base's or a package's (keyed by the
#   package's version), and not one that reads state by name;
# * every smooth class (and tensor margin) is constructed by a method from a
#   package's namespace, found as mgcv's own dispatch finds it;
# * no S3 method outside a package applies to a variable of the formula;
# * no argument (the family included) and no free variable of the formula
#   holds a function that is not a package's.
#
# Every other call is keyed by what the model is: the SHA-256 of the model
# gam(fit = FALSE) prepares (model matrix, penalties, response, weights,
# offset, family with its parameters, smooths, model frame) and of the
# call's arguments. That costs the model's setup on each such call, and a
# hit is right by construction: the fit is a function of the prepared model
# and the arguments.

# Functions that read state their arguments do not show (variables by name,
# options, the environment, the clock, files): a formula calling one of
# them is keyed by its model.
state_readers <- c(
  "get", "get0", "mget", "exists", "dynGet", "eval", "evalq", "eval.parent",
  "parse", "str2lang", "str2expression", "match.fun", "do.call", "Recall",
  "sys.function", "sys.call", "sys.frame", "parent.frame", "environment",
  "as.environment", "getOption", "Sys.getenv", "Sys.time", "Sys.Date",
  "readRDS", "load", "source", "readLines", "scan", "read.table", "read.csv",
  "file", "url")

# Why the symbolic key cannot be proven to cover a call (a short
# description of the first input found), or NULL when it can. Adds to
# `symbols` the packages of smooth classes that are not mgcv's (their
# version is then part of the symbolic key); returns list(symbols, unproven).
key_proof <- function(forms, data, args, fitter, caller, symbols) {
  unproven <- function(why) list(symbols = symbols, unproven = why)
  if (is.primitive(fitter) || is.null(package_of(environment(fitter)))) {
    return(unproven("the fitter is not a package's function"))
  }
  for (nm in names(symbols)) {
    d <- symbols[[nm]]
    role <- sub(":.*$", "", nm)
    sym <- sub("^[^:]*:", "", nm)
    if (role %in% c("function", "package")) {
      if (is.null(d$package)) return(unproven(sprintf("`%s` is not a package's", sym)))
      if (sub("^.*::", "", sym) %in% state_readers) {
        return(unproven(sprintf("`%s` reads state by name", sym)))
      }
    } else if (!is.null(d$definition) || !is.null(d$missing) ||
               !is.null(d$unavailable) || holds_user_function(d$value)) {
      return(unproven(sprintf("`%s` is (or holds) a function of your own, or is not found",
                              sym)))
    }
  }
  for (nm in names(args)) {
    if (holds_user_function(args[[nm]])) {
      return(unproven(sprintf("argument `%s` holds a function of your own", nm)))
    }
  }
  for (f in forms) {
    env <- environment(f)
    if (is.null(env)) env <- caller
    specs <- tryCatch(mgcv::interpret.gam(f)$smooth.spec, error = function(e) NULL)
    if (is.null(specs) && length(smooth_calls(f)) > 0L) {
      return(unproven("its smooths cannot be read"))
    }
    for (spec in flatten_specs(specs)) {
      home <- smooth_class_home(spec)
      if (is.null(home$package)) {
        return(unproven(sprintf("smooth class \"%s\" is not a package's", home$class)))
      }
      if (home$package != "mgcv") {
        symbols[[paste0("smooth-class:", home$class)]] <-
          list(package = home$package, version = package_version_of(home$package))
      }
    }
    cls <- variable_classes(f, data, env)
    method <- user_method(cls, list(env, caller))
    if (!is.null(method)) {
      return(unproven(sprintf("S3 method `%s` is not a package's", method)))
    }
  }
  list(symbols = sort_by_name(symbols), unproven = NULL)
}

# A function whose code is not a package's: a closure whose enclosing
# environments reach the workspace (or no namespace) before a namespace.
holds_user_function <- function(x, depth = 0L) {
  if (depth > 50L) return(TRUE)
  if (is.function(x)) {
    if (is.primitive(x)) return(FALSE)
    top <- topenv(environment(x))
    return(!isNamespace(top) && !identical(top, baseenv()))
  }
  if (is.list(x)) {
    for (el in x) if (holds_user_function(el, depth + 1L)) return(TRUE)
  }
  FALSE
}

smooth_calls <- function(f) {
  intersect(all.names(if (inherits(f, "formula")) unclass(f) else f), smooth_makers)
}

# The smooth specifications with the margins of tensor products.
flatten_specs <- function(specs) {
  out <- list()
  for (s in specs) {
    out[[length(out) + 1L]] <- s
    if (is.list(s$margin)) out <- c(out, flatten_specs(s$margin))
  }
  out
}

# The package whose smooth.construct() method builds a specification, found
# as mgcv's dispatch finds it (as getS3method(envir = mgcv's namespace)
# does: mgcv's namespace, its imports, base, the workspace and the search
# path, then the S3 registry of mgcv, where smooth.construct() is defined),
# or NULL when the method is defined outside a package (or not at all).
smooth_class_home <- function(spec) {
  mgcv_ns <- asNamespace("mgcv")
  table <- mgcv_ns[[".__S3MethodsTable__."]]
  for (cl in class(spec)) {
    name <- paste0("smooth.construct.", cl)
    m <- get0(name, envir = mgcv_ns, mode = "function")
    if (is.null(m) && is.environment(table)) {
      m <- get0(name, envir = table, mode = "function", inherits = FALSE)
    }
    if (!is.null(m)) {
      return(list(class = cl, package = package_of(topenv(environment(m)))))
    }
  }
  list(class = class(spec)[1L], package = NULL)
}

# The classes S3 dispatch sees on the formula's variables (as found in the
# data, else from the formula's environment), and "default".
variable_classes <- function(f, data, env) {
  cls <- "default"
  for (v in all.vars(f)) {
    x <- if (v %in% names(data)) data[[v]] else get0(v, envir = env)
    cls <- union(cls, class(x))
  }
  cls
}

# The name of an S3 method for one of `classes` defined outside a package:
# in the environments from `envs` up to the workspace and the search path,
# or registered (registerS3method(), .S3method()) in a namespace's table.
# Such a method can be what a generic in the formula, mgcv, or
# model.frame() dispatches to. NULL when there is none.
user_method <- function(classes, envs) {
  suffixes <- paste0(".", classes)
  is_method_name <- function(nms) {
    hits <- logical(length(nms))
    for (sfx in suffixes) hits <- hits | endsWith(nms, sfx)
    nms[hits]
  }
  seen <- list()
  for (e in envs) {
    while (!identical(e, emptyenv())) {
      if (!is.null(package_of(e)) || !is.na(env_index(seen, e))) {
        e <- parent.env(e)
        next
      }
      seen[[length(seen) + 1L]] <- e
      for (nm in is_method_name(ls(e, all.names = TRUE, sorted = FALSE))) {
        if (holds_user_function(get0(nm, envir = e, inherits = FALSE))) return(nm)
      }
      e <- parent.env(e)
    }
  }
  for (ns in loadedNamespaces()) {
    table <- asNamespace(ns)[[".__S3MethodsTable__."]]
    if (!is.environment(table)) next
    for (nm in is_method_name(ls(table, all.names = TRUE, sorted = FALSE))) {
      if (holds_user_function(get0(nm, envir = table, inherits = FALSE))) return(nm)
    }
  }
  NULL
}

# ---- the model path -------------------------------------------------------

# The SHA-256 of the model the fitter prepares (prepared_model()):
# everything in it but the call it records (which names
# ws_gam()'s own bindings); the family with the parameters its functions'
# environments hold.
model_digest <- function(G, call) {
  state <- unclass(G)
  state$cl <- NULL
  if (inherits(state$family, "family")) state$family <- family_state(state$family)
  tryCatch(.Call(C_ws_key, list(model = state)), ws_bad_argument = function(e) {
    stop_arg(sprintf(paste0("ws_gam() cannot key the prepared model: it holds a ",
                            "value that cannot be hashed (%s)"),
                     conditionMessage(e)), "formula", call)
  })
}

# gam(fit = FALSE), or bam()'s. A fitter other than gam() and bam() has its
# model prepared by gam() from the arguments gam() takes: its formula and
# data as mgcv reads them (the fitter's own code is keyed by its definition
# and its free variables' values, input_digests()).
prepared_model <- function(inputs, call) {
  if (inputs$flavour %in% c("gam", "bam")) {
    return(call_fitter(inputs, clone_family(inputs$args$family), list(fit = FALSE)))
  }
  prep <- inputs
  prep$fitter <- mgcv::gam
  prep$flavour <- "gam"
  takes <- setdiff(names(formals(mgcv::gam)), c("...", managed_args))
  prep$args <- inputs$args[intersect(names(inputs$args), takes)]
  tryCatch(call_fitter(prep, clone_family(prep$args$family), list(fit = FALSE)),
           error = function(e) {
             stop_arg(sprintf(paste0("ws_gam() cannot key this call: the symbolic ",
                                     "key does not cover it (%s) and mgcv::gam(fit = ",
                                     "FALSE) cannot prepare its model: %s"),
                              inputs$unproven, conditionMessage(e)), "fitter", call)
           })
}

# The key of a call on the model path: the prepared model, the fitter
# (with the versions its numbers depend on), every argument (those the
# prepared model does not hold, such as method, control, gamma, start) and
# the options.
model_key <- function(d, model) {
  ws_key(what = "ws_gam model", version = gam_key_version, fitter = d$fitter,
         model = model, args = d$args, options = d$options)
}
