# The fit a user gets back from ws_gam() is used as gam()'s is: every
# method, on every path (cold, warm, a hit in this process, a hit read by
# another process), for every model shape of helper-gam-methods.R,
# compared with the same method on a fit by the fitter itself.

# Methods' results agree, or both raise an error.
expect_same_methods <- function(got, want, tolerance, what) {
  expect_setequal(names(got), names(want))
  for (m in names(want)) {
    label <- sprintf("%s: %s", what, m)
    if (inherits(want[[m]], "method_error")) {
      expect_s3_class(got[[m]], "method_error")
      next
    }
    if (inherits(got[[m]], "method_error")) {
      fail(sprintf("%s fails where the fitter's own fit works: %s", label,
                   got[[m]]$message))
      next
    }
    expect_equal(got[[m]], want[[m]], tolerance = tolerance, label = label)
  }
}

warmable <- function(fitter) {
  fitter == "gam" || (fitter == "bam" && "in.out" %in% names(formals(mgcv::bam)))
}

test_that("every method works on ws_gam()'s fits as on the fitter's own: shapes x paths", {
  skip_if_not_installed("mgcv")
  root <- withr::local_tempdir("ws-methods-")
  # The calls run in the workspace, as a user's do: methods such as
  # termplot() and gam.check() look the data up by the call's name for it.
  env <- globalenv()
  test_frame <- environment()
  for (nm in c("d", "st")) local({
    name <- nm  # the loop's variable has moved on by the time this runs
    had <- exists(name, envir = env, inherits = FALSE)
    old <- if (had) get(name, envir = env)
    withr::defer(if (had) assign(name, old, envir = env) else
                   rm(list = name, envir = env), envir = test_frame)
  })
  env$st <- ws_open(root, size_budget = 500 * 1024^2)
  d <- methods_data()
  d2 <- methods_resample(d)
  newdata <- methods_newdata(d)
  shapes <- methods_shapes()
  reference <- list()
  for (name in names(shapes)) {
    shape <- shapes[[name]]
    ws_call <- methods_call(shape)
    env$d <- d
    ref <- eval(methods_call(shape, warmstart = FALSE), env)
    want <- method_results(ref, newdata)
    reference[[name]] <- want

    cold <- eval(ws_call, env)
    expect_identical(attr(cold, "warmstart"), "cold")
    expect_same_methods(method_results(cold, newdata), want, 1e-6,
                        sprintf("%s, cold", name))

    hit <- eval(ws_call, env)
    expect_identical(attr(hit, "warmstart"), "hit")
    expect_same_methods(method_results(hit, newdata), want, 1e-6,
                        sprintf("%s, hit", name))
    if (inherits(hit, "gam")) {
      # The call is this call, every argument named; update() refits (here:
      # finds) what this call names.
      expect_identical(hit$call, match.call(ws_gam, ws_call))
      again <- eval(quote(update(hit)), list2env(list(hit = hit), parent = env))
      expect_identical(attr(again, "warmstart"), "hit")
      expect_equal(coef(again), coef(ref), tolerance = 1e-6)
    }

    env$d <- d2
    warm <- eval(ws_call, env)
    expect_identical(attr(warm, "warmstart"),
                     if (warmable(shape$fitter)) "warm" else "cold",
                     label = sprintf("%s's label on a resample", name))
    # A warm fit's smoothing parameters agree with a cold fit's only to
    # about 1e-3 (test-gam-warm.R compares the optima): its methods are
    # compared with the fitter's own fit at the same smoothing parameters.
    # (AIC is the exception: with given smoothing parameters gam() leaves
    # out their uncertainty, edf2; it is compared with the cold fit's.)
    ref_call <- methods_call(shape, warmstart = FALSE)
    if (inherits(warm, "gam")) ref_call$sp <- warm$sp
    got <- method_results(warm, newdata)
    want <- method_results(eval(ref_call, env), newdata)
    expect_same_methods(got[names(got) != "AIC"], want[names(want) != "AIC"],
                        1e-5, sprintf("%s, warm", name))
    cold2 <- eval(methods_call(shape, warmstart = FALSE), env)
    expect_equal(got$AIC, AIC(if (inherits(cold2, "gam")) cold2 else cold2$gam),
                 tolerance = 1e-3, label = sprintf("%s, warm: AIC (scores %.10g, %.10g)",
                                                   name, warm$gcv.ubre, cold2$gcv.ubre))
  }

  # Another process reads each fit from the store and runs every method.
  out <- tempfile(fileext = ".rds")
  child <- run_r(c(
    "suppressPackageStartupMessages({library(warmstart); library(mgcv)})",
    sprintf("source(%s)", deparse(normalizePath(test_path("helper-gam-methods.R")))),
    sprintf("env <- globalenv(); env$st <- ws_open(%s, size_budget = 500 * 1024^2)", deparse(root)),
    "d <- methods_data(); env$d <- d; newdata <- methods_newdata(d)",
    "res <- lapply(methods_shapes(), function(shape) {",
    "  fit <- eval(methods_call(shape), env)",
    "  list(mode = attr(fit, 'warmstart'), results = method_results(fit, newdata))",
    "})",
    sprintf("saveRDS(res, %s)", deparse(out))), timeout = 300)
  expect_identical(attr(child, "status"), 0L, label = paste(child, collapse = "\n"))
  res <- readRDS(out)
  for (name in names(shapes)) {
    expect_identical(res[[name]]$mode, "hit", label = sprintf("%s in another process", name))
    expect_same_methods(res[[name]]$results, reference[[name]], 1e-6,
                        sprintf("%s, hit in another process", name))
  }
})
