# What a ws_gam() fit depends on, resolved the way mgcv resolves it, and
# the two keys made from it.
#
# gam() builds its model frame with model.frame(): variables from `data`
# first, then from the formula's environment, and weights, subset and
# offset evaluated the same way. It evaluates the arguments of s(), te(),
# ti() and t2() other than the covariates and `by` (k, bs, xt, m, ...) in
# the formula's environment only, and it summarizes the covariates
# (var.summary, used by predict() and plot()) from `data`, then from its
# caller's frame. Everything found outside `data` is hashed by value;
# functions by definition and by the values of their own free variables;
# objects from packages by package and version.

# Bump when what the keys cover changes: old entries then stop matching.
# 3: the key path (R/gam_key_path.R), a fitter of one's own described with
# its free variables, defaults' free variables.
gam_key_version <- 3L

# Arguments that gam() and bam() hand to model.frame(), which evaluates
# them in `data` and the formula's environment rather than the caller's.
model_frame_args <- c("weights", "subset", "offset", "AR.start")

# Arguments whose values follow the rows of the data: left out of the near
# (seed) key, which names the model's structure.
data_sized_args <- c("weights", "subset", "offset", "etastart", "mustart",
                     "start", "AR.start", "coef", "nei")

# Arguments ws_gam() itself sets on the fitter.
managed_args <- c("G", "fit", "in.out")

smooth_makers <- c("s", "te", "ti", "t2")

# The inputs of one ws_gam() call: formula, data, the evaluated arguments
# (a family as its object), how each free symbol of the formula resolves,
# and where the fitter is to be called.
gam_inputs <- function(formula, data, exprs, values, fitter, flavour, caller,
                       call) {
  forms <- if (inherits(formula, "formula")) list(formula) else formula
  frame_env <- environment(forms[[1L]])
  if (is.null(frame_env)) frame_env <- caller
  if ("family" %in% names(values)) {
    values$family <- as_family(values$family, fitter, call)
  }
  proof <- key_proof(forms, data, values, fitter, caller,
                     formula_symbols(forms, data, caller))
  list(formula = formula, data = data, args = values, exprs = exprs,
       fitter = fitter, flavour = flavour, caller = caller,
       frame_env = frame_env, symbols = proof$symbols,
       unproven = proof$unproven)
}

# A family given as a name or a constructor, made into the object gam()
# would make of it (gam() evaluates a name in its own namespace).
as_family <- function(family, fitter, call) {
  if (is.character(family)) {
    home <- topenv(environment(fitter))
    family <- tryCatch(eval(parse(text = family), envir = home),
                       error = function(e) {
                         stop_arg(sprintf("`family` \"%s\" is not a family: %s",
                                          family, conditionMessage(e)),
                                  "family", call)
                       })
  }
  if (is.function(family)) family <- family()
  family
}

# ---- free symbols of the formula(s) -------------------------------------

# How every free symbol of the formulas resolves, as a named list of
# descriptions ("<where>:<name>" = value or reference). Symbols found in
# `data` are covered by the data's own hash.
formula_symbols <- function(forms, data, caller) {
  out <- list()
  in_data <- names(data)
  for (f in forms) {
    env <- environment(f)
    if (is.null(env)) env <- caller
    uses <- symbol_uses(f)
    for (nm in setdiff(uses$value, in_data)) {
      out[[paste0("frame:", nm)]] <- resolve(nm, env)
      if (!identical(env, caller)) {
        out[[paste0("caller:", nm)]] <- resolve(nm, caller)
      }
    }
    for (nm in uses$smooth_arg) {
      out[[paste0("smooth:", nm)]] <- resolve(nm, env)
    }
    for (nm in uses$fun) {
      out[[paste0("function:", nm)]] <- resolve(nm, env, mode = "function")
    }
    for (q in uses$qualified) out[[paste0("package:", q)]] <- package_ref(q)
  }
  sort_by_name(out)
}

# The symbols an expression uses, by role: `value` (looked up in data,
# then the environment), `smooth_arg` (arguments of s() and friends other
# than covariates and `by`: the environment only), `fun` (called), and
# `qualified` (pkg::name).
symbol_uses <- function(expr) {
  acc <- new.env(parent = emptyenv())
  acc$value <- acc$smooth_arg <- acc$fun <- acc$qualified <- character()
  add <- function(role, nm) {
    if (nzchar(nm) && !(nm %in% acc[[role]])) acc[[role]] <- c(acc[[role]], nm)
  }
  visit <- function(x, role) {
    if (is.symbol(x)) {
      add(role, as.character(x))
    } else if (is.call(x)) {
      head <- x[[1L]]
      args <- as.list(x)[-1L]
      if (!is.symbol(head)) {
        visit(head, role)
        for (a in args) visit(a, role)
        return()
      }
      h <- as.character(head)
      if (h %in% c("::", ":::")) {
        add("qualified", paste0(as.character(x[[2L]]), "::", as.character(x[[3L]])))
        return()
      }
      add("fun", h)
      if (h %in% c("$", "@")) {
        visit(args[[1L]], role)
        return()
      }
      if (h == "function") {
        visit(args[[2L]], role)
        return()
      }
      nms <- names(args)
      if (is.null(nms)) nms <- rep("", length(args))
      for (i in seq_along(args)) {
        if (missing_arg(args[[i]])) next
        r <- if (h %in% smooth_makers && !(nms[i] %in% c("", "by"))) {
          "smooth_arg"
        } else role
        visit(args[[i]], r)
      }
    }
  }
  visit(if (inherits(expr, "formula")) unclass(expr) else expr, "value")
  # The formula operator is not evaluated, and gam() reads s(), te(), ti()
  # and t2() as mgcv's whether or not mgcv is attached (its version is in
  # the key).
  acc$fun <- setdiff(acc$fun, c("~", smooth_makers))
  as.list(acc)
}

missing_arg <- function(x) is.symbol(x) && !nzchar(as.character(x))

# Where `nm` is bound from `env` (with inherits), and its description: a
# package's object by package and version, anything else by value.
resolve <- function(nm, env, mode = "any", seen = new.env(parent = emptyenv())) {
  where <- env
  while (!identical(where, emptyenv())) {
    if (exists(nm, envir = where, inherits = FALSE)) {
      # A missing argument or a promise that fails is what gam() would
      # stumble on too: describe it, do not fail here.
      value <- tryCatch(get(nm, envir = where, inherits = FALSE),
                        error = function(e) structure(list(), class = "ws_unavailable"))
      if (inherits(value, "ws_unavailable")) return(list(unavailable = nm))
      if (mode != "function" || is.function(value)) break
    }
    where <- parent.env(where)
  }
  if (identical(where, emptyenv())) return(list(missing = nm))
  pkg <- package_of(where)
  if (!is.null(pkg)) return(list(package = pkg, version = package_version_of(pkg)))
  describe_value(value, seen)
}

# A value found outside packages: a closure by definition and by what its
# free variables resolve to (recursively, once per function); anything
# else as itself (ws_key() refuses environments and pointers).
describe_value <- function(value, seen) {
  if (!is.function(value) || is.primitive(value)) return(list(value = value))
  id <- function_id(value)
  if (exists(id, envir = seen, inherits = FALSE)) return(list(recursive = id))
  assign(id, TRUE, envir = seen)
  env <- environment(value)
  free <- list()
  uses <- function_uses(value)
  for (nm in uses$value) free[[paste0("value:", nm)]] <- resolve(nm, env, seen = seen)
  for (nm in uses$fun) {
    free[[paste0("function:", nm)]] <- resolve(nm, env, "function", seen)
  }
  for (q in uses$qualified) free[[paste0("package:", q)]] <- package_ref(q)
  list(definition = value, free = sort_by_name(free))
}

sort_by_name <- function(x) {
  if (length(x) == 0L) return(list())
  x[order(names(x))]
}

function_id <- function(f) {
  paste(format(environment(f)), paste(deparse(body(f)), collapse = "\n"))
}

# A function's free symbols: those of its body and of its arguments'
# defaults (evaluated in its frame, so they read the same variables), less
# its arguments and the names it assigns locally (and those of functions
# defined inside it). A variable it assigns with `<<-` is its own state (a
# call counter), not an input: keyed, it would change the key on every
# call.
function_uses <- function(f) {
  defaults <- Filter(function(a) !missing_arg(a), as.list(formals(f)))
  uses <- symbol_uses(as.call(c(list(as.name("{"), body(f)), unname(defaults))))
  local <- c(names(formals(f)), assigned_names(body(f)))
  uses$value <- setdiff(uses$value, c(local, assigned_names(body(f), "<<-")))
  uses$fun <- setdiff(uses$fun, c(local, "function"))
  uses
}

# The names `x` assigns locally (with `ops = "<<-"`: those it assigns in
# enclosing environments).
assigned_names <- function(x, ops = c("<-", "=")) {
  out <- character()
  if (is.call(x)) {
    h <- x[[1L]]
    local <- !("<<-" %in% ops)
    if (is.symbol(h)) {
      h <- as.character(h)
      if (h %in% ops && is.symbol(x[[2L]])) out <- as.character(x[[2L]])
      if (local && h == "for") out <- as.character(x[[2L]])
      if (local && h == "function") out <- names(x[[2L]])
    }
    for (a in as.list(x)[-1L]) {
      if (!missing_arg(a)) out <- c(out, assigned_names(a, ops))
    }
  }
  unique(out)
}

package_ref <- function(q) {
  pkg <- sub("::.*$", "", q)
  list(package = pkg, version = package_version_of(pkg))
}

# The package an environment belongs to (a namespace, an attached package,
# base), or NULL for user environments (the workspace, a function's frame,
# an attach()ed data frame).
package_of <- function(env) {
  if (identical(env, baseenv()) || identical(env, .BaseNamespaceEnv)) return("base")
  if (isNamespace(env)) return(getNamespaceName(env)[[1L]])
  nm <- environmentName(env)
  if (startsWith(nm, "package:") && !is.null(attr(env, "path"))) {
    return(sub("^package:", "", nm))
  }
  if (identical(env, .AutoloadEnv)) return("base")
  NULL
}

package_version_of <- function(pkg) {
  if (pkg == "base") return(as.character(getRversion()))
  if (isNamespaceLoaded(pkg)) return(getNamespaceVersion(pkg)[[1L]])
  path <- find.package(pkg, quiet = TRUE)
  if (length(path) == 0L) return(NA_character_)
  tryCatch(read.dcf(file.path(path[1L], "DESCRIPTION"), fields = "Version")[1L, 1L],
           error = function(e) NA_character_)
}

# ---- family --------------------------------------------------------------

# A family's settings live in the environments of its functions (nb()'s
# theta, Tweedie()'s p, ocat()'s cut points, tw()'s a and b): its state is
# the family object plus the bindings of every user environment reachable
# from it, environments replaced by their index.
family_state <- function(family) {
  envs <- reachable_envs(family)
  bindings <- lapply(envs, function(e) {
    nms <- sort(ls(e, all.names = TRUE))
    vals <- mget(nms, envir = e)
    lapply(vals, function(v) {
      if (is.environment(v)) {
        i <- env_index(envs, v)
        if (!is.na(i)) return(structure(i, class = "ws_environment_ref"))
      }
      v
    })
  })
  list(object = family, environments = bindings)
}

# User environments reachable from x through function environments,
# environment bindings and parent environments, in a fixed order.
reachable_envs <- function(x) {
  envs <- list()
  visit_env <- function(e) {
    if (!is_user_env(e) || !is.na(env_index(envs, e))) return()
    envs[[length(envs) + 1L]] <<- e
    for (nm in sort(ls(e, all.names = TRUE))) visit_value(get(nm, envir = e))
    visit_env(parent.env(e))
  }
  visit_value <- function(v) {
    if (is.function(v) && !is.primitive(v)) {
      visit_env(environment(v))
    } else if (is.environment(v)) {
      visit_env(v)
    } else if (is.list(v)) {
      for (el in v) visit_value(el)
    }
  }
  visit_value(x)
  envs
}

env_index <- function(envs, e) {
  for (i in seq_along(envs)) if (identical(envs[[i]], e)) return(i)
  NA_integer_
}

is_user_env <- function(e) {
  is.environment(e) && !identical(e, emptyenv()) && !identical(e, globalenv()) &&
    is.null(package_of(e))
}

# A copy of an extended family with its estimated theta at a fixed start.
unstarted <- function(family) {
  family <- clone_family(family)
  th <- tryCatch(family$getTheta(), error = function(e) NULL)
  if (is.numeric(th)) family$putTheta(rep(0, length(th)))
  family
}

# ---- what else changes numerics ------------------------------------------

session_numerics <- local({
  cache <- NULL
  function() {
    if (is.null(cache)) {
      blas <- tryCatch(extSoftVersion()[["BLAS"]], error = function(e) NA_character_)
      lapack <- tryCatch(La_library(), error = function(e) NA_character_)
      cache <<- list(R = R.version$version.string, platform = R.version$platform,
                     blas = blas, lapack = lapack, lapack_version = La_version())
    }
    cache
  }
})

# The versions a fit's numbers depend on: R and its linear algebra, mgcv
# and what it builds on, and the fitter's own package.
fit_numerics <- function(fitter) {
  pkgs <- c("mgcv", "Matrix", "nlme")
  home <- package_of(topenv(environment(fitter)))
  if (!is.null(home)) pkgs <- union(pkgs, home)
  c(session_numerics(),
    list(packages = vapply(pkgs, package_version_of, "")))
}

# ---- keys ----------------------------------------------------------------

# One digest per input, so an input that cannot be hashed is named in the
# error, and the near key reuses the exact key's digests.
input_digests <- function(inputs, call) {
  digest <- function(value, what, argument, label = argument) {
    named <- list(value)
    names(named) <- label
    tryCatch(.Call(C_ws_key, named), ws_bad_argument = function(e) {
      stop_arg(sprintf(paste0("ws_gam() cannot key %s: it holds a value that ",
                              "cannot be hashed (%s)"), what,
                       conditionMessage(e)), argument, call)
    })
  }
  args <- inputs$args
  arg_digests <- vapply(as.character(names(args)), function(nm) {
    v <- args[[nm]]
    if (nm == "family" && inherits(v, "family")) v <- family_state(v)
    digest(v, sprintf("argument `%s`", nm), nm)
  }, "")
  # The near key's family: the same settings, an estimated theta's start
  # left out (gam() moves it; it is not part of the model's structure).
  structure_digests <- arg_digests
  if (inherits(args$family, "family") && n_theta(args$family) > 0L) {
    structure_digests[["family"]] <- digest(family_state(unstarted(args$family)),
                                            "argument `family`", "family")
  }
  symbol_digests <- vapply(as.character(names(inputs$symbols)), function(nm) {
    symbol <- sub("^[^:]*:", "", nm)
    digest(inputs$symbols[[nm]], sprintf("the formula's `%s`", symbol),
           "formula", symbol)
  }, "")
  opts <- list(contrasts = getOption("contrasts"))
  if (!("na.action" %in% names(args))) opts$na.action <- getOption("na.action")
  if (inputs$flavour == "bam" && is.numeric(args$samfrac) &&
      any(args$samfrac < 1)) {
    # bam() samples rows with the session's RNG.
    opts$rng <- get0(".Random.seed", envir = globalenv())
  }
  list(
    fitter = digest(list(fitter_description(inputs$fitter),
                         fit_numerics(inputs$fitter)), "`fitter`", "fitter"),
    formula = digest(inputs$formula, "`formula`", "formula"),
    data = digest(inputs$data, "`data`", "data"),
    args = arg_digests[order(names(arg_digests))],
    structure_args = structure_digests[order(names(structure_digests))],
    symbols = symbol_digests,
    options = digest(opts, "options(contrasts, na.action)", "..."),
    structure = digest(data_structure(inputs), "`data`", "data")
  )
}

# A package's fitter by its definition (its package's version is in
# fit_numerics()); one of your own also by the values of its free
# variables, as the formula's functions are described.
fitter_description <- function(fitter) {
  if (is.primitive(fitter) || !is.null(package_of(environment(fitter)))) {
    return(fitter)
  }
  describe_value(fitter, new.env(parent = emptyenv()))
}

# The exact key on the symbolic path: everything the fit depends on.
exact_key <- function(d) {
  ws_key(what = "ws_gam fit", version = gam_key_version, fitter = d$fitter,
         formula = d$formula, data = d$data, args = d$args,
         symbols = d$symbols, options = d$options)
}

# The near key: the model's structure, without the data, arguments sized
# like the data, and covariates found outside the data (those only by
# class). The fitter's numerics are left out: a seed from another mgcv is
# still a start.
near_key <- function(d, fitter) {
  args <- d$structure_args[setdiff(names(d$structure_args), data_sized_args)]
  symbols <- d$symbols[!grepl("^(frame|caller):", names(d$symbols))]
  ws_key(what = "ws_gam seed", version = gam_key_version,
         fitter = ws_key(fitter), formula = d$formula, args = args,
         symbols = symbols, options = d$options, structure = d$structure)
}

# The classes of the covariates (from data or outside it), which shape the
# model matrix.
data_structure <- function(inputs) {
  forms <- inputs$formula
  if (inherits(forms, "formula")) forms <- list(forms)
  vars <- unique(unlist(lapply(forms, all.vars)))
  vapply(vars, function(v) {
    x <- if (v %in% names(inputs$data)) inputs$data[[v]] else {
      env <- environment(forms[[1L]])
      if (is.null(env)) NULL else get0(v, envir = env)
    }
    paste(c(class(x), typeof(x), if (is.matrix(x)) ncol(x)), collapse = "/")
  }, "")
}
